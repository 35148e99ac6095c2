"""Metadata as stock clients ask for it."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient


def test_librdkafka_lists_all_topics(shared_broker):
    """librdkafka's all-topics Metadata v13 request carries trailing bytes that Kafka ignores."""
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap_server})
    admin.create_topics([NewTopic("listed-by-librdkafka", 2, 1)])["listed-by-librdkafka"].result(timeout=15)
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.topics["listed-by-librdkafka"].partitions) == 2
    assert [b.id for b in metadata.brokers.values()] == [1]


def test_kafka_python_describes_the_cluster(shared_broker):
    admin = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap_server)
    try:
        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == 1
        assert [b["broker_id"] for b in cluster["brokers"]] == [1]
    finally:
        admin.close()
