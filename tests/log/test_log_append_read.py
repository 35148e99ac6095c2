"""Appending and reading a partition log: offsets, segment rolls, byte budgets, reopening."""

from __future__ import annotations

import struct

import pytest
from kproto.records.header import read_batch_header
from kproto.records.inplace import validate_batch

from kbroker.log import OffsetOutOfRangeError
from logbatches import batch, offsets_in, open_log


def test_append_assigns_offsets_and_rewrites_only_base_offset(tmp_path):
    plog = open_log(tmp_path)
    produced = batch(3)
    assert plog.append(bytearray(produced)) == 0
    assert plog.append(batch(2)) == 3
    assert plog.log_end_offset == plog.high_watermark == 5
    data = plog.read(0, 1 << 20)
    assert offsets_in(data) == [0, 1, 2, 3, 4]
    assert data[8:len(produced)] == produced[8:]  # everything but the base offset as produced
    validate_batch(data, 0)  # the CRC still holds: it does not cover the base offset
    second = read_batch_header(data, len(produced))
    assert second.base_offset == 3


def test_one_append_of_several_batches(tmp_path):
    plog = open_log(tmp_path)
    plog.append(batch(1))
    assert plog.append(batch(2) + batch(4) + batch(1)) == 1
    assert offsets_in(plog.read(0, 1 << 20)) == list(range(8))


def test_partial_batch_is_refused_and_nothing_written(tmp_path):
    plog = open_log(tmp_path)
    with pytest.raises(ValueError):
        plog.append(batch(2)[:-3])
    assert plog.log_end_offset == 0 and plog.size_in_bytes == 0


def test_round_trip_across_segment_rolls(tmp_path):
    plog = open_log(tmp_path, segment_bytes=1500)
    sizes = []
    for i in range(40):
        sizes.append(len(batch(2, value_size=100)))
        assert plog.append(batch(2, value_size=100)) == 2 * i
    assert len(plog.segments) > 5
    for segment in plog.segments:
        assert segment.size <= 1500
    names = [s.log_path.name for s in plog.segments]
    assert names[0] == "00000000000000000000.log"
    assert all(len(n) == len("00000000000000000000.log") for n in names)
    assert [int(n[:20]) for n in names] == [s.base_offset for s in plog.segments]
    seen = []
    offset = 0
    while offset < plog.log_end_offset:
        data = plog.read(offset, 1 << 20)
        got = offsets_in(data)
        assert got and got[0] == offset
        seen += got
        offset = got[-1] + 1
    assert seen == list(range(80))


def test_read_from_inside_a_batch_returns_the_whole_batch(tmp_path):
    plog = open_log(tmp_path)
    plog.append(batch(5))
    plog.append(batch(5))
    assert offsets_in(plog.read(7, 1 << 20)) == [5, 6, 7, 8, 9]
    assert offsets_in(plog.read(2, 1 << 20))[:5] == [0, 1, 2, 3, 4]


def test_max_bytes_cuts_like_kafka(tmp_path):
    plog = open_log(tmp_path)
    size = len(batch(1, value_size=200))
    for _ in range(3):
        plog.append(batch(1, value_size=200))
    # The first batch comes whole even over the budget...
    assert len(plog.read(0, 10, min_one=True)) == size
    # ...without min_one the budget is strict, even if that leaves only part of a batch...
    assert len(plog.read(0, 10, min_one=False)) == 10
    assert offsets_in(plog.read(0, 10, min_one=False)) == []
    # ...and later batches are cut at the budget, leaving a partial batch clients skip.
    data = plog.read(0, size + 50)
    assert len(data) == size + 50
    assert offsets_in(data) == [0]


def test_upper_bound_stops_before_the_offset(tmp_path):
    plog = open_log(tmp_path)
    for _ in range(4):
        plog.append(batch(2))
    assert offsets_in(plog.read(0, 1 << 20, upper=4)) == [0, 1, 2, 3]
    assert plog.read(4, 1 << 20, upper=4) == b""


def test_out_of_range_and_end(tmp_path):
    plog = open_log(tmp_path)
    plog.append(batch(2))
    assert plog.read(2, 100) == b""
    with pytest.raises(OffsetOutOfRangeError):
        plog.read(3, 100)
    with pytest.raises(OffsetOutOfRangeError):
        plog.read(-1, 100)


def test_on_append_callbacks(tmp_path):
    plog = open_log(tmp_path)
    calls = []
    plog.on_append.append(lambda: calls.append(plog.log_end_offset))
    plog.append(batch(2))
    plog.append(batch(1))
    assert calls == [2, 3]


def test_reopen_after_close_keeps_offsets(tmp_path):
    plog = open_log(tmp_path, segment_bytes=1000)
    for _ in range(20):
        plog.append(batch(3, value_size=50))
    expected = plog.read(30, 1 << 20)
    segments = len(plog.segments)
    plog.close()
    again = open_log(tmp_path, segment_bytes=1000, clean=True)
    assert again.log_end_offset == 60
    assert again.recovery_point == 60
    assert len(again.segments) == segments
    assert again.read(30, 1 << 20) == expected
    assert again.append(batch(1)) == 60


def test_roll_when_the_index_is_full(tmp_path):
    # 16-byte offset index: two entries, then the segment must roll.
    plog = open_log(tmp_path, segment_index_bytes=24, index_interval_bytes=1)
    for _ in range(10):
        plog.append(batch(1))
    assert len(plog.segments) > 2
    for segment in plog.segments[:-1]:
        assert len(segment.offset_index) <= 3
    assert offsets_in(plog.read(0, 1 << 20))[0] == 0


def test_roll_by_segment_ms_uses_record_time(tmp_path):
    plog = open_log(tmp_path, segment_ms=1000)
    plog.append(batch(1, timestamp=10_000))
    plog.append(batch(1, timestamp=10_500))
    assert len(plog.segments) == 1
    plog.append(batch(1, timestamp=11_001))
    assert [s.base_offset for s in plog.segments] == [0, 2]


def test_roll_before_a_relative_offset_overflows(tmp_path):
    plog = open_log(tmp_path)
    plog.append(batch(1))
    big = batch(1)
    struct.pack_into(">i", big, 23, 2**31 - 1)  # lastOffsetDelta: the batch spans 2^31 offsets
    base = plog.append(big)
    assert base == 1
    assert [s.base_offset for s in plog.segments] == [0, 1]
    assert plog.log_end_offset == 1 + 2**31
