"""max.connections, max.connections.per.ip and its overrides, as Kafka applies them: one connection
too many from an address is closed at once; at the broker's limit new connections wait, unanswered,
until one closes."""

from __future__ import annotations

import time

import pytest

from kbroker.tools.client import ToolError
from rawclient import RawClient

pytestmark = pytest.mark.timeout(60)


def answers(client: RawClient) -> bool:
    """Whether the broker answers ApiVersions on this connection (False if it closed it)."""
    try:
        return bool(client.api_versions())
    except ToolError:
        return False


def connect_when_answered(bootstrap: str, deadline: float = 10.0) -> RawClient:
    """A connection the broker answers, retried while the closing of another (the start-up check's,
    or the test's own) is still being noticed."""
    end = time.monotonic() + deadline
    while True:
        client = RawClient(bootstrap, timeout=2.0)
        if answers(client):
            return client
        client.close()
        assert time.monotonic() < end, "no connection was answered"
        time.sleep(0.1)


@pytest.mark.broker_config({"max.connections.per.ip": "2"})
def test_one_connection_too_many_from_an_address_is_closed(kafka_broker) -> None:
    first = connect_when_answered(kafka_broker.bootstrap_server)
    second = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        with RawClient(kafka_broker.bootstrap_server) as third:
            assert third.is_closed_by_peer(5.0)
        first.close()
        connect_when_answered(kafka_broker.bootstrap_server).close()  # room again once one has gone
    finally:
        first.close()
        second.close()
    assert "holds max.connections.per.ip (2) already" in kafka_broker.log_path.read_text()


@pytest.mark.broker_config({"max.connections.per.ip": "1", "max.connections.per.ip.overrides": "127.0.0.1:3"})
def test_an_override_beats_the_per_address_limit(kafka_broker) -> None:
    clients = [connect_when_answered(kafka_broker.bootstrap_server) for _ in range(3)]
    try:
        with RawClient(kafka_broker.bootstrap_server) as fourth:
            assert fourth.is_closed_by_peer(5.0)
    finally:
        for c in clients:
            c.close()


@pytest.mark.broker_config({"max.connections": "2"})
def test_on_a_broker_of_one_listener_max_connections_holds_there(kafka_broker) -> None:
    """That listener is the inter-broker one too, and Kafka spares it only when there are others."""
    first = connect_when_answered(kafka_broker.bootstrap_server)
    second = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        with RawClient(kafka_broker.bootstrap_server, timeout=1.0) as third:
            with pytest.raises(ToolError, match="did not answer in time"):
                third.api_versions()
    finally:
        first.close()
        second.close()


@pytest.mark.broker_config({"max.connections": "2", "inter.broker.listener.name": "INTERNAL",
                             "listeners": "PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:0",
                             "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT"})
def test_at_max_connections_a_new_one_waits_until_one_closes(kafka_broker) -> None:
    """The limit holds on a client listener; the inter-broker one, as in Kafka, is never held back."""
    first = connect_when_answered(kafka_broker.bootstrap_server)
    second = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        third = RawClient(kafka_broker.bootstrap_server, timeout=1.0)  # the kernel completes the handshake
        try:
            with pytest.raises(ToolError, match="did not answer in time"):
                third.api_versions()  # not accepted by the broker: nobody reads it
            first.close()
            third.sock.settimeout(10.0)
            assert third.read_exact(4)  # the ApiVersions sent while it waited is answered now
        finally:
            third.close()
    finally:
        first.close()
        second.close()
