"""kcat's own views of the broker: metadata listing, relative offsets, and -Q for the log end.

kcat on Debian links its own librdkafka (older than the one inside confluent-kafka), so it checks
that the broker serves an older librdkafka as well.
"""

from __future__ import annotations

import json
import re

import pytest

from clients import Out, consume, kcat, produce

pytestmark = pytest.mark.timeout(60)


def test_metadata_list_names_the_topic_and_partitions(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=3)
    meta = json.loads(kcat(["-L", "-b", bootstrap, "-t", topic, "-J"]))
    [entry] = [t for t in meta["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in entry["partitions"]) == [0, 1, 2]
    assert [b["name"] for b in meta["brokers"]] == [bootstrap]
    assert all(p["leader"] == meta["brokers"][0]["id"] for p in entry["partitions"])


def test_consume_the_last_records_by_relative_offset(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    produce("kcat", bootstrap, topic, [Out(value=f"line-{i}".encode(), partition=0) for i in range(6)], "snappy")
    text = kcat(["-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "-2", "-e", "-q", "-f", "%o:%s\\n"])
    assert text.splitlines() == ["4:line-4", "5:line-5"]


def test_query_end_offset_with_latest_timestamp(bootstrap: str, topic_factory) -> None:
    """`-Q -t topic:partition:-1` asks ListOffsets for the latest offset: the log end."""
    topic = topic_factory(partitions=2)
    produce("kcat", bootstrap, topic, [Out(value=b"x", partition=1)] * 4, "zstd")
    text = kcat(["-Q", "-b", bootstrap, "-t", f"{topic}:1:-1", "-t", f"{topic}:0:-2"])
    offsets = {int(p): int(o) for p, o in re.findall(r"\[\s*(\d+)\s*\]\s+offset\s+(-?\d+)", text)}
    assert offsets == {1: 4, 0: 0}


def test_key_delimiter_and_null_value(bootstrap: str, topic_factory) -> None:
    """Lines split by `-K` become keyed records; with `-Z` an empty value is sent as null (a tombstone)."""
    topic = topic_factory()
    kcat(["-P", "-b", bootstrap, "-t", topic, "-p", "0", "-K", ":", "-Z"], stdin=b"k1:v1\nk2:\n")
    got = consume("kafka-python", bootstrap, topic, 2)
    assert [(r.key, r.value) for r in got] == [(b"k1", b"v1"), (b"k2", None)]
