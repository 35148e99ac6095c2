"""Requests and responses with their headers: the frames that travel between client and broker.

A frame here is what follows the 4-byte size prefix on the wire (see `kproto.frames` for
splitting a byte stream into frames).
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from kproto import messages
from kproto.codec import compiled, decode, encode_into
from kproto.exceptions import ProtocolError
from kproto.model import Message
from kproto.schema.headers import RequestHeader, ResponseHeader

API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7
_KEY_VERSION_CORRELATION = struct.Struct(">hhi")


class UnsupportedVersionError(ProtocolError):
    """A request for an API key or version kproto does not know.

    Carries what could be read of the header, so that a broker can still answer an
    ApiVersions request of a newer version with UNSUPPORTED_VERSION, as Kafka does.
    """

    def __init__(self, message: str, api_key: int, api_version: int, correlation_id: int | None) -> None:
        super().__init__(message)
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id


def request_class(api_key: int) -> type[Message]:
    try:
        return getattr(messages, messages.APIS[api_key][0])
    except KeyError:
        raise ProtocolError(f"unknown api key {api_key}") from None


def response_class(api_key: int) -> type[Message]:
    try:
        return getattr(messages, messages.APIS[api_key][1])
    except KeyError:
        raise ProtocolError(f"unknown api key {api_key}") from None


def is_flexible(api_key: int, api_version: int) -> bool:
    return request_class(api_key).SPEC.is_flexible(api_version)


def request_header_version(api_key: int, api_version: int) -> int:
    if api_key == CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0  # the one request whose header has no client id
    return 2 if is_flexible(api_key, api_version) else 1


def response_header_version(api_key: int, api_version: int) -> int:
    if api_key == API_VERSIONS_KEY:
        return 0  # so that a client can read the answer whatever version it asked for
    return 1 if is_flexible(api_key, api_version) else 0


def decode_request_header(frame: bytes) -> tuple[RequestHeader, int]:
    """The header of a request frame, and the position where the body starts."""
    if len(frame) < 8:
        raise ProtocolError(f"request frame of {len(frame)} bytes is shorter than a header")
    api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame, 0)
    decoder = _HEADER_DECODERS.get((api_key, api_version)) or _header_decoder(api_key, api_version, correlation_id)
    try:
        if type(frame) is bytes:
            return decoder(frame, 0, len(frame))
        return _decode_from_start(decoder, frame)
    except UnicodeDecodeError:
        raise ProtocolError("request header: client id is not valid UTF-8") from None


#: How much of a frame that is not bytes the header is first read from.
HEADER_PREFIX = 1024


def _decode_from_start(decoder: Callable[[bytes, int, int], tuple[RequestHeader, int]],
                       frame: bytes | bytearray | memoryview) -> tuple[RequestHeader, int]:
    """The header of a frame received into a bytearray (a large request), read from a copy of the
    frame's start rather than of all of it: copying a megabyte costs more than the rest of the
    header's decoding. A header running past that start (a client id of kilobytes) is read again
    from the whole frame, which then decides."""
    head = bytes(frame[:HEADER_PREFIX])
    try:
        return decoder(head, 0, len(head))
    except ProtocolError:
        if len(frame) <= HEADER_PREFIX:
            raise
    return decoder(bytes(frame), 0, len(frame))


#: Header decoders by (api key, version), for the pairs kproto knows: a frame's key and version
#: are looked up once, not checked and resolved again on every request.
_HEADER_DECODERS: dict[tuple[int, int], Callable[[bytes, int, int], tuple[RequestHeader, int]]] = {}


def _header_decoder(api_key: int, api_version: int,
                    correlation_id: int) -> Callable[[bytes, int, int], tuple[RequestHeader, int]]:
    """The header decoder for a key and version kproto knows; UnsupportedVersionError for others."""
    if api_key not in messages.APIS:
        raise UnsupportedVersionError(f"unknown api key {api_key}", api_key, api_version, correlation_id)
    low, high = request_class(api_key).SPEC.versions
    if not low <= api_version <= high:
        raise UnsupportedVersionError(
            f"api key {api_key} has no version {api_version} (known: {low}-{high})",
            api_key, api_version, correlation_id,
        )
    decoder = compiled(RequestHeader, request_header_version(api_key, api_version))[0]
    _HEADER_DECODERS[api_key, api_version] = decoder
    return decoder


def decode_request(frame: bytes) -> tuple[RequestHeader, Any]:
    """Decode a whole request frame into its header and request object."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    header, pos = decode_request_header(frame)
    request = decode(request_class(header.request_api_key), header.request_api_version, frame, pos)
    return header, request


def encode_request(header: RequestHeader, request: Message) -> bytes:
    """Encode a request frame; the API key and version are taken from the header."""
    out: list[bytes] = []
    encode_into(header, request_header_version(header.request_api_key, header.request_api_version), out)
    encode_into(request, header.request_api_version, out)
    return b"".join(out)


def decode_response(frame: bytes, api_key: int, api_version: int) -> tuple[ResponseHeader, Any]:
    """Decode a response frame; the caller knows which request it answers."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    header, pos = compiled(ResponseHeader, response_header_version(api_key, api_version))[0](frame, 0, len(frame))
    return header, decode(response_class(api_key), api_version, frame, pos)


def encode_response_parts(header: ResponseHeader, response: Message, api_key: int, api_version: int) -> list[bytes]:
    """The response frame as a list of byte strings, so large record sets are not copied again."""
    out: list[bytes] = []
    encode_into(header, response_header_version(api_key, api_version), out)
    encode_into(response, api_version, out)
    return out


def encode_response(header: ResponseHeader, response: Message, api_key: int, api_version: int) -> bytes:
    return b"".join(encode_response_parts(header, response, api_key, api_version))
