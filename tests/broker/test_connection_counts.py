"""The connection counts kept by `ConnectionLimits`, in process: every admitted connection gives its
place back exactly once, whichever way it ends; past max.connections the least recently active
connection of a listener is closed, one not already closing; host names in the per-address overrides apply
once looked up, a malformed one among them not stopping the rest. The limits as clients meet
them, over TCP, are in compat-tests/test_connection_limits.py."""

from __future__ import annotations

import asyncio
import socket
import ssl
from types import SimpleNamespace

import pytest
import trustme

from kbroker.config import BrokerConfig
from kbroker.security.quotas import ClientQuotas
from kbroker.server.accept import Acceptor
from kbroker.server.connection import Connection
from kbroker.server.connection_limits import ConnectionLimits, NotAdmitted

TWO_LISTENERS = {"listeners": "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                 "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
                 "inter.broker.listener.name": "INTERNAL"}


def node(**settings: str) -> SimpleNamespace:
    return SimpleNamespace(config=BrokerConfig(settings), connections=set(), client_quotas=ClientQuotas(11, 1))


class Quiet:
    """An open connection as the limits see it."""

    def __init__(self, listener: str, last_active: float) -> None:
        self.listener = listener
        self.last_active = last_active
        self.closed = False

    def close(self) -> None:
        self.closed = True  # as a transport's close: the connection is only gone later


def test_a_tls_connection_closed_during_its_handshake_gives_its_place_back() -> None:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    security = SimpleNamespace(endpoint=SimpleNamespace(name="SSL", sasl=False), tls=context)
    broker = node()
    limits = ConnectionLimits(broker)

    async def scenario() -> None:
        made: list[Connection] = []

        def connection() -> Connection:
            made.append(Connection(broker, security, limits.admit("127.0.0.1", "SSL")))
            return made[-1]
        server = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", 0)
        with socket.create_connection(server.sockets[0].getsockname()):  # sends no ClientHello
            for _ in range(200):
                if made and broker.connections:
                    break
                await asyncio.sleep(0.01)
            made[0].close()  # as the least recently active close does
            for _ in range(200):
                if not limits.total:
                    break
                await asyncio.sleep(0.01)
        server.close()

    asyncio.run(scenario())
    assert (limits.total, dict(limits.by_listener), broker.connections) == (0, {}, set())


def test_past_max_connections_each_check_closes_the_least_recently_active_of_a_listener() -> None:
    broker = node(**TWO_LISTENERS, **{"max.connections": "2"})
    limits = ConnectionLimits(broker)
    older, newer, inter_broker = Quiet("PLAINTEXT", 1.0), Quiet("PLAINTEXT", 2.0), Quiet("INTERNAL", 0.0)
    for quiet in (older, newer, inter_broker):
        limits.admit("127.0.0.1", quiet.listener)
        broker.connections.add(quiet)
    limits.close_excess("INTERNAL")  # the inter-broker listener is never trimmed
    assert not inter_broker.closed
    limits.close_excess("PLAINTEXT")
    assert (older.closed, newer.closed) == (True, False)
    limits.close_excess("PLAINTEXT")  # the first is still closing, so still counted: the next one goes
    assert newer.closed


def test_an_admission_is_given_back_once() -> None:
    limits = ConnectionLimits(node())
    admission = limits.admit("::1", "PLAINTEXT")
    admission.release()
    admission.release()
    assert (limits.total, dict(limits.by_address)) == (0, {})


def test_host_names_in_the_overrides_apply_once_looked_up_past_a_malformed_one() -> None:
    limits = ConnectionLimits(node(**{"max.connections.per.ip.overrides": "bad..name:5,localhost:1"}))

    async def scenario() -> None:
        limits.admit("127.0.0.1", "PLAINTEXT")  # starts the lookup
        for _ in range(500):
            try:
                limits.admit("127.0.0.1", "PLAINTEXT")
            except NotAdmitted as refused:
                assert "max.connections.per.ip (1)" in str(refused)
                return
            await asyncio.sleep(0.01)
        pytest.fail("localhost:1 never applied to 127.0.0.1")

    asyncio.run(scenario())


def test_a_connection_whose_set_up_is_cancelled_before_it_began_gives_its_place_back() -> None:
    """The broker stopping cancels the tasks setting connections up, some not yet begun."""
    limits = ConnectionLimits(node())

    async def scenario() -> socket.socket:
        listening, (ours, theirs) = socket.create_server(("127.0.0.1", 0)), socket.socketpair()
        acceptor = Acceptor(listening, lambda admission: asyncio.Protocol(), limits, "PLAINTEXT")
        acceptor._admit(ours, "127.0.0.1")
        assert limits.total == 1
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await asyncio.sleep(0)
        acceptor.close()
        theirs.close()
        return ours

    conn = asyncio.run(scenario())
    assert (limits.total, dict(limits.by_listener), conn.fileno()) == (0, {}, -1)
