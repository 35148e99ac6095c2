"""The Prometheus endpoint of a real broker process, scraped after stock clients produced and consumed.

The counters must match what the clients did: records and bytes in, bytes out, end offsets per
partition, a consumer group's lag before and after it commits, and lag clamped at the log start
once older records are deleted.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from kbroker.testing import KBroker

TOPIC = "metered"
GROUP = "meter"


@pytest.fixture
def broker() -> Iterator[KBroker]:
    with KBroker(topics={TOPIC: 3}, metrics=True) as kafka:
        yield kafka


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on the endpoint, keyed by its name and sorted labels."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str | int) -> float:
    return samples[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]


def produce(bootstrap: str, count: int, partition: int | None = None) -> Counter[int]:
    """Produce `count` records of growing size; return how many landed on each partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    landed: Counter[int] = Counter()

    def delivered(err, msg) -> None:
        assert err is None, err
        landed[msg.partition()] += 1

    for i in range(count):
        extra = {} if partition is None else {"partition": partition}
        producer.produce(TOPIC, key=f"k{i}".encode(), value=b"x" * (10 + i), on_delivery=delivered, **extra)
    assert producer.flush(15) == 0
    return landed


def group_consumer(bootstrap: str) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([TOPIC])
    return consumer


def consume_and_commit(consumer: Consumer, count: int) -> None:
    seen = 0
    deadline = time.monotonic() + 30
    while seen < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen += 1
    assert seen == count
    consumer.commit(asynchronous=False)


def test_counters_match_what_was_produced_and_consumed(broker: KBroker) -> None:
    landed = produce(broker.bootstrap_server, 30)
    consumer = group_consumer(broker.bootstrap_server)
    consume_and_commit(consumer, 30)
    samples = scrape(broker.metrics_url)
    consumer.close()

    assert value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=TOPIC) == 30
    sizes = [value(samples, "kafka_log_log_size", topic=TOPIC, partition=p) for p in range(3)]
    bytes_in = value(samples, "kafka_server_brokertopicmetrics_bytesin_total", topic=TOPIC)
    assert bytes_in == sum(sizes) > 30 * 10
    # One consumer read every batch once, so as many bytes went out as came in.
    assert value(samples, "kafka_server_brokertopicmetrics_bytesout_total", topic=TOPIC) == bytes_in
    for p in range(3):
        end = value(samples, "kafka_log_log_logendoffset", topic=TOPIC, partition=p)
        assert end == landed[p]
        assert value(samples, "kafka_consumergroup_current_offset", group=GROUP, topic=TOPIC, partition=p) == end
        assert value(samples, "kafka_consumergroup_lag", group=GROUP, topic=TOPIC, partition=p) == 0
    assert value(samples, "kafka_server_socket_server_metrics_connection_count", listener="PLAINTEXT") >= 1
    # Connections came in the last quota window (11 s): the clients' own, above.
    assert value(samples, "kafka_server_socket_server_metrics_connection_accept_rate", listener="PLAINTEXT") > 0
    assert value(samples, "kafka_server_socket_server_metrics_broker_connection_accept_rate") > 0
    for request in ("Produce", "Fetch", "Metadata", "OffsetCommit", "JoinGroup"):
        count = value(samples, "kafka_network_requestmetrics_requests_total", request=request)
        assert count >= 1
        assert value(samples, "kafka_network_requestmetrics_totaltimems_count", request=request) == count
        assert value(samples, "kafka_network_requestmetrics_totaltimems_bucket", request=request, le="+Inf") == count


def test_lag_grows_with_unread_records_and_is_clamped_at_the_log_start(broker: KBroker) -> None:
    landed = produce(broker.bootstrap_server, 12)
    consumer = group_consumer(broker.bootstrap_server)
    consume_and_commit(consumer, 12)
    consumer.close()

    produce(broker.bootstrap_server, 5, partition=0)
    produce(broker.bootstrap_server, 4, partition=1)
    samples = scrape(broker.metrics_url)
    assert value(samples, "kafka_consumergroup_lag", group=GROUP, topic=TOPIC, partition=0) == 5
    assert value(samples, "kafka_consumergroup_lag", group=GROUP, topic=TOPIC, partition=1) == 4
    assert value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=TOPIC) == 12 + 5 + 4

    # Records the group never read are deleted: its lag counts from the new log start, not its commit.
    end_1 = landed[1] + 4
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_server})
    for future in admin.delete_records([TopicPartition(TOPIC, 1, end_1 - 1)]).values():
        future.result(timeout=10)
    samples = scrape(broker.metrics_url)
    assert value(samples, "kafka_log_log_logstartoffset", topic=TOPIC, partition=1) == end_1 - 1
    assert value(samples, "kafka_consumergroup_current_offset", group=GROUP, topic=TOPIC, partition=1) == landed[1]
    assert value(samples, "kafka_consumergroup_lag", group=GROUP, topic=TOPIC, partition=1) == 1
