"""kproto: Apache Kafka's wire protocol as a sans-IO library.

Message classes live in `kproto.messages` (named as Kafka names them, snake_case fields,
keyword construction); the functions below turn frames into objects and back.
"""

from kproto.errors import ErrorCode
from kproto.exceptions import InvalidRecordError, ProtocolError
from kproto.frames import FrameReader
from kproto.protocol import (
    UnsupportedVersionError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

__all__ = [
    "ErrorCode",
    "FrameReader",
    "InvalidRecordError",
    "ProtocolError",
    "UnsupportedVersionError",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]
