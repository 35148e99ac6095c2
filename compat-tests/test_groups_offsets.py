"""Committed offsets: they survive broker restarts, and auto.offset.reset applies only without them."""

from __future__ import annotations

import time
import uuid

import kafka
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from conftest import create_topic
from groupmembers import produce_round

pytestmark = pytest.mark.broker_config({"group.initial.rebalance.delay.ms": "0"})


def ck_consumer(bootstrap: str, group: str, reset: str = "earliest") -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": reset, "session.timeout.ms": 6000})


def consume(consumer: Consumer, count: int, timeout: float = 30) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for record in consumer.consume(num_messages=count - len(got), timeout=0.5):
            if record.error() is not None:
                raise KafkaException(record.error())
            got.append(record)
    return got


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_committed_offsets_survive_a_broker_restart(kafka_broker, kill: bool) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"offsets-{uuid.uuid4().hex[:8]}", 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    produce_round(bootstrap, topic, "x", 2, 10)
    consumer = ck_consumer(bootstrap, group)
    consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    consumer.commit(offsets=[TopicPartition(topic, 0, 4, metadata="kept"), TopicPartition(topic, 1, 7)],
                    asynchronous=False)
    consumer.close()

    kafka_broker.restart(kill=kill)

    consumer = ck_consumer(bootstrap, group)
    committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=15)
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 4), (1, 7)]
    assert committed[0].metadata == "kept"
    consumer.subscribe([topic])
    records = consume(consumer, 9)
    assert sorted((r.partition(), r.offset()) for r in records) == [(0, o) for o in range(4, 10)] + [(1, 7), (1, 8), (1, 9)]
    consumer.close()


def topic_with_records(bootstrap: str, count: int) -> str:
    """A one-partition topic holding `count` records and no group's offsets."""
    topic = create_topic(bootstrap, f"reset-{uuid.uuid4().hex[:8]}", 1)
    produce_round(bootstrap, topic, "old", 1, count)
    return topic


def test_auto_offset_reset_earliest_and_latest_apply_without_committed_offsets(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = topic_with_records(bootstrap, 5)

    earliest = ck_consumer(bootstrap, f"e-{uuid.uuid4().hex[:8]}", "earliest")
    earliest.subscribe([topic])
    assert [r.offset() for r in consume(earliest, 5)] == list(range(5))
    earliest.close()

    latest = ck_consumer(bootstrap, f"l-{uuid.uuid4().hex[:8]}", "latest")
    latest.subscribe([topic])
    deadline = time.monotonic() + 30
    while not latest.assignment() and time.monotonic() < deadline:
        latest.consume(timeout=0.3)
    time.sleep(1)  # the position is resolved to the end before the new record arrives
    assert consume(latest, 1, timeout=2) == []
    produce_round(bootstrap, topic, "new", 1, 1)
    records = consume(latest, 1)
    assert [(r.offset(), r.value()) for r in records] == [(5, b"new-0-0")]
    latest.close()


def test_auto_offset_reset_none_fails_without_committed_offsets(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = topic_with_records(bootstrap, 3)

    consumer = ck_consumer(bootstrap, f"n-{uuid.uuid4().hex[:8]}", "error")
    consumer.subscribe([topic])
    with pytest.raises(KafkaException) as failure:
        consume(consumer, 1, timeout=20)
    assert failure.value.args[0].code() == KafkaError._AUTO_OFFSET_RESET
    consumer.close()

    kp = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"n-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="none", enable_auto_commit=False)
    with pytest.raises(kafka.errors.NoOffsetForPartitionError):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kp.poll(timeout_ms=500)
    kp.close()
