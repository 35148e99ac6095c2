"""RecordBatch v2: round trips, every attribute, and agreement with kafka-python both ways."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kproto import ProtocolError
from kproto.compression import Codec
from kproto.records import (
    ControlType,
    EndTxnMarker,
    Record,
    build_batch,
    build_end_txn_marker,
    decode_batch,
    decode_batches,
    read_control_type,
    read_end_txn_marker,
    validate_batch,
)

CODECS = list(Codec)


def sample_records(base: int = 0, count: int = 20) -> list[Record]:
    """Records with null and empty keys and values, headers, large values, unordered timestamps."""
    records = []
    for i in range(count):
        key = None if i % 5 == 0 else b"key-%d" % i
        value = None if i % 7 == 3 else (b"" if i % 7 == 4 else b"v" * (i * 37))
        headers = [("trace", b"t%d" % i), ("nothing", None), ("ünï", b"\x00\xff")] if i % 3 else []
        records.append(Record(base + i, 1_700_000_000_000 + (i * 7919) % 1000 - 500, key, value, headers))
    return records


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_every_codec(codec: Codec) -> None:
    records = sample_records()
    batch = decode_batch(build_batch(records, compression=codec))
    assert batch.records == records
    assert batch.header.compression == codec
    assert batch.header.record_count == len(records)
    assert batch.header.max_timestamp == max(r.timestamp for r in records)
    assert batch.header.base_timestamp == records[0].timestamp


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("transactional", [False, True])
def test_round_trip_every_attribute(codec: Codec, transactional: bool) -> None:
    records = sample_records(base=1000, count=5)
    data = build_batch(records, base_offset=1000, compression=codec, transactional=transactional,
                       producer_id=42, producer_epoch=7, base_sequence=123, partition_leader_epoch=9,
                       base_timestamp=1_600_000_000_000)
    header = decode_batch(data).header
    assert (header.base_offset, header.partition_leader_epoch, header.producer_id, header.producer_epoch,
            header.base_sequence, header.is_transactional, header.is_control, header.log_append_time) == (
        1000, 9, 42, 7, 123, transactional, False, False)
    assert header.base_timestamp == 1_600_000_000_000
    assert decode_batch(data).records == records
    assert validate_batch(data) == header


def test_log_append_time_gives_every_record_the_append_time() -> None:
    data = build_batch(sample_records(count=3), log_append_time=1_234)
    batch = decode_batch(data)
    assert batch.header.log_append_time and batch.header.max_timestamp == 1_234
    assert [r.timestamp for r in batch.records] == [1_234] * 3


def test_offset_gaps_and_order() -> None:
    records = [Record(10, 0, b"a", b"1"), Record(15, 0, b"b", b"2"), Record(99, 0, b"c", b"3")]
    batch = decode_batch(build_batch(records, base_offset=10))
    assert batch.records == records and batch.header.last_offset == 99
    with pytest.raises(ValueError):
        build_batch(list(reversed(records)), base_offset=10)
    with pytest.raises(ValueError):
        build_batch(records, base_offset=11)
    with pytest.raises(ValueError):
        build_batch([])


def test_decode_batches_skips_a_partial_trailing_batch() -> None:
    first = build_batch(sample_records(count=2))
    second = build_batch(sample_records(base=2, count=2), base_offset=2)
    batches = decode_batches(first + second + second[:-5])
    assert [b.header.base_offset for b in batches] == [0, 2]


@pytest.mark.parametrize("kind", list(ControlType))
def test_end_txn_marker(kind: ControlType) -> None:
    data = build_end_txn_marker(kind, producer_id=77, producer_epoch=3, coordinator_epoch=11,
                                timestamp=5_000, base_offset=40)
    batch = decode_batch(data)
    assert batch.header.is_control and batch.header.is_transactional
    assert (batch.header.producer_id, batch.header.producer_epoch, batch.header.base_offset) == (77, 3, 40)
    assert read_end_txn_marker(batch.records[0]) == EndTxnMarker(kind, 11)
    theirs = MemoryRecords(data).next_batch()
    assert theirs.is_control_batch and theirs.is_transactional
    assert validate_batch(data, from_producer=False).is_control


def test_control_record_errors() -> None:
    assert read_control_type(b"\x00\x00\x00\x02") == 2
    with pytest.raises(ProtocolError, match="not a transaction marker"):
        read_end_txn_marker(Record(0, 0, b"\x00\x00\x00\x05", b"\x00" * 6))
    with pytest.raises(ProtocolError, match="unknown version"):
        read_control_type(b"\x00\x01\x00\x00")
    with pytest.raises(ProtocolError, match="null"):
        read_control_type(None)
    with pytest.raises(ProtocolError, match="needs 6"):
        read_end_txn_marker(Record(0, 0, b"\x00\x00\x00\x01", b"\x00"))


def kafka_python_records(data: bytes) -> tuple[object, list[tuple]]:
    batch = MemoryRecords(data).next_batch()
    assert batch.validate_crc()
    return batch, [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_reads_our_batches(codec: Codec) -> None:
    records = sample_records(base=500)
    data = build_batch(records, base_offset=500, compression=codec, transactional=True, producer_id=9,
                       producer_epoch=2, base_sequence=17)
    batch, theirs = kafka_python_records(data)
    assert theirs == [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in records]
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.is_transactional,
            batch.compression_type) == (9, 2, 17, True, codec)


@pytest.mark.parametrize("codec", CODECS)
def test_we_read_kafka_python_batches(codec: Codec) -> None:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=31, producer_epoch=1, base_sequence=0,
                                        batch_size=10_000_000)
    records = sample_records()
    for r in records:
        builder.append(r.offset, timestamp=r.timestamp, key=r.key, value=r.value, headers=list(r.headers))
    data = bytes(builder.build())
    batch = decode_batch(data)
    assert batch.records == records
    assert batch.header.compression == codec and batch.header.producer_id == 31
    validate_batch(data)


header_values = st.one_of(st.none(), st.binary(max_size=20))
record_bodies = st.tuples(
    st.integers(min_value=1, max_value=1000),  # offset gap to the previous record
    st.integers(min_value=-1, max_value=2**42),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.lists(st.tuples(st.text(max_size=10), header_values), max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(bodies=st.lists(record_bodies, min_size=1, max_size=30), codec=st.sampled_from(CODECS),
       base_offset=st.integers(min_value=0, max_value=2**62), append_time=st.one_of(st.none(), st.integers(0, 2**42)))
def test_property_build_then_decode(bodies: list, codec: Codec, base_offset: int, append_time: int | None) -> None:
    records = []
    offset = base_offset
    for gap, timestamp, key, value, headers in bodies:
        offset += gap if records else 0
        records.append(Record(offset, timestamp, key, value, headers))
    data = build_batch(records, base_offset=base_offset, compression=codec, log_append_time=append_time)
    decoded = decode_batch(data).records
    if append_time is not None:
        records = [r._replace(timestamp=append_time) for r in records]
    assert decoded == records
    validate_batch(data, from_producer=False)


near_records = st.lists(st.tuples(
    st.integers(min_value=1, max_value=200),  # offset gap: deltas of one and two bytes
    st.integers(min_value=-9000, max_value=9000),  # timestamp delta: one, two and three bytes
    st.one_of(st.none(), st.binary(max_size=70)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=9000).map(bytes)),  # values either side of 64 B and 8 KiB
    st.lists(st.tuples(st.text(max_size=70), header_values), max_size=2),
), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(bodies=near_records)
def test_property_kafka_python_agrees_both_ways(bodies: list) -> None:
    """The sizes where reading switches between inline one- and two-byte varints and a call."""
    records = []
    offset = 0
    for gap, delta, key, value, headers in bodies:
        offset += gap if records else 0
        records.append(Record(offset, 1_700_000_000_000 + delta, key, value, headers))
    ours = build_batch(records, base_timestamp=1_700_000_000_000)
    assert kafka_python_records(ours)[1] == [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in records]
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=10_000_000)
    for r in records:
        builder.append(r.offset, timestamp=r.timestamp, key=r.key, value=r.value, headers=list(r.headers))
    assert decode_batch(bytes(builder.build())).records == records
