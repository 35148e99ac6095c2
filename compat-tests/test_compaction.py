"""Log compaction seen by stock clients: after the cleaner runs, a consumer from offset 0 reads
one record per live key, at the offset it was produced at, and no tombstones.

The broker is made eager: the cleaner idles 100 ms between looks, and the topic rolls segments
every 100 ms, cleans at any dirty ratio and drops tombstones as soon as their horizon is set.
"""

from __future__ import annotations

import time

import pytest
import kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from conftest import create_topic, unique_topic

pytestmark = pytest.mark.broker_config({"log.cleaner.backoff.ms": "100"})

EAGER = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
         "delete.retention.ms": "0"}
DEADLINE = 60.0  # generous: CI machines run many brokers at once


def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes | None]]) -> list[int]:
    """Produce (key, value) pairs in order, one at a time; return their offsets."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": True})
    offsets: list[int] = []

    def delivered(err, msg) -> None:
        assert err is None, err
        offsets.append(msg.offset())

    for key, value in pairs:
        producer.produce(topic, key=key, value=value, partition=0, on_delivery=delivered)
        producer.flush(10)
    assert len(offsets) == len(pairs)
    return offsets


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    """(offset, key, value) of every record from offset 0 to the end of the partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError(msg.error())
            out.append((msg.offset(), msg.key(), msg.value()))
        raise AssertionError(f"no end of partition within 15 s; read {out}")
    finally:
        consumer.close()


def test_a_compacted_topic_keeps_one_record_per_live_key(kafka_broker, request) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request), config=EAGER)
    history = [(b"a", b"1"), (b"b", b"1"), (b"c", b"1"), (b"a", b"2"), (b"b", None), (b"c", b"2"),
               (b"d", b"1"), (b"a", b"3"), (b"d", None)]
    offsets = produce(bootstrap, topic, history)
    assert offsets == list(range(len(history)))
    expected_live = [(5, b"c", b"2"), (7, b"a", b"3")]
    # Keep writing one more key so earlier segments roll and stay cleanable; the newest filler
    # record sits in the active segment, which is never cleaned.
    deadline = time.monotonic() + DEADLINE
    while True:
        time.sleep(0.3)
        [filler_offset] = produce(bootstrap, topic, [(b"filler", b"%d" % time.monotonic_ns())])
        seen = read_all(bootstrap, topic)
        if [r for r in seen if r[1] != b"filler"] == expected_live:
            break
        assert time.monotonic() < deadline, f"not compacted after {DEADLINE}s: {seen}"
    assert [r for r in seen if r[1] == b"filler"][-1][0] == filler_offset
    # Every producer here is idempotent and writes once, so each cleaned batch is its producer's last
    # and stays as an empty batch: kafka-python must step over those too.
    assert [r for r in read_all_kafka_python(bootstrap, topic) if r[1] != b"filler"] == expected_live


def read_all_kafka_python(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        partition = kafka.TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        return [(m.offset, m.key, m.value) for m in consumer]
    finally:
        consumer.close()


def test_tombstones_kept_until_their_horizon_read_with_their_own_timestamps(kafka_broker, request) -> None:
    """A cleaned batch holding a tombstone carries the delete horizon in its base timestamp; clients
    must still see each record's own timestamp."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request), config={**EAGER, "delete.retention.ms": "86400000"})
    produce(bootstrap, topic, [(b"a", b"1"), (b"a", None)])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-ts", "enable.partition.eof": True})
    before = time.time() * 1000
    deadline = time.monotonic() + DEADLINE
    while True:
        time.sleep(0.3)
        produce(bootstrap, topic, [(b"filler", b"x")])
        seen = read_all(bootstrap, topic)
        if [r[:2] for r in seen if r[1] != b"filler"] == [(1, b"a")]:
            break
        assert time.monotonic() < deadline, f"not compacted after {DEADLINE}s: {seen}"
    consumer.close()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-ts2", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 1)])
        msg = None
        while msg is None or msg.error():
            msg = consumer.poll(1.0)
        assert msg.offset() == 1 and msg.value() is None
        kind, stamp = msg.timestamp()
        assert before - 60_000 < stamp <= time.time() * 1000  # not the horizon, a day ahead
    finally:
        consumer.close()


@pytest.mark.broker_config({"offsets.topic.num.partitions": "1", "offsets.topic.segment.bytes": "100",
                            "log.cleaner.min.cleanable.ratio": "0.01"})
def test_consumer_offsets_is_compacted_and_keeps_the_last_commit(kafka_broker, request) -> None:
    """Every commit rolls a tiny `__consumer_offsets` segment; the cleaner leaves the last commit per
    partition, and a restarted broker replays it."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    group = f"{topic}-group"
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        for offset in range(1, 21):
            committer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        committer.close()
    deadline = time.monotonic() + DEADLINE
    while True:
        commits = [r for r in read_all(bootstrap, "__consumer_offsets") if topic.encode() in r[1]]
        if len(commits) <= 2:  # the last cleaned one, and the last commit if it is in the active segment
            break
        assert time.monotonic() < deadline, f"{len(commits)} commit records left after {DEADLINE}s"
        time.sleep(0.3)
    kafka_broker.restart()
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [found] = reader.committed([TopicPartition(topic, 0)], timeout=15)
        assert found.offset == 20
    finally:
        reader.close()
