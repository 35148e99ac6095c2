"""`connections.max.idle.ms`: the broker closes a connection on which nothing was read or written
for that long, as Kafka's socket server does, and a stock client simply connects again."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from brokerproc import BrokerProcess, broker_kind
from kproto.messages import ApiVersionsRequest
from rawclient import RawClient

pytestmark = pytest.mark.skipif(broker_kind() != "kbroker", reason="starts brokers with a chosen idle time")

IDLE_MS = 1000


@pytest.fixture
def broker(tmp_path):
    proc = BrokerProcess(tmp_path, config={"connections.max.idle.ms": str(IDLE_MS)}).start()
    yield proc
    proc.stop()


def test_an_idle_connection_is_closed_after_the_idle_time(broker):
    with RawClient(broker.bootstrap_server) as client:
        client.request(ApiVersionsRequest(), 3)
        assert not client.is_closed_by_peer(timeout=IDLE_MS / 4000)  # well inside the idle time
        assert client.is_closed_by_peer(timeout=10)


def test_a_connection_in_use_stays_open_past_the_idle_time(broker):
    with RawClient(broker.bootstrap_server) as client:
        until = time.monotonic() + 3 * IDLE_MS / 1000
        while time.monotonic() < until:
            client.request(ApiVersionsRequest(), 3)  # answered: the broker did not close it
            time.sleep(IDLE_MS / 10000)
        assert client.is_closed_by_peer(timeout=10)  # and once it goes quiet, it is closed


def test_a_producer_idle_past_the_idle_time_reconnects_and_sends(broker):
    delivered = []
    producer = Producer({"bootstrap.servers": broker.bootstrap_server, "linger.ms": 0})
    for value in (b"before", b"after"):
        producer.produce("idle-topic", value=value, on_delivery=lambda err, msg: delivered.append((err, msg.value())))
        assert producer.flush(30) == 0
        time.sleep(3 * IDLE_MS / 1000)  # every connection of the producer is closed meanwhile
    assert delivered == [(None, b"before"), (None, b"after")]


def test_a_negative_idle_time_never_closes(tmp_path):
    broker = BrokerProcess(tmp_path, config={"connections.max.idle.ms": "-1"}).start()
    try:
        with RawClient(broker.bootstrap_server) as client:
            client.request(ApiVersionsRequest(), 3)
            assert not client.is_closed_by_peer(timeout=2 * IDLE_MS / 1000)
            client.request(ApiVersionsRequest(), 3)
    finally:
        broker.stop()
