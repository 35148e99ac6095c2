"""Removing data: retention by time and size, DeleteRecords, truncation."""

from __future__ import annotations

import pytest

from kbroker.log import OffsetOutOfRangeError
from logbatches import batch, offsets_in, open_log

DAY = 24 * 3600 * 1000


def log_of_days(tmp_path, **settings):
    """Ten segments of 4 records; segment i holds timestamps of day i."""
    plog = open_log(tmp_path, segment_ms=DAY // 2, **settings)
    for day in range(10):
        plog.append(batch(4, timestamp=day * DAY))
    assert len(plog.segments) == 10
    return plog


def test_retention_by_time_uses_each_segments_largest_timestamp(tmp_path):
    plog = log_of_days(tmp_path, retention_ms=3 * DAY)
    now = 9 * DAY - 1000
    assert plog.apply_retention(now) == 6  # days 0-5 are more than 3 days older than now
    assert plog.log_start_offset == 24
    assert [s.base_offset for s in plog.segments] == [24, 28, 32, 36]
    assert not (tmp_path / "t-0" / "00000000000000000000.log").exists()
    assert not list((tmp_path / "t-0").glob("*.deleted"))
    assert offsets_in(plog.read(24, 1 << 20))[0] == 24
    with pytest.raises(OffsetOutOfRangeError):
        plog.read(23, 100)


def test_retention_may_take_the_active_segment_after_a_roll(tmp_path):
    plog = log_of_days(tmp_path, retention_ms=DAY)
    assert plog.apply_retention(100 * DAY) == 10
    assert [s.base_offset for s in plog.segments] == [40]
    assert plog.log_start_offset == plog.log_end_offset == 40
    assert plog.append(batch(1)) == 40
    assert plog.apply_retention(100 * DAY) == 0  # its record is from 2023, not expired at day 100


def test_no_retention_when_minus_one(tmp_path):
    plog = log_of_days(tmp_path, retention_ms=-1)
    assert plog.apply_retention(1000 * DAY) == 0


def test_retention_by_bytes_deletes_only_what_keeps_the_log_at_or_above_the_limit(tmp_path):
    plog = log_of_days(tmp_path, retention_ms=-1)
    size = plog.segments[0].size
    plog.config = plog.config.__class__.from_mapping({"retention.bytes": 3 * size + 10, "retention.ms": -1})
    # Kafka deletes a segment only while the excess over retention.bytes covers it whole.
    assert plog.apply_retention() == 6
    assert plog.size_in_bytes == 4 * size
    assert plog.log_start_offset == 24


def test_delete_records_moves_the_start_and_drops_whole_segments(tmp_path):
    plog = log_of_days(tmp_path)
    assert plog.delete_records_before(10) == 10
    assert plog.segments[0].base_offset == 8  # offset 10 lives in the segment starting at 8
    assert offsets_in(plog.read(10, 1 << 20))[:4] == [8, 9, 10, 11]  # whole batch, as Kafka
    assert plog.delete_records_before(5) == 10  # never moves back
    with pytest.raises(OffsetOutOfRangeError):
        plog.delete_records_before(41)
    assert plog.delete_records_before(40) == 40
    assert plog.log_end_offset == 40 and [s.base_offset for s in plog.segments] == [40]


def test_log_start_offset_survives_reopen_through_the_manager_checkpoint(tmp_path):
    from kbroker.log import LogManager

    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"segment.bytes": 200})
    for _ in range(5):
        plog.append(batch(2, value_size=60))
    plog.delete_records_before(3)
    manager.close()
    assert (tmp_path / "log-start-offset-checkpoint").read_bytes() == b"0\n1\nt 0 3\n"
    again = LogManager([tmp_path], node_id=0).open("t", 0, None, {"segment.bytes": 200})
    assert again.log_start_offset == 3


def test_truncate_to_drops_whole_batches(tmp_path):
    plog = open_log(tmp_path, segment_bytes=300)
    for _ in range(6):
        plog.append(batch(3, value_size=40))
    segments = len(plog.segments)
    assert segments > 2
    plog.truncate_to(10)  # offset 10 is inside the batch 9-11: that whole batch goes
    assert plog.log_end_offset == 9
    assert offsets_in(plog.read(0, 1 << 20))[-1] <= 8
    assert len(plog.segments) < segments
    assert plog.append(batch(1)) == 9
    plog.truncate_to(0)
    assert plog.log_end_offset == 0 and plog.log_start_offset == 0
    assert [s.base_offset for s in plog.segments] == [0]
    assert plog.append(batch(2)) == 0
