"""Produce validation refuses what Kafka's LogValidator refuses, with its error codes and record indexes."""

from __future__ import annotations

import struct
import time

import crc32c
import pytest

from kproto import ErrorCode
from kproto.compression import Codec
from kproto.records import HEADER_SIZE, Record, build_batch, build_message_set, decode_batch
from kproto.records.record import encode_records

from kbroker.log import LogConfig
from kbroker.validation import KEYLESS, PRODUCER_APPEND_TIME, RecordError, validate_records

COMPACTED = LogConfig(cleanup_policy="compact")
HOUR = 3600 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def batch(keys: list[bytes | None], timestamps: list[int] | None = None, **kwargs) -> bytes:
    stamps = timestamps or [now_ms()] * len(keys)
    return build_batch([Record(i, stamps[i], key, b"value-%d" % i) for i, key in enumerate(keys)], **kwargs)


def refusal(records: bytes, limits: LogConfig, produce_version: int = 9) -> RecordError:
    with pytest.raises(RecordError) as caught:
        validate_records(records, limits, produce_version)
    return caught.value


def fix_crc(buf: bytearray) -> bytes:
    struct.pack_into(">I", buf, 17, crc32c.crc32c(bytes(buf[21:])))
    return bytes(buf)


@pytest.mark.parametrize("codec", [Codec.NONE, Codec.LZ4, Codec.GZIP])
def test_a_keyless_record_on_a_compacted_topic_fails_the_batch_with_its_index(codec: Codec) -> None:
    error = refusal(batch([b"a", None, b"c", None], compression=codec), COMPACTED)
    assert error.error == ErrorCode.INVALID_RECORD
    assert error.record_errors == [(1, KEYLESS), (3, KEYLESS)]
    assert KEYLESS in str(error)


def test_keyed_records_and_tombstones_pass_on_a_compacted_topic() -> None:
    records = build_batch([Record(0, now_ms(), b"a", b"1"), Record(1, now_ms(), b"a", None)])
    _, count, _ = validate_records(records, COMPACTED, 9)
    assert count == 2


def test_a_keyless_record_passes_where_the_topic_is_not_compacted() -> None:
    _, count, _ = validate_records(batch([None, None]), LogConfig(cleanup_policy="delete"), 9)
    assert count == 2


def test_legacy_message_sets_are_checked_after_conversion() -> None:
    legacy = build_message_set([Record(0, now_ms(), None, b"v")], magic=1)
    assert refusal(legacy, COMPACTED, produce_version=2).error == ErrorCode.INVALID_RECORD
    mixed = build_message_set([Record(0, -1, b"k", b"v")], magic=0) + legacy
    assert refusal(mixed, LogConfig(), produce_version=2).error == ErrorCode.INVALID_RECORD
    damaged = bytearray(legacy)
    damaged[-1] ^= 0xFF
    assert refusal(bytes(damaged), LogConfig(), produce_version=2).error == ErrorCode.CORRUPT_MESSAGE


def test_timestamps_outside_the_topics_bounds_are_invalid_timestamp_with_their_indexes() -> None:
    limits = LogConfig(message_timestamp_before_max_ms=HOUR, message_timestamp_after_max_ms=HOUR)
    now = now_ms()
    error = refusal(batch([b"a", b"b", b"c", b"d"], [now, now - 2 * HOUR, now + 2 * HOUR, -1]), limits)
    assert error.error == ErrorCode.INVALID_TIMESTAMP
    assert [index for index, _ in error.record_errors] == [1, 2]  # -1: no timestamp, not checked
    _, count, _ = validate_records(batch([b"a"], [now - HOUR // 2]), limits, 9)
    assert count == 1


def test_one_bound_alone_is_applied() -> None:
    ahead = LogConfig(message_timestamp_after_max_ms=HOUR)
    assert validate_records(batch([b"a"], [0]), ahead, 9)[1] == 1  # age is unbounded
    assert refusal(batch([b"a"], [now_ms() + 2 * HOUR]), ahead).error == ErrorCode.INVALID_TIMESTAMP


def test_a_key_failure_comes_first_but_any_timestamp_failure_decides_the_code() -> None:
    limits = LogConfig(cleanup_policy="compact", message_timestamp_before_max_ms=HOUR)
    old = now_ms() - 2 * HOUR
    error = refusal(batch([None, b"b"], [old, old]), limits)
    assert error.error == ErrorCode.INVALID_TIMESTAMP
    assert [(index, why == KEYLESS) for index, why in error.record_errors] == [(0, True), (1, False)]


def test_log_append_time_topics_ignore_bounds_but_refuse_a_producers_log_append_time() -> None:
    limits = LogConfig(message_timestamp_type="LogAppendTime", message_timestamp_before_max_ms=HOUR)
    assert validate_records(batch([b"a"], [0]), limits, 9)[1] == 1
    error = refusal(batch([b"a", b"b"], log_append_time=now_ms()), limits)
    assert error.error == ErrorCode.INVALID_TIMESTAMP
    assert error.record_errors == [(0, PRODUCER_APPEND_TIME), (1, PRODUCER_APPEND_TIME)]


def test_a_create_time_topic_takes_a_producers_log_append_time_only_with_a_timestamp() -> None:
    assert validate_records(batch([b"a"], log_append_time=now_ms()), LogConfig(), 9)[1] == 1
    error = refusal(batch([b"a"], log_append_time=-1), LogConfig())
    assert (error.error, error.record_errors) == (ErrorCode.INVALID_TIMESTAMP, [(0, PRODUCER_APPEND_TIME)])


@pytest.mark.parametrize("limits", [LogConfig(), COMPACTED], ids=["opaque", "read"])
def test_intact_batches_breaking_the_rules_are_invalid_record_and_damaged_ones_corrupt_message(
        limits: LogConfig) -> None:
    good = bytearray(batch([b"a", b"b", b"c"]))
    miscounted = bytearray(good)
    struct.pack_into(">i", miscounted, 57, 4)  # four records declared, and last offset delta 2
    assert refusal(fix_crc(miscounted), limits).error == ErrorCode.INVALID_RECORD
    consistent = bytearray(miscounted)
    struct.pack_into(">i", consistent, 23, 3)  # four declared, deltas to 3, three present
    assert refusal(fix_crc(consistent), limits).error == ErrorCode.INVALID_RECORD
    based = bytearray(good)
    struct.pack_into(">q", based, 0, 7)
    assert refusal(bytes(based), limits).error == ErrorCode.INVALID_RECORD
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF
    assert refusal(bytes(damaged), limits).error == ErrorCode.CORRUPT_MESSAGE


def test_a_producer_id_without_a_sequence_is_invalid_record() -> None:
    records = batch([b"a"], producer_id=7, producer_epoch=0)
    assert refusal(records, LogConfig()).error == ErrorCode.INVALID_RECORD


def test_the_opaque_path_does_not_look_inside_records_where_no_check_needs_it() -> None:
    """A key length running past its record goes unseen unless the topic's checks read keys."""
    records = bytearray(batch([b"k"]))
    key_length_at = 61 + 4  # after the header, and the record's length, attributes, timestamp and offset deltas
    assert records[key_length_at] == 2  # zigzag 1
    records[key_length_at] = 0x7E  # 63 bytes of key, in a record of a dozen
    records = fix_crc(records)
    assert validate_records(records, LogConfig(), 9)[1] == 1
    assert refusal(records, COMPACTED).error == ErrorCode.INVALID_RECORD


def test_accepted_batches_are_appended_as_they_came() -> None:
    records = batch([b"a", b"b"], [now_ms(), now_ms()], compression=Codec.LZ4)
    buf, _, _ = validate_records(records, LogConfig(cleanup_policy="compact", message_timestamp_after_max_ms=HOUR), 9)
    assert bytes(buf) == records and [r.key for r in decode_batch(buf).records] == [b"a", b"b"]


def test_a_log_append_time_topic_with_a_codec_stamps_the_rewritten_batch() -> None:
    produced = build_batch([Record(i, 1_000 + i, b"k", b"v" * 100) for i in range(3)], compression=Codec.LZ4,
                           producer_id=7, producer_epoch=2, base_sequence=40)
    buf, count, append_time = validate_records(produced, LogConfig(compression_type="gzip",
                                                                    message_timestamp_type="LogAppendTime"), 9)
    header, records = decode_batch(buf)
    assert count == 3 and append_time > 0
    assert (header.compression, header.log_append_time, header.max_timestamp) == (Codec.GZIP, True, append_time)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 2, 40)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in records] == [(i, b"k", b"v" * 100, append_time)
                                                                         for i in range(3)]


def test_a_batch_too_large_once_rewritten_is_refused() -> None:
    """lz4 packs these 3,000 bytes into a few dozen; uncompressed they exceed max.message.bytes."""
    produced = build_batch([Record(i, now_ms(), None, b"x" * 1_000) for i in range(3)], compression=Codec.LZ4)
    limits = LogConfig(compression_type="uncompressed", max_message_bytes=1_000)
    assert len(produced) < 1_000
    error = refusal(produced, limits)
    assert error.error == ErrorCode.MESSAGE_TOO_LARGE and "compression.type (uncompressed)" in str(error)


def test_the_topic_level_is_the_codec_level() -> None:
    value = b",".join(b"%d" % (i * 7919 % 10007) for i in range(2_000))
    produced = build_batch([Record(i, now_ms(), None, value) for i in range(5)])
    sizes = {}
    for level in (1, 9):
        buf, _, _ = validate_records(produced, LogConfig(compression_type="gzip", compression_gzip_level=level), 9)
        assert bytes(buf) == build_batch(decode_batch(produced).records, compression=Codec.GZIP, level=level)
        sizes[level] = len(buf)
    assert sizes[9] < sizes[1]


def test_inner_offsets_an_old_client_got_wrong_are_numbered_anew_when_rewritten() -> None:
    """Kafka's rewrite numbers records on from the base offset whatever inner offsets they had:
    here every record says offset delta 0, with a header that counts three."""
    stamp = now_ms()
    header = build_batch([Record(i, stamp, None, b"v%d" % i) for i in range(3)])[:HEADER_SIZE]
    produced = bytearray(header + encode_records([Record(0, stamp, None, b"v%d" % i) for i in range(3)], 0, stamp))
    struct.pack_into(">i", produced, 8, len(produced) - 12)
    buf, count, _ = validate_records(fix_crc(produced), LogConfig(compression_type="gzip"), 9)
    assert count == 3 and [r.offset for r in decode_batch(buf).records] == [0, 1, 2]


def test_records_only_a_full_decode_refuses_are_refused_not_dropped() -> None:
    """A header count that runs past its record: the rewrite's decode finds it, and the produce
    is answered with Kafka's error for damaged records."""
    record = bytearray(build_batch([Record(0, now_ms(), None, b"value")]))
    record[-1] = 0x02  # the record's header count, 0, becomes 1 with no header after it
    error = refusal(fix_crc(record), LogConfig(compression_type="gzip"))
    assert error.error in (ErrorCode.CORRUPT_MESSAGE, ErrorCode.INVALID_RECORD)
