"""One client connection: frames in, dispatch by API key, responses out in request order.

Requests on one connection are handled one after another, as Kafka does: a handler that must
wait (a long-poll fetch) holds back the requests behind it, so responses always leave in the
order their requests came. Handlers that answer at once are called straight from
`buffer_updated`, without a task per request, and the answers to all the frames one read
brought leave in one write: one send system call (and one wake-up of the client) instead of
one per answer. When those frames' appends woke waiting fetches, the answers leave just after the
fetches' own (in the next turn of the event loop): a consumer is waiting for those records, while a
producer's acknowledgement only frees its next send.

The socket is read into buffers that the connection's `FrameReceiver` hands out (asyncio's
BufferedProtocol): small requests into a room the thread's connections share, a request larger
than 64 KiB into a bytearray of its own, in which its records are then checked, stamped and
written, with no copy on the way.

On a TLS listener the connection first completes its TLS handshake (`start_tls`, so that a failed
handshake is logged); on a SASL listener a `SaslAuthenticator` answers the exchange before any
other request reaches a handler. A connection's principal is what authenticated it: the SASL user,
else a mutual-TLS client's certificate name, else User:ANONYMOUS.

Under client quotas (`security/quotas.py`) each request's handling time counts against the
client's `request_percentage`, and Produce and Fetch count their bytes. A client over a quota gets
its answer at once, with the throttle time in it, and then the connection is muted, as Kafka does
since KIP-219: nothing more is read from it until the throttle time has passed.

A connection with nothing read or written for `connections.max.idle.ms` (10 minutes) is closed,
as Kafka's socket server closes it; clients connect again when they next need to.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from kproto import ErrorCode, ProtocolError, UnsupportedVersionError
from kproto.codec import decode
from kproto.frames import FrameReceiver
from kproto.messages import ApiVersionsResponse, ResponseHeader
from kproto.protocol import API_VERSIONS_KEY, decode_request_header, encode_response_parts, request_class

from kbroker.handlers.api_versions import supported_versions
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import HANDLERS
from kbroker.security import ANONYMOUS
from kbroker.security.authenticator import SASL_HANDSHAKE, SaslAuthenticator, SaslRefused
from kbroker.security.principal import NoMatchingRule, tls_principal
from kbroker.security.quotas import REQUEST, clock

if TYPE_CHECKING:
    from kbroker.node import Node
    from kbroker.security.listener import ListenerSecurity
    from kbroker.server.connection_limits import Admission

log = logging.getLogger("kbroker.server")
SIZE = struct.Struct(">i")


class Connection(asyncio.BufferedProtocol):
    def __init__(self, broker: Node, security: ListenerSecurity | None = None, admission: Admission | None = None) -> None:
        self.broker = broker
        self.admission = admission  # its place in the listeners' connection limits, given back when it closes
        self.reader = FrameReceiver(max_size=broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.client_host = ""
        self.security = security
        self.listener = security.endpoint.name if security else None
        self.tls_principal: str | None = None
        self.handshaking = False  # the TLS handshake is done, but start_tls has not handed over its transport yet
        self.sasl: SaslAuthenticator | None = None
        if security is not None and security.endpoint.sasl:
            self.sasl = SaslAuthenticator(security, broker.scram.get)
            self.reader.max_size = min(self.reader.max_size, security.max_receive_size)
        self.busy = False  # a handler is awaiting; later frames wait their turn
        self.write_paused = False
        self.read_paused = False
        self.closed = False
        self.throttled = False  # muted by a client quota: no request is read until the throttle time has passed
        self.outgoing: list[bytes] = []  # answers not yet handed to the transport
        self.last_active = 0.0  # time.monotonic() (the event loop's clock) of the last read or write
        self._max_idle = broker.config["connections.max.idle.ms"] / 1000  # read-only, as in Kafka
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.client_host = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self.broker.connections.add(self)
        self.last_active = time.monotonic()
        self._watch_idle(self.last_active)
        if self.security is not None and self.security.tls is not None:
            transport.pause_reading()  # no byte of the handshake may reach buffer_updated
            self.handshaking = True
            asyncio.get_running_loop().create_task(self.start_tls(transport))

    async def start_tls(self, raw: asyncio.Transport) -> None:
        """Take the TLS handshake over from asyncio's server, so that a failure is logged, in one line."""
        assert self.security is not None and self.security.tls is not None
        try:
            tls = await asyncio.get_running_loop().start_tls(raw, self, self.security.tls, server_side=True)
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            log.warning("TLS handshake with %s on listener %s failed: %s", self.peer, self.listener, exc or type(exc).__name__)
            raw.close()
            self.connection_lost(None)
            return
        self.handshaking = False
        if tls is None or self.closed:  # closed during the handshake, of which asyncio tells the protocol nothing
            if tls is not None:
                tls.close()
            self.connection_lost(None)
            return
        self.transport = tls
        ssl_object = tls.get_extra_info("ssl_object")
        try:
            self.tls_principal = tls_principal(self.security.principal_rules,
                                               ssl_object.getpeercert(binary_form=True) if ssl_object else None)
        except NoMatchingRule as exc:
            self.abort(f"TLS client certificate refused: {exc}")
            return
        if self.tls_principal is not None:
            log.info("TLS client %s on listener %s is %s", self.peer, self.listener, self.tls_principal)
        self.process()  # requests that came with the end of the handshake

    @property
    def principal(self) -> str:
        """Who this connection is: the SASL user, the TLS client certificate's name, or User:ANONYMOUS."""
        if self.sasl is not None:
            return self.sasl.principal
        return self.tls_principal or ANONYMOUS

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        if self.admission is not None:
            self.admission.release()
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.last_active = time.monotonic()
        self.reader.received(nbytes)
        if self.reader.buffered >= 4 and not self.busy:
            self.process()
        if self.busy and not self.read_paused and self.reader.buffered > self.reader_limit:
            self.read_paused = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.last_active = time.monotonic()  # the client is reading what it was sent: not idle
        self.process()

    @property
    def reader_limit(self) -> int:
        return 4 * 1024 * 1024

    # -- request handling

    def process(self) -> None:
        """Handle every complete frame, until one needs to wait or the peer must drain."""
        woken = self.broker.wakeups
        while not (self.busy or self.closed or self.write_paused or self.handshaking or self.throttled):
            try:
                frame = self.reader.next_frame()
            except ProtocolError as exc:
                self.abort(f"malformed frame: {exc}")
                return
            if frame is None:
                break
            self.handle_frame(frame)
        if self.broker.wakeups != woken and self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        else:
            self.flush()
        if self.read_paused and not (self.busy or self.throttled) and self.reader.buffered <= self.reader_limit:
            self.read_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def handle_frame(self, frame: bytes) -> None:
        started = time.perf_counter()
        if self.sasl is not None and self.sasl.wants_bare_token:
            self.answer_bare_token(frame)
            return
        try:
            header, pos = decode_request_header(frame)
        except UnsupportedVersionError as exc:
            if exc.api_key == API_VERSIONS_KEY and exc.correlation_id is not None:
                self.answer_unsupported_api_versions(exc.correlation_id)
            else:
                self.abort(str(exc))
            return
        except ProtocolError as exc:
            self.abort(f"bad request header: {exc}")
            return
        api_key = header.request_api_key
        version = header.request_api_version
        handler = HANDLERS.get(api_key)
        if handler is None or not handler.min_version <= version <= handler.max_version \
                or not handler.served(self.broker.cluster is not None):
            if api_key == API_VERSIONS_KEY:
                self.answer_unsupported_api_versions(header.correlation_id)
            else:
                self.abort(f"unsupported api key {api_key} version {version}")
            return
        try:
            request = decode(request_class(api_key), version, frame, pos, allow_trailing=True)  # as Kafka does
        except ProtocolError as exc:
            self.abort(f"malformed request: {exc}")
            return
        ctx = RequestContext(self.broker, header, self.client_host, principal=self.principal, listener=self.listener,
                             size=len(frame), quota_exempt=handler.cluster_only)
        if self.sasl is not None and self.sasl_answers(ctx, request, started):
            return
        try:
            result = handler.func(ctx, request)
        except Exception:
            log.exception("handler for api key %d v%d failed; closing %s", api_key, version, self.peer)
            self.close()
            return
        if inspect.isawaitable(result):
            self.busy = True
            asyncio.get_running_loop().create_task(self.finish(ctx, result, started, time.perf_counter() - started))
        else:
            throttle_ms = self.throttle_time(ctx, result, time.perf_counter() - started) \
                if self.broker.client_quotas.enabled else 0
            self.respond(ctx, result, started, throttle_ms)

    async def finish(self, ctx: RequestContext, pending: Any, started: float, handling: float) -> None:
        """Answer once a waiting handler is done; only the time it spent working counts towards its quota."""
        try:
            response = await pending
        except Exception:
            log.exception("handler for api key %d failed; closing %s", ctx.header.request_api_key, self.peer)
            self.close()
            return
        self.respond(ctx, response, started, self.throttle_time(ctx, response, handling))
        self.flush()  # an answer that was waited for leaves at once, before the frames held behind it
        self.busy = False
        self.process()

    def throttle_time(self, ctx: RequestContext, response: Any, handling: float) -> int:
        """How long a client quota throttles this client after this request: the longer of the byte-rate
        throttle a handler found and its request-time throttle (an acks=0 produce, answered with
        nothing, is exempt from the latter, as in Kafka)."""
        quotas = self.broker.client_quotas
        if not quotas.enabled or ctx.quota_exempt:
            return 0
        if response is None:
            return ctx.throttle_time_ms
        # Request time counts as percent of one second: 100 for a whole second of handling.
        spent = quotas.record(REQUEST, ctx.principal, ctx.client_id, handling * 100, clock())
        return max(ctx.throttle_time_ms, spent)

    def respond(self, ctx: RequestContext, response: Any, started: float, throttle_ms: int = 0) -> None:
        if throttle_ms and hasattr(response, "throttle_time_ms"):
            response.throttle_time_ms = throttle_ms
        if response is not None and not self.closed:
            header = ResponseHeader(correlation_id=ctx.header.correlation_id)
            try:
                parts = encode_response_parts(header, response, ctx.header.request_api_key, ctx.api_version)
            except ProtocolError:
                log.exception("cannot encode the response to api key %d v%d; closing %s",
                              ctx.header.request_api_key, ctx.api_version, self.peer)
                self.close()
                return
            self.send(parts)
        self.broker.metrics.request_done(ctx.header.request_api_key, time.perf_counter() - started)
        if ctx.close_connection:
            self.close()
        elif throttle_ms:
            self.mute(throttle_ms)

    def mute(self, throttle_ms: int) -> None:
        """Read no request from this client until `throttle_ms` have passed; its answer still leaves now."""
        self.throttled = True
        self.transport.pause_reading()
        asyncio.get_running_loop().call_later(throttle_ms / 1000, self.unmute)

    def unmute(self) -> None:
        self.throttled = False
        if self.closed:
            return
        if not self.read_paused:
            self.transport.resume_reading()
        self.process()

    def send(self, parts: list[bytes]) -> None:
        """Queue a response; `flush` writes it, after the other frames at hand are handled."""
        self.outgoing.append(SIZE.pack(sum(map(len, parts))))
        self.outgoing += parts

    def flush(self) -> None:
        if self.outgoing and not self.closed:
            self.transport.writelines(self.outgoing)
            self.last_active = time.monotonic()
        self.outgoing = []

    def answer_unsupported_api_versions(self, correlation_id: int) -> None:
        """Kafka answers an ApiVersions version it does not know in v0, listing what it has."""
        response = ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=supported_versions(self.broker.cluster is not None))
        self.send(encode_response_parts(ResponseHeader(correlation_id=correlation_id), response, API_VERSIONS_KEY, 0))

    # -- SASL

    def sasl_answers(self, ctx: RequestContext, request: Any, started: float) -> bool:
        """Whether the SASL exchange took this request (answered, or the connection closed for it)."""
        assert self.sasl is not None
        api_key = ctx.header.request_api_key
        if self.sasl.authenticated and self.sasl.expired() and api_key != SASL_HANDSHAKE:
            self.abort(f"the SASL session of {self.sasl.principal} expired (connections.max.reauth.ms) "
                       "and the client did not re-authenticate")
            return True
        try:
            if not self.sasl.intercepts(api_key):
                return False
            response = self.sasl.answer(api_key, ctx.api_version, request)
        except SaslRefused as exc:
            if exc.response is not None:
                self.respond(ctx, exc.response, started)
            self.refuse(exc)
            return True
        self.respond(ctx, response, started)
        self.sasl_progressed()
        return True

    def answer_bare_token(self, token: bytes) -> None:
        """A token of the unframed exchange after a v0 handshake: answered as a bare size-prefixed token."""
        assert self.sasl is not None
        try:
            answer = self.sasl.bare_token(token)
        except SaslRefused as exc:
            self.refuse(exc)
            return
        self.send([answer])
        self.sasl_progressed()

    def sasl_progressed(self) -> None:
        if self.sasl is not None and self.sasl.authenticated and self.reader.max_size != self.broker.config.socket_request_max_bytes:
            self.reader.max_size = self.broker.config.socket_request_max_bytes
            log.info("client %s authenticated on listener %s as %s with %s", self.peer, self.listener,
                     self.sasl.principal, self.sasl.mechanism)

    def refuse(self, exc: SaslRefused) -> None:
        """Close after a failed exchange; a failed authentication waits connection.failed.authentication.delay.ms
        first, as Kafka does, so that guessing passwords is slow."""
        if not exc.failed_auth:
            self.abort(str(exc))
            return
        assert self.sasl is not None
        log.info("failed authentication from %s on listener %s with %s: %s", self.peer, self.listener,
                 self.sasl.mechanism or "no mechanism", exc)
        self.flush()
        self.closed = True  # nothing more is read or answered
        self.transport.pause_reading()
        delay = self.broker.config["connection.failed.authentication.delay.ms"] / 1000
        asyncio.get_running_loop().call_later(delay, self.transport.close)

    # -- closing

    def _watch_idle(self, since: float) -> None:
        """Close the connection once nothing has been read or written for `connections.max.idle.ms`
        (negative: never), as Kafka's socket server does. One timer a connection, set for when it
        would have been idle that long; activity meanwhile only moves `last_active`, and the timer,
        when it fires, sets itself again for the time left."""
        if self._max_idle >= 0:
            self._idle_timer = asyncio.get_running_loop().call_at(since + self._max_idle, self._idle_check)

    def _idle_check(self) -> None:
        if self.closed:
            return
        now = time.monotonic()
        if self.busy or self.throttled or self.write_paused:  # a request is being answered, or the
            # client is still reading an answer: not idle, whatever the socket does
            self._watch_idle(now)
        elif now < self.last_active + self._max_idle:
            self._watch_idle(self.last_active)
        else:
            log.debug("closing connection from %s: idle for connections.max.idle.ms", self.peer)
            self.close()

    def abort(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.flush()  # the answers already given still leave before the connection closes
            self.closed = True
            self.transport.close()
