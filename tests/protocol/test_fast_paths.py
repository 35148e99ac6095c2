"""Decoders with fast paths must decode exactly as the general statements do.

A fast path reads the common shape of a struct in fewer steps (see `_Compiler.empty_array_fast_path`)
and hands anything else to the general statements. These tests compile each message both ways and
feed both the same bytes, valid and damaged: the same object and end position, or the same error.
"""

from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto import ProtocolError
from kproto.codec import _Compiler, compiled, compiled_source, encode
from kproto.messages import FetchResponse
from kproto.model import Message
from spec_strategies import all_message_classes, message

Decoder = Callable[[bytes, int, int], tuple[Any, int]]


def fast_path_versions() -> list[tuple[type[Message], int]]:
    """Every (message, version) whose decoder has a fast path: its source differs from the general one."""
    return [(cls, version) for cls in all_message_classes()
            for version in range(cls.SPEC.versions[0], cls.SPEC.versions[1] + 1)
            if compiled_source(cls, version) != compiled_source(cls, version, fast_paths=False)]


WITH_FAST_PATHS = fast_path_versions()
IDS = [f"{cls.__name__}-v{v}" for cls, v in WITH_FAST_PATHS]


def outcome(decoder: Decoder, data: bytes) -> tuple[Any, ...]:
    try:
        return ("decoded", *decoder(data, 0, len(data)))
    except (ProtocolError, UnicodeDecodeError) as exc:
        return ("refused", str(exc))


def damaged(data: bytes) -> list[bytes]:
    """Every truncation, and every byte set to the values that steer a fast path: null, empty, one, a varint."""
    cuts = [data[:n] for n in range(len(data))]
    changes = [data[:i] + bytes([value]) + data[i + 1:] for i in range(len(data)) for value in (0, 1, 2, 0x80)]
    return cuts + changes


def test_fetch_responses_have_the_fast_path() -> None:
    """Else the fetch decode would quietly lose it, and the comparisons below would not cover it."""
    assert {(FetchResponse, v) for v in range(12, 19)} <= set(WITH_FAST_PATHS)


@pytest.mark.parametrize(("cls", "version"), WITH_FAST_PATHS, ids=IDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fast_and_general_decoders_agree(cls: type[Message], version: int, data: st.DataObject) -> None:
    obj = data.draw(message(cls, version))
    fast = compiled(cls, version)[0]
    general = _Compiler(cls.SPEC, cls, version, fast_paths=False).build()[0]
    encoded = encode(obj, version)
    assert outcome(fast, encoded) == outcome(general, encoded) == ("decoded", obj, len(encoded))
    for variant in damaged(encoded):
        assert outcome(fast, variant) == outcome(general, variant)


@pytest.mark.parametrize("aborted", [None, [], [FetchResponse.AbortedTransaction(producer_id=4, first_offset=9)]],
                         ids=["null", "empty", "one"])
def test_fetch_partition_with_each_kind_of_aborted_list(aborted: list | None) -> None:
    partitions = [FetchResponse.PartitionData(partition_index=i, high_watermark=100, last_stable_offset=90,
                                              log_start_offset=3, preferred_read_replica=2, records=bytes(range(200)))
                  for i in range(3)]
    for partition in partitions:
        partition.aborted_transactions = aborted  # set after construction: the constructor makes None []
    obj = FetchResponse(session_id=5, responses=[
        FetchResponse.FetchableTopicResponse(topic_id=UUID(int=11), partitions=partitions)])
    encoded = encode(obj, 18)
    decoded, end = compiled(FetchResponse, 18)[0](encoded, 0, len(encoded))
    assert (decoded, end) == (obj, len(encoded))
    assert [p.aborted_transactions for p in decoded.responses[0].partitions] == [aborted] * 3
