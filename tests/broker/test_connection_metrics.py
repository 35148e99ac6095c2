"""The exporter's connection metrics: open connections counted under the listener each came in
on, and the connection-accept-rate of each listener and of the broker."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from kbroker.broker import Broker
from kbroker.config import BrokerConfig
from kbroker.metrics import BrokerMetrics
from kbroker.metrics.exporter import BrokerCollector
from kbroker.server.listeners import ClientListeners


def samples(broker: Broker) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(s.name, tuple(s.labels.values())): s.value
            for family in BrokerCollector(broker, BrokerMetrics()).collect() for s in family.samples}


async def scraped_with(data_dir: Path, plaintext: int, other: int) -> dict[tuple[str, tuple[str, ...]], float]:
    broker = Broker(BrokerConfig({
        "log.dirs": str(data_dir), "node.id": "0", "listeners": "PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT", "inter.broker.listener.name": "PLAINTEXT"}))
    listeners = ClientListeners(broker)
    await broker.start(listeners)
    ports = broker.listen_ports
    clients = [socket.create_connection(("127.0.0.1", ports["PLAINTEXT"])) for _ in range(plaintext)]
    clients += [socket.create_connection(("127.0.0.1", ports["OTHER"])) for _ in range(other)]
    try:
        for _ in range(200):
            if len(broker.connections) == plaintext + other:
                break
            await asyncio.sleep(0.01)
        return samples(broker)
    finally:
        for client in clients:
            client.close()
        await broker.stop()


def test_connections_are_counted_under_their_listener_and_their_accept_rates_kept(tmp_path: Path) -> None:
    found = asyncio.run(scraped_with(tmp_path, plaintext=1, other=3))
    count = "kafka_server_socket_server_metrics_connection_count"
    assert (found[(count, ("PLAINTEXT",))], found[(count, ("OTHER",))]) == (1, 3)
    rate = "kafka_server_socket_server_metrics_connection_accept_rate"
    assert found[(rate, ("PLAINTEXT",))] > 0
    assert found[(rate, ("OTHER",))] == pytest.approx(3 * found[(rate, ("PLAINTEXT",))], rel=0.01)
    # The broker's rate leaves out the inter-broker listener, as max.connection.creation.rate does.
    broker_rate = found[("kafka_server_socket_server_metrics_broker_connection_accept_rate", ())]
    assert broker_rate == pytest.approx(found[(rate, ("OTHER",))], rel=0.01)


def test_every_listener_is_listed_before_any_connection(tmp_path: Path) -> None:
    found = asyncio.run(scraped_with(tmp_path, plaintext=0, other=0))
    for name in ("connection_count", "connection_accept_rate"):
        metric = f"kafka_server_socket_server_metrics_{name}"
        assert (found[(metric, ("PLAINTEXT",))], found[(metric, ("OTHER",))]) == (0, 0)
