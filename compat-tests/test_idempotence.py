"""Idempotent producers: a produce that was appended but never answered is retried without duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Producer

from brokerproc import BrokerProcess, broker_kind
from conftest import create_topic, unique_topic
from frameproxy import FrameProxy

PRODUCE = 0
MESSAGES = 200


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[FrameProxy, BrokerProcess]]:
    """A broker whose advertised address is a FrameProxy in front of it, so every client
    connection, bootstrap or not, passes through the proxy."""
    if broker_kind() == "external":
        pytest.skip("needs a broker whose advertised listener the test sets")
    proxy = FrameProxy()
    broker = BrokerProcess(tmp_path / "broker", {"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    try:
        broker.start()
        proxy.target_port = broker.port
        yield proxy, broker
    finally:
        broker.stop()
        proxy.close()


def consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                values.append(msg.value())
            if len(values) >= count:
                break
        # one more poll: a duplicate would arrive after the expected count
        values += [m.value() for m in consumer.consume(num_messages=1000, timeout=1.0) if m.error() is None]
    finally:
        consumer.close()
    return values


def test_retry_after_lost_produce_response_appends_once(request, proxied):
    proxy, broker = proxied
    bootstrap = f"127.0.0.1:{proxy.port}"
    topic = create_topic(bootstrap, unique_topic(request))
    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                         "batch.num.messages": 20, "retry.backoff.ms": 50, "message.timeout.ms": 30_000})
    proxy.drop_responses(PRODUCE, 3)

    def report(err, _msg) -> None:
        if err is not None:
            errors.append(err)

    for i in range(MESSAGES):
        producer.produce(topic, value=b"%d" % i, partition=0, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    assert proxy.dropped == 3
    assert consume_all(bootstrap, topic, MESSAGES) == [b"%d" % i for i in range(MESSAGES)]
