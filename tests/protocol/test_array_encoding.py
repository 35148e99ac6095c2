"""Arrays of structs are encoded in the loop, and short compact arrays of numbers with their length
in one piece (see `_Compiler.encode_array_body`): lengths on both sides of those limits, and
unknown tags kept on an element, must come out as Kafka's grammar says."""

from __future__ import annotations

import struct
from uuid import UUID

import pytest

from kproto.codec import SMALL_ARRAY, decode, encode, uvarint
from kproto.messages import MetadataResponse

Partition = MetadataResponse.MetadataResponsePartition


def response(partition: Partition) -> MetadataResponse:
    topic = MetadataResponse.MetadataResponseTopic(name="t", topic_id=UUID(int=7), partitions=[partition])
    return MetadataResponse(topics=[topic])


@pytest.mark.parametrize("count", [0, 1, SMALL_ARRAY - 1, SMALL_ARRAY, 126, 127, 300])
def test_compact_int32_array_is_its_varint_length_then_the_values(count: int) -> None:
    replicas = list(range(count))
    data = encode(response(Partition(partition_index=3, replica_nodes=replicas)), 12)
    expected = uvarint(count + 1) + struct.pack(f">{count}i", *replicas) + b"\x01" + b"\x01"  # then empty ISR, offline
    head = struct.pack(">hiii", 0, 3, 0, -1)
    assert head + expected in data
    assert decode(MetadataResponse, 12, data).topics[0].partitions[0].replica_nodes == replicas


def test_unknown_tags_of_an_array_element_are_encoded_again() -> None:
    tagged = response(Partition(partition_index=1, replica_nodes=[1, 2]))
    tagged.topics[0].partitions[0]._unknown_tags = {9: b"\xab"}
    data = encode(tagged, 12)
    again = decode(MetadataResponse, 12, data)
    assert again.topics[0].partitions[0]._unknown_tags == {9: b"\xab"}
    assert encode(again, 12) == data
