"""The broker's hot path: validate a produced batch, stamp its offset and append time, in place."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st
from kafka.record.memory_records import MemoryRecords

from kproto import InvalidRecordError, ProtocolError
from kproto.compression import Codec, compress
from kproto.records import (
    HEADER_SIZE,
    Record,
    batch_crc_ok,
    build_batch,
    build_end_txn_marker,
    check_batch,
    decode_batch,
    read_batch_header,
    record_heads,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batch,
)
from kproto.records.record import MIN_RECORD_SIZE, encode_records, walk_records
from kproto.records.varint import read_varint, varint_bytes

from batchforge import forge

RECORDS = [Record(i, 1_000 + i, b"k%d" % i, b"value-%d" % i, [("h", b"x")]) for i in range(10)]


@pytest.mark.parametrize("codec", list(Codec))
def test_stamping_keeps_the_batch_valid_for_us_and_kafka_python(codec: Codec) -> None:
    buf = bytearray(b"\x00" * 7 + build_batch(RECORDS, compression=codec))
    set_base_offset(buf, 7, 5_000)
    set_log_append_time(buf, 7, 99_999)
    header = validate_batch(buf, 7)
    assert batch_crc_ok(buf, 7, header) and header.log_append_time and header.base_offset == 5_000
    batch = decode_batch(buf, 7)
    assert [(r.offset, r.timestamp) for r in batch.records] == [(5_000 + i, 99_999) for i in range(10)]
    theirs = MemoryRecords(bytes(buf[7:])).next_batch()
    assert theirs.validate_crc() and theirs.timestamp_type == 1
    assert [(r.offset, r.timestamp) for r in theirs] == [(5_000 + i, 99_999) for i in range(10)]


def test_set_base_offset_leaves_the_crc_alone() -> None:
    buf = bytearray(build_batch(RECORDS))
    crc = read_batch_header(buf).crc
    set_base_offset(buf, 0, 2**40)
    assert read_batch_header(buf).crc == crc and batch_crc_ok(buf, 0, read_batch_header(buf))
    with pytest.raises(ProtocolError, match="truncated"):
        set_base_offset(bytearray(10), 0, 1)
    with pytest.raises(ProtocolError, match="declares"):
        set_log_append_time(buf[:-1], 0, 1)


def test_partition_leader_epoch_is_stamped_at_byte_12_outside_the_crc() -> None:
    buf = bytearray(build_batch(RECORDS))
    before = bytes(buf)
    set_partition_leader_epoch(buf, 0, 7)
    header = read_batch_header(buf)
    assert header.partition_leader_epoch == 7 and buf[12:16] == b"\x00\x00\x00\x07"
    assert buf[:12] == before[:12] and buf[16:] == before[16:]  # the CRC and everything it covers unchanged
    assert batch_crc_ok(buf, 0, header) and MemoryRecords(bytes(buf)).next_batch().validate_crc()
    with pytest.raises(ProtocolError, match="truncated"):
        set_partition_leader_epoch(bytearray(10), 0, 1)


def test_bad_crc() -> None:
    buf = bytearray(build_batch(RECORDS))
    buf[-1] ^= 1
    with pytest.raises(ProtocolError, match=r"record batch at byte 0 has CRC 0x[0-9a-f]{8}, its bytes give") as caught:
        validate_batch(buf)
    assert not isinstance(caught.value, InvalidRecordError)  # damaged, not merely against the rules


@pytest.mark.parametrize("codec", list(Codec))
@pytest.mark.parametrize("declared", [0, 9, 11, 2**31 - 1, -1])
def test_record_count_must_match(codec: Codec, declared: int) -> None:
    data = forge(build_batch(RECORDS, compression=codec), record_count=declared)
    with pytest.raises(InvalidRecordError, match="record batch at byte 0"):
        validate_batch(data)
    with pytest.raises(ProtocolError):
        decode_batch(data)


@pytest.mark.parametrize("codec", list(Codec))
def test_count_is_checked_even_when_the_offset_delta_agrees(codec: Codec) -> None:
    nine = bytearray(forge(build_batch(RECORDS[:9], compression=codec), record_count=10))
    struct.pack_into(">i", nine, 23, 9)  # lastOffsetDelta, so that only the walk can tell
    with pytest.raises(ProtocolError, match="declares 10 records, holds 9"):
        validate_batch(forge(nine))


def test_producer_rules() -> None:
    marker = build_end_txn_marker(1, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp=0)
    with pytest.raises(InvalidRecordError, match="control batch"):
        validate_batch(marker)
    gappy = build_batch([Record(0, 0, None, b"a"), Record(5, 0, None, b"b")])
    with pytest.raises(InvalidRecordError, match="last offset delta 5"):
        validate_batch(gappy)
    assert validate_batch(gappy, from_producer=False).record_count == 2
    unsequenced = build_batch(RECORDS, producer_id=3, producer_epoch=0)
    with pytest.raises(InvalidRecordError, match="producer id 3 but sequence number -1"):
        check_batch(unsequenced)
    assert check_batch(build_batch(RECORDS, producer_id=3, producer_epoch=0, base_sequence=0)).record_count == 10


def test_records_must_tile_the_batch() -> None:
    data = build_batch(RECORDS)
    with pytest.raises(InvalidRecordError, match="record 10 declares length"):
        validate_batch(forge(data + b"\x02"))
    with pytest.raises(InvalidRecordError, match="record 9 runs 1 bytes past the end"):
        validate_batch(forge(data[:-1]))
    for bad in (forge(data + b"\x02"), forge(data[:-1])):
        with pytest.raises(InvalidRecordError):
            record_heads(bad, 0, check_batch(bad))


@pytest.mark.parametrize("codec", list(Codec))
def test_record_heads_give_each_records_timestamp_delta_and_key_length(codec: Codec) -> None:
    records = [Record(0, 5_000, b"key", b"v"), Record(1, 4_000, None, b"v"), Record(2, 10**12, b"", None),
               Record(3, 5_000, b"long" * 100, b"x" * 20_000)]  # lengths of one, two and three bytes
    data = build_batch(records, compression=codec)
    assert record_heads(data, 0, check_batch(data)) == ([0, -1_000, 10**12 - 5_000, 0], [3, -1, 0, 400])
    miscounted = forge(data, record_count=5)
    with pytest.raises(InvalidRecordError, match="declares 5 records, holds 4"):
        record_heads(miscounted, 0, check_batch(miscounted, from_producer=False))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2 ** 40), 2 ** 40), st.one_of(st.none(), st.binary(max_size=300))),
                min_size=1, max_size=300))
def test_record_heads_agree_with_decoding(rows: list[tuple[int, bytes | None]]) -> None:
    data = build_batch([Record(i, timestamp, key, b"v") for i, (timestamp, key) in enumerate(rows)])
    records = decode_batch(data).records
    deltas, key_lengths = record_heads(data, 0, check_batch(data))
    assert [records[0].timestamp + d for d in deltas] == [r.timestamp for r in records]
    assert key_lengths == [-1 if r.key is None else len(r.key) for r in records]


def test_record_heads_find_a_key_longer_than_its_record() -> None:
    data = bytearray(build_batch([Record(0, 0, b"k", b"v")]))
    data[HEADER_SIZE + 4] = 0x7E  # the key length byte, after record length, attributes and two deltas
    data = forge(data)
    assert validate_batch(data).record_count == 1  # the walk reads lengths only
    with pytest.raises(InvalidRecordError, match="key length 63"):
        record_heads(data, 0, check_batch(data))


def count_by_reading_each_length(data: bytes) -> int | None:
    """The walk's meaning, spelled out: every length valid and in bounds, the last ending at the end."""
    count = pos = 0
    while pos < len(data):
        try:
            length, pos = read_varint(data, pos, len(data))
        except ProtocolError:
            return None
        if length < MIN_RECORD_SIZE or length > len(data) - pos:
            return None
        pos += length
        count += 1
    return count


# Lengths around the edges (too small, negative, one/two/three varint bytes), bodies mostly of
# the declared size, sometimes a byte short or long, often repeated (runs of one size).
VALID_LENGTHS = st.one_of(st.integers(6, 70), st.integers(60, 9000), st.integers(8180, 8200))
LENGTHS = st.one_of(VALID_LENGTHS, VALID_LENGTHS, VALID_LENGTHS, st.integers(-3, 6), st.integers(-(2 ** 31), 2 ** 31))
SLACK = st.sampled_from([0] * 6 + [-1, 1])
REPEATS = st.one_of(st.just(1), st.integers(1, 40))
TAIL = st.one_of(st.just(b""), st.binary(min_size=1, max_size=3))


@settings(max_examples=500, deadline=None)
@given(records=st.lists(st.tuples(LENGTHS, SLACK, REPEATS), max_size=6), tail=TAIL)
def test_walk_agrees_with_reading_each_length(records: list[tuple[int, int, int]], tail: bytes) -> None:
    data = b"".join((varint_bytes(length) + bytes(max(0, min(length + slack, 9000)))) * repeats
                    for length, slack, repeats in records) + tail
    expected = count_by_reading_each_length(data)
    padded = b"??" + data + b"??"
    for buf, start in ((data, 0), (padded, 2), (bytearray(padded), 2), (memoryview(padded), 2)):
        if expected is None:
            with pytest.raises(ProtocolError):
                walk_records(buf, start, start + len(data))
        else:
            assert walk_records(buf, start, start + len(data)) == expected


def test_a_run_of_one_size_ends_where_the_second_length_byte_changes() -> None:
    shorter, longer = (varint_bytes(n) + bytes(n) for n in (100, 164))  # c8 01 and c8 02: one first byte
    data = shorter * 5 + longer * 5 + shorter * 5
    assert walk_records(data, 0, len(data)) == 15


@pytest.mark.parametrize("count", [63, 64, 65, 191, 192, 193, 500, 4000])
def test_a_long_run_ends_anywhere_in_a_slice(count: int) -> None:
    """Runs are checked in slices of 64, 128, 256, ... records: a size change at any record, in
    the first or the second length byte, ends the run there."""
    shorter, longer, other = (varint_bytes(n) + bytes(n) for n in (100, 164, 90))  # c8 01, c8 02, b4 01
    for after in (longer, other):
        data = shorter * count + after * 7
        for buf in (data, bytearray(data), memoryview(data)):
            assert walk_records(buf, 0, len(data)) == count + 7


def test_compressed_records_are_counted_after_decompression() -> None:
    header = build_batch(RECORDS)[:HEADER_SIZE]
    records = encode_records(RECORDS, 0, 1_000)
    with_extra = bytes(records) + bytes(encode_records([Record(10, 1_000, None, b"x")], 0, 1_000))
    gzip_header = bytearray(header)
    struct.pack_into(">h", gzip_header, 21, Codec.GZIP)  # attributes
    data = forge(gzip_header + compress(Codec.GZIP, with_extra))
    with pytest.raises(ProtocolError, match="declares 10 records, holds 11"):
        validate_batch(data)


def test_decompression_bound() -> None:
    huge = [Record(0, 0, None, bytes(2_000_000))]
    data = build_batch(huge, compression=Codec.ZSTD)
    with pytest.raises(ProtocolError, match="limit"):
        validate_batch(data, max_size=1_000_000)
    with pytest.raises(ProtocolError, match="limit"):
        decode_batch(data, max_size=1_000_000)
    assert validate_batch(data).record_count == 1


def test_unknown_codec() -> None:
    data = bytearray(build_batch(RECORDS))
    data[22] |= 0x07
    with pytest.raises(ProtocolError, match="unknown compression codec id 7"):
        validate_batch(forge(data))
