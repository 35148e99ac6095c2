"""How many client connections the broker takes, and how fast: Kafka's connection quotas.

As in Kafka:
- at `max.connections` the broker stops accepting (the kernel holds new connections in the listen
  backlog) until one closes, except on the inter-broker listener when there are others (the
  protected listener). Whenever the broker holds more (a connection on the protected listener,
  or the limit lowered), each other listener closes its least recently active connection, one
  every few tenths of a second, until it is back within the limit. `listener.name.<l>.max.connections` bounds
  one listener's own count, the protected one's too (it defaults to the broker's limit);
- `max.connection.creation.rate` (and `listener.name.<l>.max.connection.creation.rate`) pace
  accepting: a connection that takes the rate past its bound waits, and accepting with it, for
  as long as brings the rate back (at most one quota window, `quota.window.size.seconds`), as
  Kafka measures client quotas (`security/rate.py`). The broker's rate leaves out the protected
  listener, whose own rate (the broker's value by default) still applies;
- an IP's `connection_creation_rate` client quota (KIP-612) closes a connection that would take
  that address past it, after the time it would have to wait, without serving it;
- a connection from an address already holding `max.connections.per.ip` (or its entry in
  `max.connections.per.ip.overrides`) is closed as soon as it is accepted.

The limits are read at each accept, so a dynamic change applies to the next connection. Host
names in the overrides are looked up off the event loop at the first accept after the value
changes; until the lookup is done, only the overrides given as addresses apply.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import TYPE_CHECKING

from kbroker.config.broker import INT_MAX, parse_connection_overrides
from kbroker.security.quotas import CONNECTION_RATE, canonical_address, clock
from kbroker.security.rate import WindowedRate

if TYPE_CHECKING:
    from kbroker.node import Node


class NotAdmitted(Exception):
    """A connection just accepted may not be served: close it, after `close_after_s` seconds."""

    def __init__(self, reason: str, close_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.close_after_s = close_after_s


class Admission:
    """One accepted connection's place in the counts, from its accept until it has closed (or
    failed to be set up): `release` gives the place back, once however often it is called."""

    __slots__ = ("limits", "address", "listener", "released")

    def __init__(self, limits: ConnectionLimits, address: str, listener: str) -> None:
        self.limits = limits
        self.address = address
        self.listener = listener
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limits.released(self)


class ConnectionLimits:
    """The connection counts and creation rates the accept loops check, shared by every listener."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.total = 0  # admitted connections not yet closed: being set up, or open
        self.by_address: collections.Counter[str] = collections.Counter()
        self.by_listener: collections.Counter[str] = collections.Counter()
        self._rates: dict[str | None, WindowedRate] = {}  # by listener; None: the broker's
        self._overrides = _Overrides()
        # Found once, as the listeners are opened once: re-reading it at each accept cost 10 us.
        config = node.config
        self._protected = config.inter_broker_listener if len(config.endpoints) > 1 else None

    # -- before accepting

    def protected(self, listener: str) -> bool:
        """The inter-broker listener, when there are others: Kafka never holds it to max.connections."""
        return listener == self._protected

    def full(self, listener: str) -> bool:
        """Whether `listener` may take no connection now: at its own max.connections, or (unless
        protected) at the broker's."""
        config = self.node.config
        if self.by_listener[listener] >= config.for_listener(listener, "max.connections"):
            return True
        return self.total >= config["max.connections"] and not self.protected(listener)

    def creation_delay_s(self, listener: str) -> float:
        """Count a connection just accepted on `listener` in the creation rates; how long it (and
        accepting) must wait for the rates to come back within their bounds, 0 mostly."""
        config = self.node.config
        delay_ms = 0.0
        if not self.protected(listener):
            delay_ms = self._record(None, config["max.connection.creation.rate"])
        delay_ms = max(delay_ms, self._record(listener, config.for_listener(listener, "max.connection.creation.rate")))
        return delay_ms / 1000

    # -- after accepting

    def admit(self, address: str, listener: str) -> Admission:
        """Count a connection just accepted from `address` (canonical) on `listener`, or raise
        NotAdmitted (then it is not counted)."""
        if (delay_ms := self._ip_throttle_ms(address, listener)) > 0:
            raise NotAdmitted(f"it opens connections faster than its connection_creation_rate quota "
                          f"({self.node.client_quotas.connection_rate(address):g}/s); closing it in {delay_ms} ms",
                          delay_ms / 1000)
        if self.by_address[address] >= (limit := self._per_address_limit(address)):
            raise NotAdmitted(f"it holds max.connections.per.ip ({limit}) already")
        self.total += 1
        self.by_address[address] += 1
        self.by_listener[listener] += 1
        return Admission(self, address, listener)

    def close_excess(self, listener: str) -> None:
        """Past max.connections (lowered at run time, or passed by the inter-broker listener), close
        the least recently active connection of `listener` not already closing, one a call, as
        Kafka's network threads do at each poll; never on the protected listener."""
        if self.total > self.node.config["max.connections"] and not self.protected(listener):
            mine = [c for c in self.node.connections if c.listener == listener and not c.closed]
            if mine:
                min(mine, key=lambda c: c.last_active).close()

    def released(self, admission: Admission) -> None:
        self.total -= 1
        for counter, key in ((self.by_address, admission.address), (self.by_listener, admission.listener)):
            counter[key] -= 1
            if not counter[key]:
                del counter[key]

    # -- the parts

    def accept_rates(self) -> dict[str | None, float]:
        """Connections accepted a second, as Kafka measures its connection-accept-rate, by listener
        (None: the broker's, which leaves out the protected listener)."""
        now = clock()
        return {key: rate.measure(now) for key, rate in self._rates.items()}

    def _record(self, key: str | None, bound: float) -> float:
        """Count one connection in the rate `key` (a listener, or None for the broker) and return
        the throttle time in ms it brings, bounded by one quota window as Kafka bounds it; 0
        without a bound (the rate is kept all the same, for the metrics)."""
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = self._new_rate()
        if bound >= INT_MAX:
            rate.record(1, clock())
            return 0.0
        return self._throttle_ms(rate, bound)

    def _ip_throttle_ms(self, address: str, listener: str) -> int:
        """Count a connection from `address` in its IP quota's rate; the throttle time in ms if that
        breaks the quota, and then the connection is taken back out of every rate, as Kafka does."""
        bound = self.node.client_quotas.connection_rate(address)
        if bound is None:
            return 0
        rate = self.node.client_quotas.rate_of(CONNECTION_RATE, (address, ""), clock())  # dropped after an idle hour
        throttle = int(self._throttle_ms(rate, bound))
        if throttle > 0:
            now = clock()
            for taken in (rate, self._rates.get(listener), None if self.protected(listener) else self._rates.get(None)):
                if taken is not None:
                    taken.record(-1, now)
        return throttle

    def _new_rate(self) -> WindowedRate:
        quotas = self.node.client_quotas
        return WindowedRate(quotas.samples, quotas.window_ms)

    def _throttle_ms(self, rate: WindowedRate, bound: float) -> float:
        now = clock()
        rate.record(1, now)
        window_ms = self.node.client_quotas.window_ms
        if bound <= 0:  # every connection breaks it: Kafka's throttle is then as long as it allows
            return window_ms
        return min(rate.throttle_ms(bound, now), window_ms)

    def _per_address_limit(self, address: str) -> int:
        config = self.node.config
        return self._overrides.get(config["max.connections.per.ip.overrides"]).get(address, config["max.connections.per.ip"])


class _Overrides:
    """max.connections.per.ip.overrides keyed by canonical IP address. Host names are looked up in
    a thread when the value changes, as Kafka looks them up when it is set, and apply once found;
    a name that does not resolve matches no client."""

    def __init__(self) -> None:
        self._text: str | None = None
        self._by_address: dict[str, int] = {}

    def get(self, text: str) -> dict[str, int]:
        if text != self._text:
            self._text = text
            self._by_address, names = {}, {}
            for host, count in parse_connection_overrides(text).items():
                try:
                    self._by_address[canonical_address(host)] = count
                except ValueError:
                    names[host] = count
            if names:
                loop = asyncio.get_running_loop()
                looked_up = loop.run_in_executor(None, _resolve, names)
                looked_up.add_done_callback(lambda done: self._found(text, done))
        return self._by_address

    def _found(self, text: str, done: asyncio.Future[dict[str, int]]) -> None:
        if done.cancelled() or done.exception() is not None:  # the executor stopped (shutdown)
            return
        if text == self._text:  # not changed again meanwhile; an address given as one wins over a name
            self._by_address = {**done.result(), **self._by_address}


def _resolve(names: dict[str, int]) -> dict[str, int]:
    by_address: dict[str, int] = {}
    for host, count in names.items():
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):  # not found, or not a host name at all (`bad..name`)
            continue
        by_address.update(dict.fromkeys({canonical_address(str(info[4][0])) for info in infos}, count))
    return by_address
