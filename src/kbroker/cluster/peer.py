"""An asyncio connection from one broker to another, for the controller's and followers' requests.

Requests go out at the version the caller names (brokers of one cluster run the same code, as
Kafka's inter.broker.protocol.version pins them); answers are matched by correlation id, so
several requests may be in flight on one connection. A broken connection fails every request
waiting on it with `PeerError`, and the next request opens a new one. On a secured inter-broker
listener the connection is TLS and/or logs in with SASL before its first request
(`kbroker.security.inter_broker`); a session with a lifetime is replaced by a new connection
once the lifetime is over, before the broker would close it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kproto import ProtocolError, decode_response, encode_request
from kproto.frames import FrameReader, frame
from kproto.messages import RequestHeader

from kbroker.security.inter_broker import PeerAuthenticationError, PeerSecurity

log = logging.getLogger("kbroker.peer")


class PeerError(Exception):
    """The other broker could not be reached, or the connection broke before it answered."""


class PeerConnection:
    """Requests from this broker to the broker at `host:port`."""

    def __init__(self, host: str, port: int, client_id: str, connect_timeout: float = 5.0,
                 security: PeerSecurity | None = None) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.security = security
        self._session_ends = float("inf")  # monotonic time the SASL session lapses
        self._ready = False  # other requests wait while a new connection logs in
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._pending: dict[int, tuple[asyncio.Future, int, int]] = {}  # correlation id -> (future, key, version)
        self._next_correlation = 0
        self._connecting: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"PeerConnection({self.host}:{self.port})"

    async def request(self, message: Any, version: int, timeout: float = 30.0) -> Any:
        """Send `message` at `version` and return the decoded answer."""
        if time.monotonic() >= self._session_ends:
            self._fail(PeerError("the SASL session is over"))
        await self._connect()
        return await self._exchange(message, version, timeout)

    async def _exchange(self, message: Any, version: int, timeout: float) -> Any:
        self._next_correlation += 1
        correlation = self._next_correlation
        header = RequestHeader(request_api_key=message.API_KEY, request_api_version=version,
                               correlation_id=correlation, client_id=self.client_id)
        future = asyncio.get_running_loop().create_future()
        self._pending[correlation] = (future, message.API_KEY, version)
        if self._writer is None:
            raise PeerError(f"{self.host}:{self.port}: the connection is closed")
        self._writer.write(frame(encode_request(header, message)))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._fail(PeerError(f"{self.host}:{self.port} did not answer in {timeout:.1f} s"))
            raise PeerError(f"{self.host}:{self.port} did not answer in {timeout:.1f} s") from None
        finally:
            self._pending.pop(correlation, None)

    def _usable(self) -> bool:
        """Connected, and logged in where the listener asks for it."""
        return self._ready and self._writer is not None and not self._writer.is_closing()

    async def _connect(self) -> None:
        if self._usable():
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._usable():
                return
            tls = self.security.tls if self.security else None
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    self.host, self.port, ssl=tls, server_hostname=self.host if tls else None), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
                raise PeerError(f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}") from None
            self._writer = writer
            self._reader_task = asyncio.get_running_loop().create_task(self._read_answers(reader))
            if self.security is not None:
                await self._log_in(self.security)
            self._ready = True

    async def _log_in(self, security: PeerSecurity) -> None:
        started = time.monotonic()
        try:
            lifetime_ms = await security.authenticate(
                lambda message, version: self._exchange(message, version, self.connect_timeout))
        except PeerAuthenticationError as exc:
            error = PeerError(f"{self.host}:{self.port} refused this broker's {security.mechanism} login: {exc}")
            self._fail(error)
            raise error from None
        # a new connection a little before the broker would close this one (Kafka's client re-authenticates)
        self._session_ends = started + lifetime_ms * 0.9 / 1000 if lifetime_ms > 0 else float("inf")

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        frames = FrameReader()
        try:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    raise PeerError(f"{self.host}:{self.port} closed the connection")
                frames.feed(data)
                while (payload := frames.next_frame()) is not None:
                    self._answer(payload)
        except (PeerError, OSError, ProtocolError) as exc:
            self._fail(exc if isinstance(exc, PeerError) else PeerError(f"{self.host}:{self.port}: {exc}"))
        except asyncio.CancelledError:
            self._fail(PeerError("connection closed"))
            raise

    def _answer(self, payload: bytes) -> None:
        correlation = int.from_bytes(payload[:4], "big", signed=True)
        entry = self._pending.pop(correlation, None)
        if entry is None:
            return  # its requester gave up waiting
        future, api_key, version = entry
        if not future.done():
            try:
                future.set_result(decode_response(payload, api_key, version)[1])
            except ProtocolError as exc:
                future.set_exception(PeerError(f"unreadable answer from {self.host}:{self.port}: {exc}"))

    def _fail(self, error: PeerError) -> None:
        """Close the connection and fail every request still waiting on it."""
        self._ready = False
        self._session_ends = float("inf")
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None
        self._fail(PeerError("connection closed"))
