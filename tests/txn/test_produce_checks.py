"""Kafka's checks of a whole Produce request with transactional batches: a transactional id is
needed, and one producer (id and epoch) only, counted over the partitions Kafka would append to."""

from __future__ import annotations

import pytest
from kproto import ErrorCode
from kproto.messages import ProduceRequest
from kproto.records import Record, build_batch

from kbroker.txn.produce_checks import MORE_THAN_ONE_PRODUCER, Refusal, produce_refusal

HOSTED = {("a", 0), ("a", 1), ("b", 0)}
TWO_PRODUCERS = Refusal(ErrorCode.INVALID_PRODUCER_ID_MAPPING, MORE_THAN_ONE_PRODUCER)


def batch(producer_id: int, epoch: int = 0, transactional: bool = True) -> bytes:
    return build_batch([Record(0, 1_700_000_000_000, None, b"v")], producer_id=producer_id, producer_epoch=epoch,
                       base_sequence=0, transactional=transactional)


def request(parts: dict[tuple[str, int], bytes], transactional_id: str | None = "t") -> ProduceRequest:
    topics: dict[str, list[ProduceRequest.PartitionProduceData]] = {}
    for (topic, index), records in parts.items():
        topics.setdefault(topic, []).append(ProduceRequest.PartitionProduceData(index=index, records=records))
    return ProduceRequest(transactional_id=transactional_id, acks=-1, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData(name=name, partition_data=data) for name, data in topics.items()])


def refusal(parts: dict[tuple[str, int], bytes], transactional_id: str | None = "t", version: int = 9):
    return produce_refusal(request(parts, transactional_id), version, lambda t, p: (t, p) if (t, p) in HOSTED else None)


def test_one_producer_across_partitions_passes():
    assert refusal({("a", 0): batch(5), ("a", 1): batch(5), ("b", 0): batch(5)}) is None
    assert refusal({("a", 0): batch(5, transactional=False)}, transactional_id=None) is None


@pytest.mark.parametrize("other", [batch(6), batch(5, epoch=1)], ids=["producer id", "epoch"])
def test_transactional_batches_of_two_producers_refuse_the_request(other):
    assert refusal({("a", 0): batch(5), ("b", 0): other}) == TWO_PRODUCERS


def test_batches_kafka_would_not_append_are_not_counted():
    assert refusal({("a", 0): batch(5), ("a", 1): batch(6, transactional=False)}) is None  # idempotent only
    assert refusal({("a", 0): batch(5), ("c", 0): batch(6)}) is None  # a partition this broker lacks
    assert refusal({("a", 0): batch(5), ("a", 1): batch(6) + batch(6)}) is None  # two batches from v3: invalid
    assert refusal({("a", 0): batch(5), ("a", 1): batch(6)[:-1]}) is None  # torn: refused as corrupt
    # before v3 a partition may hold several batches, and they all count
    assert refusal({("a", 0): batch(5), ("a", 1): batch(5, transactional=False) + batch(6)}, version=2) == TWO_PRODUCERS


def test_transactional_batches_without_a_transactional_id_refuse_the_request():
    assert refusal({("a", 0): batch(5, transactional=False), ("c", 0): batch(5)}, transactional_id=None) == Refusal(
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)  # checked first, over every partition
    assert refusal({("a", 0): batch(5), ("b", 0): batch(6)}, transactional_id=None) == Refusal(
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
