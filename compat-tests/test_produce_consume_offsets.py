"""Seeking to an offset and finding offsets by timestamp (ListOffsets), the same answer from each client."""

from __future__ import annotations

import time

import confluent_kafka
import pytest

from kproto import ErrorCode
from kproto.messages import DeleteRecordsRequest, ListOffsetsRequest

from clients import CLIENTS, Out, consume, offset_for_time, produce
from rawclient import RawClient

pytestmark = pytest.mark.timeout(120)

T0 = 1_600_000_000_000
LATEST, EARLIEST = -1, -2


@pytest.fixture
def timed_topic(bootstrap: str, topic_factory) -> str:
    """Ten records at T0, T0+10, ... T0+90 in two produce requests (two batches) of five."""
    topic = topic_factory(partitions=2)
    for first in (0, 5):
        produce("confluent", bootstrap, topic, [Out(value=f"m{i}".encode(), partition=1, timestamp=T0 + 10 * i)
                                                for i in range(first, first + 5)])
    return topic


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("target,expected", [
    (T0 - 5000, 0),   # before everything: the first record
    (T0, 0),
    (T0 + 25, 3),     # between records, inside the first batch: the next one
    (T0 + 30, 3),     # exact match inside a batch
    (T0 + 41, 5),     # after the first batch: the first record of the second
    (T0 + 90, 9),     # the last record
    (T0 + 91, None),  # after everything: no offset
])
def test_offsets_for_times(client: str, target: int, expected: int | None, bootstrap: str, timed_topic: str) -> None:
    assert offset_for_time(client, bootstrap, timed_topic, 1, target) == expected


@pytest.mark.parametrize("client", CLIENTS)
def test_offsets_for_times_on_an_empty_partition(client: str, bootstrap: str, timed_topic: str) -> None:
    assert offset_for_time(client, bootstrap, timed_topic, 0, T0) is None


@pytest.mark.parametrize("client", CLIENTS)
def test_seek_reads_from_the_given_offset(client: str, bootstrap: str, timed_topic: str) -> None:
    got = consume(client, bootstrap, timed_topic, 3, partitions=[1], start=4)
    assert [(r.offset, r.value, r.timestamp) for r in got] == [(i, f"m{i}".encode(), T0 + 10 * i) for i in (4, 5, 6)]


@pytest.mark.parametrize("client", CLIENTS)
def test_seek_to_the_offset_a_timestamp_names(client: str, bootstrap: str, timed_topic: str) -> None:
    """The usual replay-from-a-time recipe: look the offset up, then seek there and read."""
    offset = offset_for_time(client, bootstrap, timed_topic, 1, T0 + 65)
    assert offset == 7
    got = consume(client, bootstrap, timed_topic, 3, partitions=[1], start=offset)
    assert [r.value for r in got] == [b"m7", b"m8", b"m9"]


def test_librdkafka_on_the_v0_protocol_reads_watermarks(bootstrap: str, timed_topic: str) -> None:
    """librdkafka told not to ask ApiVersions (a 0.9 broker) looks watermarks up with ListOffsets v0."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "v0-watermarks",
                                         "api.version.request": False, "broker.version.fallback": "0.9.0"})
    try:
        assert consumer.get_watermark_offsets(confluent_kafka.TopicPartition(timed_topic, 1), timeout=10) == (0, 10)
    finally:
        consumer.close()


def test_list_offsets_v0_answers_where_segments_begin(bootstrap: str, topic_factory) -> None:
    """v0's old-style offsets, as Kafka gives them: the log end and each segment's first offset
    (the log start for the first), newest first, at most max_num_offsets; by time, the segments
    whose files were last written at or before it."""
    topic = topic_factory(config={"segment.bytes": "100"})  # every batch rolls a segment
    for _ in range(3):
        produce("confluent", bootstrap, topic, [Out(value=b"x" * 40, partition=0) for _ in range(2)])

    def old_style(timestamp: int, max_num_offsets: int = 10) -> list[int]:
        with RawClient(bootstrap) as client:
            answer = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
                name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(
                    timestamp=timestamp, max_num_offsets=max_num_offsets)])]), 0)
        found = answer.topics[0].partitions[0]
        assert found.error_code == ErrorCode.NONE
        return found.old_style_offsets

    assert old_style(LATEST) == [6, 4, 2, 0]
    assert old_style(LATEST, max_num_offsets=1) == [6]
    assert old_style(EARLIEST) == [0]
    assert old_style(int(time.time() * 1000) + 86_400_000) == [6, 4, 2, 0]
    assert old_style(0) == []
    with RawClient(bootstrap) as client:
        client.request(DeleteRecordsRequest(timeout_ms=10_000, topics=[DeleteRecordsRequest.DeleteRecordsTopic(
            name=topic, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(partition_index=0, offset=3)])]), 2)
    assert old_style(LATEST) == [6, 4, 3]
    assert old_style(EARLIEST) == [3]
