"""Checks a produced record set must pass before any of it is appended.

Records stay opaque: headers, sizes, CRC and record counts are checked on the producer's bytes,
which are then appended as they came. Only legacy message sets (magic 0 and 1, from old
clients) are converted to a v2 batch, since the log holds v2 batches only.
"""

from __future__ import annotations

import time

from kproto import ErrorCode, ProtocolError
from kproto.compression import Codec
from kproto.records import iter_batch_headers, set_log_append_time, validate_batch
from kproto.records.header import MAGIC_OFFSET
from kproto.records.legacy import message_set_to_batch

from kbroker.log import LogConfig


#: Produce v7 is the first whose clients may send zstd batches (KIP-110); Kafka refuses them before.
ZSTD_MIN_PRODUCE_VERSION = 7


class RecordError(Exception):
    """A produced record set is refused; nothing of it is appended."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error


def validate_records(records: bytes | memoryview | None, limits: LogConfig,
                     produce_version: int) -> tuple[bytearray, int, int]:
    """Return (bytes to append, record count, log append time or -1), or raise RecordError."""
    if not records:
        raise RecordError(ErrorCode.INVALID_RECORD, "Produce request has no records")
    if len(records) > MAGIC_OFFSET and records[MAGIC_OFFSET] < 2:
        if produce_version >= 3:
            raise RecordError(ErrorCode.INVALID_RECORD,
                              "Produce requests with version 3 and above must use record batches of magic 2")
        try:
            records = message_set_to_batch(records)
        except ProtocolError as exc:
            raise RecordError(ErrorCode.CORRUPT_MESSAGE, str(exc)) from None
    buf = bytearray(records)  # a private copy: stamping it before a later batch fails costs nothing
    append_time = int(time.time() * 1000) if limits.log_append_time else -1
    count = 0
    batches = 0
    position = 0
    try:
        for position, header in iter_batch_headers(buf):
            if header.compression == Codec.ZSTD and produce_version < ZSTD_MIN_PRODUCE_VERSION:
                raise RecordError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                                  f"Produce requests with version {produce_version} are not allowed to use "
                                  "ZStandard compression")
            if header.size > limits.max_message_bytes:
                raise RecordError(ErrorCode.MESSAGE_TOO_LARGE,
                                  f"The record batch of {header.size} bytes is larger than max.message.bytes "
                                  f"({limits.max_message_bytes})")
            validate_batch(buf, position)
            if append_time >= 0:
                set_log_append_time(buf, position, append_time)
            count += header.record_count
            batches += 1
            position += header.size
    except ProtocolError as exc:
        raise RecordError(ErrorCode.CORRUPT_MESSAGE, str(exc)) from None
    if position != len(buf) or batches == 0:
        raise RecordError(ErrorCode.CORRUPT_MESSAGE, f"record set has {len(buf) - position} bytes of partial batch")
    if produce_version >= 3 and batches != 1:
        raise RecordError(ErrorCode.INVALID_RECORD,
                          "Produce requests with version 3 and above must contain exactly one record batch")
    return buf, count, append_time

