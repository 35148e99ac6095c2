"""`KBroker` as a context manager, for code that does not use pytest's fixtures."""

import os

import pytest
from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer, KafkaProducer

from kbroker.testing import KBroker


@pytest.mark.parametrize("mode", ["subprocess", "thread"])
def test_kafka_python_round_trip(mode):
    with KBroker(topics={"payments": 2}, mode=mode) as kafka:
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_server)
        for i in range(10):
            producer.send("payments", f"p{i}".encode(), partition=i % 2)
        producer.flush(10)
        producer.close()
        consumer = KafkaConsumer("payments", bootstrap_servers=kafka.bootstrap_server, group_id="ledger",
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        received = sorted(record.value for record in consumer)
        consumer.close()
    assert received == sorted(f"p{i}".encode() for i in range(10))


def test_confluent_with_the_testcontainers_spelling():
    with KBroker(topics=["audit:1"], config={"auto.create.topics.enable": False}) as kafka:
        bootstrap = kafka.get_bootstrap_server()
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("audit", b"login")
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "auditor", "auto.offset.reset": "earliest"})
        consumer.subscribe(["audit"])
        message = None
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        consumer.close()
    assert message is not None and message.value() == b"login"


def test_the_broker_is_stopped_when_the_block_raises():
    with pytest.raises(ZeroDivisionError):
        with KBroker() as kafka:
            pid, data_dir = kafka.pid, kafka.data_dir
            1 / 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not data_dir.exists()
