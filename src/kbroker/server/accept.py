"""Accepting client connections on a listening socket, pausing when the process is out of descriptors.

asyncio's own accept loop, on EMFILE, logs and schedules a retry for every connection it tried in
that wake-up (up to the backlog) and keeps going: with a backlog of 1,024 that is a flood of log
lines and timers. Here an out-of-descriptors error first closes cached log file handles (log files
give way to sockets) and tries once more; if that does not help, accepting pauses, from 10 ms
doubling to one second, with one warning per interval, while the kernel holds new connections in
the listen backlog. Connection quotas (`connection_limits.py`) can also hold accepting, or close a
connection just accepted.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
from typing import Callable

from kbroker.log.handles import handles
from kbroker.security.quotas import canonical_address
from kbroker.server.connection_limits import Admission, ConnectionLimits, NotAdmitted
from kbroker.throttled_log import ThrottledWarning

log = logging.getLogger("kbroker.server")

OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
ACCEPTS_PER_WAKEUP = 100  # then let other work run; the next loop iteration takes the rest
FIRST_PAUSE_S = 0.01
LONGEST_PAUSE_S = 1.0
ROOM_CHECK_S = 0.05  # at max.connections, how often to look whether one has closed
EXCESS_CHECK_S = 0.3  # how often to look whether the broker holds more than max.connections (Kafka's poll)


class Acceptor:
    """Hands each connection accepted on `sock` to a new protocol from `factory` (its socket buffers
    are the listening socket's, which it inherits), within the broker's connection `limits` for
    listener `listener`."""

    def __init__(self, sock: socket.socket, factory: Callable[[Admission], asyncio.Protocol], limits: ConnectionLimits,
                 listener: str) -> None:
        self.sock = sock
        self.factory = factory
        self.limits = limits
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.warning = ThrottledWarning(log)
        self._pause = FIRST_PAUSE_S
        self._resume: asyncio.TimerHandle | None = None
        self._held: socket.socket | None = None  # accepted, waiting out a connection creation rate
        self._closing: dict[socket.socket, asyncio.TimerHandle] = {}  # refused by an IP quota, closed later
        self._excess_check = self.loop.call_later(EXCESS_CHECK_S, self._close_excess)
        sock.setblocking(False)

    def start(self) -> None:
        self._resume = None
        self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        self._excess_check.cancel()
        if self._resume is not None:
            self._resume.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        if self._held is not None:
            self._held.close()
        for conn, timer in self._closing.items():
            timer.cancel()
            conn.close()
        self._closing.clear()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if self.limits.full(self.listener):
                self._wait_for_room()
                return
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    self.warning.warn("accepting connections on %s failed: %s", self.sock.getsockname(), exc)
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE) and handles().shed():
                    continue
                self._back_off(exc)
                return
            self._pause = FIRST_PAUSE_S
            if delay := self.limits.creation_delay_s(self.listener):
                self._hold(delay, conn, str(peer[0]))
                return
            self._admit(conn, str(peer[0]))

    def _hold(self, delay: float, conn: socket.socket, host: str) -> None:
        """Over a connection creation rate: this connection, and accepting, wait `delay` seconds."""
        self.loop.remove_reader(self.sock.fileno())
        self._held = conn

        def go_on() -> None:
            if self.limits.full(self.listener):  # filled meanwhile (another listener): wait for room too
                self._resume = self.loop.call_later(ROOM_CHECK_S, go_on)
                return
            self._held = None
            self._admit(conn, host)
            self.start()
        self._resume = self.loop.call_later(delay, go_on)

    def _admit(self, conn: socket.socket, host: str) -> None:
        try:
            admission = self.limits.admit(canonical_address(host), self.listener)
        except NotAdmitted as refusal:
            self.warning.warn("closed a connection from %s on %s: %s", host, self.listener, refusal)
            if refusal.close_after_s:
                self._closing[conn] = self.loop.call_later(refusal.close_after_s, self._close_refused, conn)
            else:
                conn.close()
            return
        serving = self.loop.create_task(self._serve(conn, admission))
        serving.add_done_callback(functools.partial(_given_up_if_cancelled, conn, admission))

    def _close_refused(self, conn: socket.socket) -> None:
        del self._closing[conn]
        conn.close()

    def _close_excess(self) -> None:
        self.limits.close_excess(self.listener)
        self._excess_check = self.loop.call_later(EXCESS_CHECK_S, self._close_excess)

    def _wait_for_room(self) -> None:
        """At max.connections: stop accepting, the kernel holding new connections, until one closes."""
        self.loop.remove_reader(self.sock.fileno())
        self._resume = self.loop.call_later(ROOM_CHECK_S, self._resume_if_room)

    def _resume_if_room(self) -> None:
        if self.limits.full(self.listener):
            self._resume = self.loop.call_later(ROOM_CHECK_S, self._resume_if_room)
        else:
            self.start()

    def _back_off(self, exc: OSError) -> None:
        self.warning.warn("cannot accept connections on %s: %s; pausing new connections", self.sock.getsockname(),
                          exc.strerror or exc)
        self.loop.remove_reader(self.sock.fileno())
        self._resume = self.loop.call_later(self._pause, self.start)
        self._pause = min(self._pause * 2, LONGEST_PAUSE_S)

    async def _serve(self, conn: socket.socket, admission: Admission) -> None:
        """Set the connection up; from then on it gives its place in the limits back when it closes."""
        try:
            await self.loop.connect_accepted_socket(lambda: self.factory(admission), conn)
        except BaseException as exc:
            admission.release()
            conn.close()
            if not isinstance(exc, OSError):
                raise
            self.warning.warn("cannot set up a connection: %s", exc)


def _given_up_if_cancelled(conn: socket.socket, admission: Admission, serving: asyncio.Task) -> None:
    """A set-up cancelled (the broker stopping), even before it began: the socket is closed and
    its place in the limits given back."""
    if serving.cancelled():
        admission.release()
        conn.close()


def listening_sockets(host: str | None, port: int, backlog: int, receive_buffer: int | None = None,
                      send_buffer: int | None = None) -> list[socket.socket]:
    """Bound, listening sockets for every address `host` names (every interface for None), as
    asyncio's create_server binds them; with `receive_buffer` bytes of SO_RCVBUF and `send_buffer`
    of SO_SNDBUF, set before listening so that the connections they accept inherit them (and their
    TCP window scale fits the receive buffer)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            if port == 0 and sockets:  # the port the first address was given, for all of them
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # the IPv4 address has its own socket
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            if send_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
