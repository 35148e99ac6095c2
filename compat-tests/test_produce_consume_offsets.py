"""Seeking to an offset and finding offsets by timestamp (ListOffsets), the same answer from each client."""

from __future__ import annotations

import pytest

from clients import CLIENTS, Out, consume, offset_for_time, produce

pytestmark = pytest.mark.timeout(120)

T0 = 1_600_000_000_000


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
