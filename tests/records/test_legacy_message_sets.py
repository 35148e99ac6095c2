"""Magic 0 and 1 message sets: round trips, kafka-python agreement, conversion to and from v2."""

from __future__ import annotations

import pytest
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kproto import InvalidRecordError, ProtocolError
from kproto.compression import Codec, compress
from kproto.records import (
    Record,
    batches_to_message_set,
    build_batch,
    build_end_txn_marker,
    build_message_set,
    decode_batch,
    decode_message_set,
    message_set_to_batch,
    validate_batch,
)
from kproto.records.legacy import encode_message

LEGACY_CODECS = [Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4]
CASES = [(magic, codec) for magic in (0, 1) for codec in LEGACY_CODECS]


def records_for(magic: int, base: int = 0, count: int = 12) -> list[Record]:
    return [Record(base + i, 1_650_000_000_000 + i if magic else -1, None if i == 2 else b"k%d" % i,
                   None if i == 3 else b"payload-%d" % i * (i + 1), []) for i in range(count)]


def kafka_python_view(data: bytes) -> list[tuple]:
    out = []
    records = MemoryRecords(data)
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        out += [(r.offset, -1 if r.timestamp is None else r.timestamp, r.key, r.value) for r in batch]
    return out


@pytest.mark.parametrize("magic, codec", CASES)
def test_round_trip_and_kafka_python_reads_ours(magic: int, codec: Codec) -> None:
    records = records_for(magic, base=100)
    data = build_message_set(records, magic=magic, compression=codec)
    assert decode_message_set(data) == records
    assert kafka_python_view(data) == [r[:4] for r in records]


@pytest.mark.parametrize("magic, codec", CASES)
def test_we_read_kafka_python_message_sets(magic: int, codec: Codec) -> None:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=10_000_000)
    records = records_for(magic)
    for r in records:
        builder.append(r.offset, timestamp=r.timestamp if magic else None, key=r.key, value=r.value)
    ours = decode_message_set(bytes(builder.build()))
    # kafka-python, as a producer, leaves the wrapper offset 0 for the broker to assign; in magic 1
    # inner offsets count back from it
    shift = -(len(records) - 1) if magic == 1 and codec else 0
    assert ours == [r._replace(offset=r.offset + shift) for r in records]


@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_log_append_time_in_magic_1(codec: Codec) -> None:
    data = build_message_set(records_for(1), magic=1, compression=codec, log_append_time=777)
    assert {r.timestamp for r in decode_message_set(data)} == {777}
    batch = MemoryRecords(data).next_batch()
    assert batch.timestamp_type == 1 and {r.timestamp for r in batch} == {777}


def test_magic_0_lz4_uses_the_old_header_checksum() -> None:
    old = build_message_set(records_for(0), magic=0, compression=Codec.LZ4)
    new = build_message_set(records_for(0), magic=1, compression=Codec.LZ4)
    assert decode_message_set(old) == records_for(0)
    old_frame, new_frame = old[26:], new[34:]  # after the wrapper's fields and its null key
    assert old_frame[:6] == new_frame[:6] and old_frame[6] != new_frame[6]  # header checksum byte


@pytest.mark.parametrize("magic, codec", CASES)
def test_up_conversion(magic: int, codec: Codec) -> None:
    records = records_for(magic, base=1_000)
    batch_bytes = message_set_to_batch(build_message_set(records, magic=magic, compression=codec))
    header = validate_batch(batch_bytes)
    assert header.compression == codec and header.base_offset == 0 and header.record_count == len(records)
    assert decode_batch(batch_bytes).records == [r._replace(offset=i) for i, r in enumerate(records)]
    assert decode_batch(message_set_to_batch(build_message_set(records, magic=magic, compression=codec),
                                             compression=Codec.ZSTD)).header.compression == Codec.ZSTD


def test_up_conversion_of_several_wrappers_and_plain_messages() -> None:
    first = build_message_set(records_for(1, count=3), magic=1, compression=Codec.GZIP)
    second = build_message_set(records_for(1, base=3, count=2), magic=1)
    batch = decode_batch(message_set_to_batch(first + second))
    assert [r.offset for r in batch.records] == [0, 1, 2, 3, 4] and batch.header.compression == Codec.GZIP


@pytest.mark.parametrize("magic, codec", CASES)
def test_down_conversion(magic: int, codec: Codec) -> None:
    with_headers = [Record(r.offset, r.timestamp, r.key, r.value, [("h", b"v")]) for r in records_for(1)]
    compacted = [r for r in with_headers if r.offset % 3]  # gaps, as compaction leaves them
    stored = (build_batch(compacted[:4], base_offset=0, compression=codec)
              + build_end_txn_marker(1, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp=0,
                                     base_offset=20)
              + build_batch(compacted[4:], base_offset=compacted[4].offset, compression=codec, log_append_time=5))
    data = batches_to_message_set(stored + stored[:30], magic)
    expected = [(r.offset, (r.timestamp if i < 4 else 5) if magic else -1, r.key, r.value)
                for i, r in enumerate(compacted)]
    assert [r[:4] for r in decode_message_set(data)] == expected
    assert all(r.headers == [] for r in decode_message_set(data))
    assert kafka_python_view(data) == expected


def test_down_conversion_refuses_zstd_and_builder_arguments() -> None:
    with pytest.raises(ProtocolError, match="zstd"):
        batches_to_message_set(build_batch(records_for(1), compression=Codec.ZSTD), 1)
    with pytest.raises(ValueError):
        build_message_set(records_for(1), magic=2)
    with pytest.raises(ValueError):
        build_message_set([], magic=1)
    with pytest.raises(ValueError):
        build_message_set(records_for(1), magic=1, compression=Codec.ZSTD)


def test_nested_and_empty_wrappers_are_refused() -> None:
    inner = build_message_set(records_for(1, count=2), magic=1, compression=Codec.GZIP)
    nested = encode_message(5, 1, Codec.GZIP, 0, None, compress(Codec.GZIP, inner))
    with pytest.raises(ProtocolError, match="nesting"):
        decode_message_set(nested)
    empty = encode_message(5, 1, Codec.GZIP, 0, None, compress(Codec.GZIP, b""))
    with pytest.raises(ProtocolError, match="holds no messages"):
        decode_message_set(empty)
    null = encode_message(5, 1, Codec.GZIP, 0, None, None)
    with pytest.raises(ProtocolError, match="null value"):
        decode_message_set(null)


def test_a_producers_set_breaking_the_magic_rules_is_invalid_not_damaged() -> None:
    mixed = build_message_set(records_for(0, count=2), magic=0) + build_message_set(records_for(1, count=2), magic=1)
    with pytest.raises(InvalidRecordError, match="magic 1, the set began with magic 0"):
        message_set_to_batch(mixed)
    assert len(decode_message_set(mixed, strict=False)) == 4  # a fetched set may span a format upgrade
    inner = build_message_set(records_for(0, count=2), magic=0)
    wrapper = encode_message(1, 1, Codec.GZIP, 0, None, compress(Codec.GZIP, inner))
    with pytest.raises(InvalidRecordError, match="holds messages of another magic"):
        message_set_to_batch(wrapper)
