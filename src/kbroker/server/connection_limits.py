"""How many client connections the broker takes: `max.connections` and `max.connections.per.ip`.

As in Kafka, a broker at `max.connections` stops accepting (the kernel holds new connections in
the listen backlog) until one closes, except on the inter-broker listener, and a connection from
an address already holding `max.connections.per.ip` (or its entry in
`max.connections.per.ip.overrides`) is closed as soon as it is accepted. The limits are read at
each accept, so a dynamic change applies to the next connection.
"""

from __future__ import annotations

import collections
import ipaddress
import socket
from functools import lru_cache
from typing import TYPE_CHECKING

from kbroker.config.broker import parse_connection_overrides

if TYPE_CHECKING:
    from kbroker.node import Node


@lru_cache(maxsize=8)
def _overrides_by_address(text: str) -> dict[str, int]:
    """The overrides keyed by IP address: host names are looked up once per value of the key (on
    the event loop, at the first connection after a change: a slow resolver delays that accept)."""
    by_address = {}
    for host, count in parse_connection_overrides(text).items():
        try:
            addresses = [_canonical(host)]
        except ValueError:
            try:
                addresses = sorted({_canonical(str(info[4][0])) for info in socket.getaddrinfo(host, None)})
            except OSError:
                addresses = []  # a name that does not resolve matches no client, as in Kafka
        by_address.update(dict.fromkeys(addresses, count))
    return by_address


def _canonical(address: str) -> str:
    """An IP address as one spelling (`::1` for `0:0:0:0:0:0:0:1`), without an IPv6 zone."""
    return str(ipaddress.ip_address(address.partition("%")[0]))


class ConnectionLimits:
    """The connection counts the accept loops check, shared by every listener of the broker."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pending: collections.Counter[str] = collections.Counter()  # accepted, not yet a Connection

    def full(self, listener: str) -> bool:
        """Whether the broker holds max.connections; the inter-broker listener is never held back
        when there are others (as in Kafka: on a broker of one listener, the limit holds there)."""
        config = self.node.config
        if len(self.node.connections) + self.pending.total() < config["max.connections"]:
            return False
        return not (listener == config.inter_broker_listener and len(config.endpoints) > 1)

    def admit(self, host: str) -> int | None:
        """Count a connection just accepted from `host` as pending, or return the per-address limit
        it would break (then it must be closed, and is not counted)."""
        limit = self._refused(host)
        if limit is None:
            self.pending[host] += 1
        return limit

    def settled(self, host: str) -> None:
        """A pending connection is set up (and so in the node's connections) or has failed."""
        self.pending[host] -= 1
        if not self.pending[host]:
            del self.pending[host]

    def _refused(self, host: str) -> int | None:
        """The per-address limit a new connection from `host` would break, or None if it may stay."""
        config = self.node.config
        limit = _overrides_by_address(config["max.connections.per.ip.overrides"]).get(
            _canonical(host), config["max.connections.per.ip"])
        if limit > len(self.node.connections) + self.pending.total():
            return None  # cannot be reached: no need to count (the default limit is never reached)
        held = self.pending[host] + sum(1 for c in self.node.connections if c.client_host == host)
        return limit if held >= limit else None
