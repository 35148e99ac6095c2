"""Checks a produced record set must pass before any of it is appended, as Kafka's LogValidator makes them.

Records stay opaque where no check of Kafka's could fail on them: the batch header, CRC and
record lengths are checked on the producer's bytes, which are then appended as they came. Only
on a compacted topic (every record needs a key) or one bounding CreateTime timestamps
(`message.timestamp.before.max.ms` / `after.max.ms`) is the start of each record read. Legacy
message sets (magic 0 and 1, from old clients) are converted to a v2 batch, since the log
holds v2 batches only. A topic whose `compression.type` names a codec (not `producer`) gets
every produced batch in that codec, rewritten here when the producer used another, as Kafka does.
"""

from __future__ import annotations

import math
import time

from kproto import ErrorCode, InvalidRecordError, ProtocolError
from kproto.compression import Codec
from kproto.records import (
    NO_TIMESTAMP,
    BatchHeader,
    check_batch,
    iter_batch_headers,
    recompressed,
    record_heads,
    set_log_append_time,
    validate_batch,
    writable,
)
from kproto.records.header import MAGIC_OFFSET
from kproto.records.legacy import message_set_to_batch

from kbroker.log import LogConfig
from kbroker.log.config import LONG_MAX

#: Produce v7 is the first whose clients may send zstd batches (KIP-110); Kafka refuses them before.
ZSTD_MIN_PRODUCE_VERSION = 7
KEYLESS = "a compacted topic takes only records with a key"
PRODUCER_APPEND_TIME = "a producer may not set the LogAppendTime timestamp type"
#: Kafka's answer names at most this many of the record errors in its message.
ERRORS_NAMED = 3

#: One record's failure: (its index in the batch, error code, why).
Failure = tuple[int, ErrorCode, str]


class RecordError(Exception):
    """A produced record set is refused; nothing of it is appended.

    `record_errors` holds (index in the batch, why) of each refused record, for Produce v8+.
    """

    def __init__(self, error: ErrorCode, message: str, record_errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.record_errors = record_errors or []


def validate_records(records: bytes | memoryview | None, limits: LogConfig,
                     produce_version: int) -> tuple[bytearray | memoryview, int, int]:
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
            raise _damage_or_breach(exc) from None
    # Stamped where it lies when that is the request's own buffer, else in a private copy:
    # stamping it before a later batch fails costs nothing either way.
    buf = writable(records)
    now = int(time.time() * 1000)
    append_time = now if limits.log_append_time else -1
    read_heads = limits.compact or (not limits.log_append_time and _bounds_timestamps(limits))
    codec = limits.codec
    rewrite = False  # a batch not in the codec the topic's compression.type names
    count = 0
    batches = 0
    position = 0
    try:
        for position, header in iter_batch_headers(buf):
            if header.compression == Codec.ZSTD and produce_version < ZSTD_MIN_PRODUCE_VERSION:
                raise RecordError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                                  f"Produce requests with version {produce_version} are not allowed to use "
                                  "ZStandard compression")
            if header.base_offset != 0:
                raise RecordError(ErrorCode.INVALID_RECORD,
                                  f"The record batch's base offset is {header.base_offset}; a producer's must be 0")
            if header.size > limits.max_message_bytes:
                raise RecordError(ErrorCode.MESSAGE_TOO_LARGE,
                                  f"The record batch of {header.size} bytes is larger than max.message.bytes "
                                  f"({limits.max_message_bytes})")
            if read_heads:
                failures = record_failures(header, record_heads(buf, position, check_batch(buf, position)),
                                           limits, now)
            else:
                validate_batch(buf, position)
                failures = record_failures(header, None, limits, now) if header.log_append_time else []
            if failures:
                raise refusal(failures)
            if append_time >= 0:
                set_log_append_time(buf, position, append_time)
            rewrite = rewrite or (codec is not None and header.compression != codec)
            count += header.record_count
            batches += 1
            position += header.size
    except ProtocolError as exc:
        raise _damage_or_breach(exc) from None
    if position != len(buf) or batches == 0:
        raise RecordError(ErrorCode.CORRUPT_MESSAGE, f"record set has {len(buf) - position} bytes of partial batch")
    if produce_version >= 3 and batches != 1:
        raise RecordError(ErrorCode.INVALID_RECORD,
                          "Produce requests with version 3 and above must contain exactly one record batch")
    if rewrite:
        buf = _in_topic_codec(buf, limits)
    return buf, count, append_time


def _in_topic_codec(buf: bytearray | memoryview, limits: LogConfig) -> bytearray | memoryview:
    """The validated batches rewritten with the codec the topic's compression.type names, at its
    level, as Kafka's broker rewrites them (those already in it kept). A rewritten batch must still
    fit max.message.bytes."""
    try:
        rewritten = recompressed(buf, limits.codec, limits.codec_level)
    except ProtocolError as exc:  # records only a full decode finds fault with
        raise _damage_or_breach(exc) from None
    if len(rewritten) > limits.max_message_bytes:
        raise RecordError(ErrorCode.MESSAGE_TOO_LARGE,
                          f"The record batch of {len(rewritten)} bytes in the topic's compression.type "
                          f"({limits.compression_type}) is larger than max.message.bytes ({limits.max_message_bytes})")
    return rewritten


def _damage_or_breach(exc: ProtocolError) -> RecordError:
    """Kafka's answer to records kproto refused: INVALID_RECORD for intact ones breaking a rule, else CORRUPT_MESSAGE."""
    return RecordError(ErrorCode.INVALID_RECORD if isinstance(exc, InvalidRecordError) else ErrorCode.CORRUPT_MESSAGE,
                       str(exc))


def _bounds_timestamps(limits: LogConfig) -> bool:
    return limits.message_timestamp_before_max_ms < LONG_MAX or limits.message_timestamp_after_max_ms < LONG_MAX


def record_failures(header: BatchHeader, heads: tuple[list[int], list[int]] | None, limits: LogConfig,
                    now: int) -> list[Failure]:
    """Each refused record's first failure, in Kafka's order: a missing key on a compacted topic,
    then its timestamp. `heads` are the records' timestamp deltas and key lengths, None where
    neither check needs them (then only the batch's timestamp type can fail its records).

    A LogAppendTime batch gives all its records its max timestamp; a producer may set that type
    only on a CreateTime topic, and then with a timestamp, which is bounded like any other.
    The lists' min and max tell whether any record fails; only then is each one looked at.
    """
    deltas, key_lengths = heads if heads is not None else ([], [])
    keyless = limits.compact and min(key_lengths) < 0
    base = header.base_timestamp
    window = None
    if header.log_append_time:
        shared = (PRODUCER_APPEND_TIME if limits.log_append_time or header.max_timestamp == NO_TIMESTAMP
                  else _out_of_window(header.max_timestamp, timestamp_window(limits, now)))
    else:
        shared = None
        if not limits.log_append_time and _bounds_timestamps(limits):
            low, high = timestamp_window(limits, now)
            if not (low <= base + min(deltas) and base + max(deltas) <= high):
                window = low, high
    if not (keyless or shared or window):
        return []
    failures: list[Failure] = []
    for index in range(header.record_count):
        if keyless and key_lengths[index] < 0:
            failures.append((index, ErrorCode.INVALID_RECORD, KEYLESS))
        elif shared is not None:
            failures.append((index, ErrorCode.INVALID_TIMESTAMP, shared))
        elif window and (timestamp := base + deltas[index]) != NO_TIMESTAMP and (
                problem := _out_of_window(timestamp, window)):
            failures.append((index, ErrorCode.INVALID_TIMESTAMP, problem))
    return failures


def timestamp_window(limits: LogConfig, now: int) -> tuple[float, float]:
    """The CreateTime timestamps a topic takes now; an unbounded side (LONG_MAX) is infinite."""
    before, after = limits.message_timestamp_before_max_ms, limits.message_timestamp_after_max_ms
    return (now - before if before < LONG_MAX else -math.inf, now + after if after < LONG_MAX else math.inf)


def _out_of_window(timestamp: int, window: tuple[float, float]) -> str | None:
    low, high = window
    if low <= timestamp <= high:
        return None
    return (f"timestamp {timestamp} is outside [{low}, {high}], the bounds "
            "message.timestamp.before.max.ms and message.timestamp.after.max.ms set")


def refusal(failures: list[Failure]) -> RecordError:
    """The whole batch's refusal: INVALID_TIMESTAMP if any record failed on its timestamp, else
    INVALID_RECORD, listing every failed record for Produce v8+'s record errors."""
    record_errors = [(index, why) for index, _, why in failures]
    if any(code == ErrorCode.INVALID_TIMESTAMP for _, code, _ in failures):
        return RecordError(ErrorCode.INVALID_TIMESTAMP, "One or more records were refused for their timestamps",
                           record_errors)
    named = "; ".join(f"record {index}: {why}" for index, why in record_errors[:ERRORS_NAMED])
    return RecordError(ErrorCode.INVALID_RECORD,
                       f"{len(failures)} record(s) of the batch were refused, the first {ERRORS_NAMED} at most: {named}",
                       record_errors)
