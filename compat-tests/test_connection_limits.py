"""Kafka's connection quotas: max.connections (broker and listener), max.connections.per.ip and its
overrides, max.connection.creation.rate (broker and listener) and the IP quota
connection_creation_rate. One connection too many from an address is closed at once; at a
connection limit new connections wait, unanswered, until one closes; past a creation rate they are
accepted only as fast as it allows; past an IP's quota they are closed without an answer."""

from __future__ import annotations

import re
import time

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

from kbroker.admin.configs import ResourceType
from kbroker.tools.client import Client, ToolError
from kbroker.tools.configs import alter
from quota_admin import set_quota
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


def listener_address(broker, listener: str) -> str:
    """Where the broker's `listener` (given port 0) listens, from its log."""
    found = re.search(rf"listening on {listener}://([^:]+):(\d+) ", broker.log_path.read_text())
    assert found, f"no listener {listener} in the broker's log"
    return f"{found[1]}:{found[2]}"


def seconds_to_connect(bootstrap: str, count: int) -> float:
    """How long `count` connections take to be answered, one after another; they are closed after."""
    began = time.monotonic()
    clients = [connect_when_answered(bootstrap, deadline=30.0) for _ in range(count)]
    took = time.monotonic() - began
    for client in clients:
        client.close()
    return took


TWO_LISTENERS = {"listeners": "PLAINTEXT://127.0.0.1:{port},OTHER://127.0.0.1:0",
                 "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"}


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


@pytest.mark.broker_config({"max.connections": "2", "inter.broker.listener.name": "OTHER", **TWO_LISTENERS})
def test_a_connection_on_the_inter_broker_listener_past_max_connections_closes_the_least_recently_active(
        kafka_broker) -> None:
    """As in Kafka: the inter-broker listener is not held back by the broker's limit; past it,
    another listener closes its connection that has been quiet longest."""
    quiet = connect_when_answered(kafka_broker.bootstrap_server)
    busy = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        assert answers(busy)  # now `quiet` is the least recently active
        with RawClient(listener_address(kafka_broker, "OTHER"), timeout=5.0) as inter_broker:
            assert answers(inter_broker)
            assert quiet.is_closed_by_peer(5.0)
            assert answers(busy)
    finally:
        quiet.close()
        busy.close()


@pytest.mark.broker_config({"listener.name.other.max.connections": "1", **TWO_LISTENERS})
def test_a_listener_max_connections_holds_that_listener_alone(kafka_broker) -> None:
    other = listener_address(kafka_broker, "OTHER")
    first = connect_when_answered(other)
    try:
        with RawClient(other, timeout=1.0) as second:
            with pytest.raises(ToolError, match="did not answer in time"):
                second.api_versions()
        clients = [connect_when_answered(kafka_broker.bootstrap_server) for _ in range(3)]
        for client in clients:
            client.close()
    finally:
        first.close()


@pytest.mark.broker_config({"max.connection.creation.rate": "4", "quota.window.num": "2"})
def test_max_connection_creation_rate_paces_accepting(kafka_broker) -> None:
    """Ten connections at four a second, the rate measured over at least one 1 s window: the ones
    past the rate wait their turn (each is answered in the end), so they take well over a second;
    unpaced they take a few milliseconds."""
    assert seconds_to_connect(kafka_broker.bootstrap_server, 10) > 1.0


@pytest.mark.broker_config({"listener.name.other.max.connection.creation.rate": "2", "quota.window.num": "2",
                            **TWO_LISTENERS})
def test_a_listener_creation_rate_paces_that_listener_alone(kafka_broker) -> None:
    paced = seconds_to_connect(listener_address(kafka_broker, "OTHER"), 6)
    free = seconds_to_connect(kafka_broker.bootstrap_server, 6)
    assert paced > 1.0
    assert free < paced / 2


@pytest.mark.broker_config({"quota.window.num": "2"})
def test_an_ip_connection_creation_rate_quota_closes_connections_past_it(kafka_broker) -> None:
    """KIP-612: a connection from an address over its connection_creation_rate is closed unanswered
    (after the time it would have had to wait); removing the quota lifts it at once."""
    bootstrap = kafka_broker.bootstrap_server
    set_quota(bootstrap, {"ip": "127.0.0.1"}, "connection_creation_rate", 2)
    clients = [RawClient(bootstrap, timeout=3.0) for _ in range(6)]
    try:
        answered = [answers(client) for client in clients]
    finally:
        for client in clients:
            client.close()
    assert not all(answered) and any(answered), answered
    assert "faster than its connection_creation_rate quota (2/s)" in kafka_broker.log_path.read_text()
    time.sleep(1.1)  # room in the rate again for the request that removes the quota
    set_quota(bootstrap, {"ip": "127.0.0.1"}, "connection_creation_rate", None)
    assert seconds_to_connect(bootstrap, 6) < 1.0  # milliseconds unpaced; at 2/s, seconds


@pytest.mark.broker_config({"max.connections.per.ip.overrides": "localhost:1"})
def test_an_override_by_host_name_applies_once_looked_up(kafka_broker) -> None:
    """Host names in the overrides are looked up off the event loop when the value is first read."""
    first = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        deadline = time.monotonic() + 10
        while True:
            with RawClient(kafka_broker.bootstrap_server, timeout=2.0) as second:
                if second.is_closed_by_peer(1.0):
                    break
            assert time.monotonic() < deadline, "localhost:1 never applied to 127.0.0.1"
    finally:
        first.close()


@pytest.mark.broker_config({"max.connections": "4"})
def test_lowering_max_connections_closes_the_least_recently_active_past_it(kafka_broker) -> None:
    quiet = [connect_when_answered(kafka_broker.bootstrap_server) for _ in range(2)]
    busy = connect_when_answered(kafka_broker.bootstrap_server)
    try:
        assert answers(busy)
        with Client(kafka_broker.bootstrap_server) as admin:  # the fourth, and the most recently active
            alter(admin, ResourceType.BROKER, "", {"max.connections": "2"}, [])
            assert all(client.is_closed_by_peer(5.0) for client in quiet)  # four down to two
            assert answers(busy)
    finally:
        for client in (*quiet, busy):
            client.close()


def set_for_broker(bootstrap: str, key: str, value: str | None) -> None:
    """IncrementalAlterConfigs from confluent-kafka on broker 1: SET, or DELETE for None."""
    entry = ConfigEntry(key, value, incremental_operation=AlterConfigOpType.DELETE if value is None
                        else AlterConfigOpType.SET)
    resource = ConfigResource("broker", "1", incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the answer is in: its handle ends with it
    admin.incremental_alter_configs([resource])[resource].result(timeout=15)


@pytest.mark.broker_config(TWO_LISTENERS)
def test_a_listener_max_connections_changed_at_run_time_holds_that_listener(kafka_broker) -> None:
    """listener.name.<l>.max.connections set by IncrementalAlterConfigs holds from the next connection;
    DescribeConfigs lists it, dynamic and (as Kafka says of every listener key) read-only; deleting it
    lifts it."""
    bootstrap, other = kafka_broker.bootstrap_server, listener_address(kafka_broker, "OTHER")
    set_for_broker(bootstrap, "listener.name.OTHER.max.connections", "1")
    first = connect_when_answered(other)
    try:
        with RawClient(other, timeout=1.0) as second:
            with pytest.raises(ToolError, match="did not answer in time"):
                second.api_versions()
        resource, admin = ConfigResource("broker", "1"), AdminClient({"bootstrap.servers": bootstrap})
        entries = admin.describe_configs([resource])[resource].result(15)
        entry = entries["listener.name.other.max.connections"]
        assert (entry.value, entry.source, entry.is_read_only) == (
            "1", ConfigSource.DYNAMIC_BROKER_CONFIG.value, True)
        set_for_broker(bootstrap, "listener.name.other.max.connections", None)
        connect_when_answered(other).close()
    finally:
        first.close()
