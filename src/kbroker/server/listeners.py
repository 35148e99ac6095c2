"""The broker's listeners: server sockets for each of `listeners`, a `Connection` per client.

This is where the node meets its handlers: importing them fills the dispatch table that every
connection answers from. `Broker` knows no sockets; `kbroker serve` and the test runners hand it
these listeners to open once its coordinators are loaded and close before it stops. Each listener
brings its security (TLS context, SASL mechanisms), built before the broker starts so that a bad
key store stops it at once.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import kbroker.handlers  # noqa: F401 - fills the dispatch table
from kbroker.config import ConfigSource
from kbroker.security.listener import ListenerSecurity, listener_security
from kbroker.server.accept import Acceptor, listening_sockets
from kbroker.server.connection_limits import Admission, ConnectionLimits
from kbroker.server.connection import Connection

if TYPE_CHECKING:
    from kbroker.config import BrokerConfig
    from kbroker.node import Node

log = logging.getLogger("kbroker.server")
BACKLOG = 1024  # connections the kernel holds while the broker is busy or paused (accept.py)


class ClientListeners:
    """Where clients connect: every listener of the broker's `listeners`."""

    def __init__(self, node: Node, security: dict[str, ListenerSecurity] | None = None) -> None:
        self.node = node
        self.security = listener_security(node.config) if security is None else security
        self.acceptors: list[Acceptor] = []
        self.limits = ConnectionLimits(node)

    def accept_rates(self) -> dict[str | None, float]:
        return self.limits.accept_rates()

    async def open(self) -> dict[str, int]:
        """Start accepting on every address of every listener; the port each listener bound (by name)."""
        ports = {}
        receive_buffer, send_buffer = (socket_buffer(self.node.config, key) for key in
                                       ("socket.receive.buffer.bytes", "socket.send.buffer.bytes"))
        for endpoint in self.node.config.endpoints:
            security, port = self.security[endpoint.name], endpoint.port
            for address in listen_hosts(endpoint.host):
                for sock in listening_sockets(address, port, BACKLOG, receive_buffer, send_buffer):
                    def connection(admission: Admission, s: ListenerSecurity = security) -> Connection:
                        return Connection(self.node, s, admission)
                    self.acceptors.append(Acceptor(sock, connection, self.limits, endpoint.name))
                    self.acceptors[-1].start()
                    if port == 0:
                        port = sock.getsockname()[1]
            ports[endpoint.name] = port
            log.info("listening on %s://%s:%d (%s)", endpoint.name, endpoint.host, port, endpoint.protocol)
        return ports

    async def close(self) -> None:
        """Stop accepting, and close every client connection."""
        for acceptor in self.acceptors:
            acceptor.close()
        for conn in list(self.node.connections):
            conn.close()


def socket_buffer(config: BrokerConfig, key: str) -> int | None:
    """The client sockets' buffer size that `key` sets, or None to leave it to the OS.

    Only a value given in the configuration is applied, -1 meaning the OS's, as in Kafka (the
    config refuses other values below 1). Kafka's default, 100 KiB, is not: a buffer set by hand
    stops Linux from growing the TCP window, and a 1 MB produce request then took 8 reads of the
    one event loop instead of 2, for 5-15% less throughput and up to 44% more broker CPU per MB
    (docs/testing.md, Socket buffers).
    """
    if config.source(key) == ConfigSource.DEFAULT_CONFIG or config[key] == -1:
        return None
    return config[key]


def listen_hosts(host: str) -> list[str | None]:
    """The addresses to bind: both loopbacks for 'localhost', since clients may resolve it to ::1;
    every interface (None) for an empty host, as Kafka reads `PLAINTEXT://:9092`."""
    if host == "localhost":
        return ["127.0.0.1", "::1"] if socket.has_ipv6 else ["127.0.0.1"]
    return [host or None]
