"""The pytest fixtures kbroker installs: `kafka_broker` (session) and `kafka_broker_function`."""

import uuid

import pytest
from confluent_kafka import TopicPartition
from kafka import KafkaAdminClient

from kbroker.testing import TopicCreationError
from orders import publish_orders, totals_by_customer

ORDERS = [{"customer": c, "amount": a} for c, a in [("ann", 5), ("bob", 7), ("ann", 11), ("cy", 1), ("bob", 2)]]


def test_orders_are_totalled(kafka_broker):
    publish_orders(kafka_broker.bootstrap_server, "orders", ORDERS)
    assert totals_by_customer(kafka_broker.bootstrap_server, "orders", len(ORDERS), "report") == {
        "ann": 16, "bob": 9, "cy": 1}


def test_ini_topics_exist_with_their_partitions(kafka_broker):
    metadata = kafka_broker.admin().list_topics("orders", timeout=10)
    assert len(metadata.topics["orders"].partitions) == 3


def test_helpers_give_confluent_clients(kafka_broker):
    topic = kafka_broker.create_topic(f"helpers-{uuid.uuid4().hex[:8]}", partitions=2)
    producer = kafka_broker.producer()
    for i in range(20):
        producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    consumer = kafka_broker.consumer(topic, group_id="helpers")
    values = set()
    for _ in range(60):
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.add(message.value())
        if len(values) == 20:
            break
    assert values == {f"v{i}".encode() for i in range(20)}


@pytest.mark.kbroker(topics={"fresh": 2}, config={"auto.create.topics.enable": "false"})
def test_function_broker_has_its_own_topics_and_config(kafka_broker_function, kafka_broker):
    assert kafka_broker_function.bootstrap_server != kafka_broker.bootstrap_server
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker_function.bootstrap_server)
    assert {name for name in admin.list_topics() if not name.startswith("__")} == {"fresh", "orders"}
    admin.close()
    assert len(kafka_broker_function.admin().list_topics("fresh", timeout=10).topics["fresh"].partitions) == 2
    producer = kafka_broker_function.producer({"message.timeout.ms": 2000})
    failures = []
    producer.produce("not-created", b"x", on_delivery=lambda err, msg: failures.append(err))
    producer.flush(10)
    assert failures and failures[0] is not None


def test_function_broker_starts_empty(kafka_broker_function):
    consumer = kafka_broker_function.consumer()
    assert consumer.get_watermark_offsets(TopicPartition("orders", 0), timeout=10) == (0, 0)
    with pytest.raises(TopicCreationError, match="TOPIC_ALREADY_EXISTS"):
        kafka_broker_function.create_topic("orders", 3)
