"""One client connection: frames in, dispatch by API key, responses out in request order.

Requests on one connection are handled one after another, as Kafka does: a handler that must
wait (a long-poll fetch) holds back the requests behind it, so responses always leave in the
order their requests came. Handlers that answer at once are called straight from
`data_received`, without a task per request, and the answers to all the frames one read
brought leave in one write: one send system call (and one wake-up of the client) instead of
one per answer.
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
from kproto.frames import FrameReader
from kproto.messages import ApiVersionsResponse, ResponseHeader
from kproto.protocol import API_VERSIONS_KEY, decode_request_header, encode_response_parts, request_class

from kbroker.handlers.api_versions import supported_versions
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import HANDLERS
from kbroker.security.acls import ANONYMOUS

if TYPE_CHECKING:
    from kbroker.node import Node

log = logging.getLogger("kbroker.server")
SIZE = struct.Struct(">i")


class Connection(asyncio.Protocol):
    def __init__(self, broker: Node) -> None:
        self.broker = broker
        self.reader = FrameReader(max_size=broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.client_host = ""
        self.principal = ANONYMOUS  # who the client authenticated as; the authorizer judges requests by it
        self.busy = False  # a handler is awaiting; later frames wait their turn
        self.write_paused = False
        self.read_paused = False
        self.closed = False
        self.outgoing: list[bytes] = []  # answers not yet handed to the transport

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.client_host = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self.broker.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
            if self.reader.buffered >= 4 and not self.busy:
                self.process()
        except ProtocolError as exc:
            self.abort(f"malformed frame: {exc}")
        if self.busy and not self.read_paused and self.reader.buffered > self.reader_limit:
            self.read_paused = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.process()

    @property
    def reader_limit(self) -> int:
        return 4 * 1024 * 1024

    # -- request handling

    def process(self) -> None:
        """Handle every complete frame, until one needs to wait or the peer must drain."""
        while not (self.busy or self.closed or self.write_paused):
            try:
                frame = self.reader.next_frame()
            except ProtocolError as exc:
                self.abort(f"malformed frame: {exc}")
                return
            if frame is None:
                break
            self.handle_frame(frame)
        self.flush()
        if self.read_paused and not self.busy and self.reader.buffered <= self.reader_limit:
            self.read_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def handle_frame(self, frame: bytes) -> None:
        started = time.perf_counter()
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
        ctx = RequestContext(self.broker, header, self.client_host, self.principal)
        try:
            result = handler.func(ctx, request)
        except Exception:
            log.exception("handler for api key %d v%d failed; closing %s", api_key, version, self.peer)
            self.close()
            return
        if inspect.isawaitable(result):
            self.busy = True
            asyncio.get_running_loop().create_task(self.finish(ctx, result, started))
        else:
            self.respond(ctx, result, started)

    async def finish(self, ctx: RequestContext, pending: Any, started: float) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("handler for api key %d failed; closing %s", ctx.header.request_api_key, self.peer)
            self.close()
            return
        self.respond(ctx, response, started)
        self.flush()  # an answer that was waited for leaves at once, before the frames held behind it
        self.busy = False
        self.process()

    def respond(self, ctx: RequestContext, response: Any, started: float) -> None:
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

    def send(self, parts: list[bytes]) -> None:
        """Queue a response; `flush` writes it, after the other frames at hand are handled."""
        self.outgoing.append(SIZE.pack(sum(map(len, parts))))
        self.outgoing += parts

    def flush(self) -> None:
        if self.outgoing and not self.closed:
            self.transport.writelines(self.outgoing)
        self.outgoing = []

    def answer_unsupported_api_versions(self, correlation_id: int) -> None:
        """Kafka answers an ApiVersions version it does not know in v0, listing what it has."""
        response = ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=supported_versions(self.broker.cluster is not None))
        self.send(encode_response_parts(ResponseHeader(correlation_id=correlation_id), response, API_VERSIONS_KEY, 0))

    # -- closing

    def abort(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.flush()  # the answers already given still leave before the connection closes
            self.closed = True
            self.transport.close()
