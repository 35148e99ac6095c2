"""The broker's listeners: a server socket per listen address, a `Connection` per client.

This is where the node meets its handlers: importing them fills the dispatch table that every
connection answers from. `Broker` knows no sockets; `kbroker serve` and the test runners hand it
these listeners to open once its coordinators are loaded and close before it stops.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import kbroker.handlers  # noqa: F401 - fills the dispatch table
from kbroker.server.connection import Connection

if TYPE_CHECKING:
    from kbroker.node import Node


class ClientListeners:
    """Where clients connect, at the broker's `listeners` address."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.servers: list[asyncio.base_events.Server] = []

    async def open(self) -> int:
        """Start accepting on every address of the listener; the port (the one bound, for port 0)."""
        loop = asyncio.get_running_loop()
        host, port = self.node.config.listener
        for address in listen_hosts(host):
            server = await loop.create_server(lambda: Connection(self.node), address, port,
                                              reuse_address=True, backlog=1024)
            self.servers.append(server)
            if port == 0:
                port = server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        """Stop accepting, and close every client connection."""
        for server in self.servers:
            server.close()
        for conn in list(self.node.connections):
            conn.close()
        for server in self.servers:
            await server.wait_closed()


def listen_hosts(host: str) -> list[str | None]:
    """The addresses to bind: both loopbacks for 'localhost', since clients may resolve it to ::1;
    every interface (None) for an empty host, as Kafka reads `PLAINTEXT://:9092`."""
    if host == "localhost":
        return ["127.0.0.1", "::1"] if socket.has_ipv6 else ["127.0.0.1"]
    return [host or None]
