"""ListOffsets v0's old-style offsets from a partition log: segment starts dated by file mtimes."""

from __future__ import annotations

import os

from kbroker.handlers.list_offsets import EARLIEST, LATEST, old_style_offsets
from logbatches import batch, open_log

HOUR_MS = 3_600_000
T0_MS = 1_700_000_000_000


def three_segments(tmp_path):
    """Segments starting at 0, 2 and 4 (the last holding records, so the log end 6 counts too),
    their files last written an hour apart from T0."""
    plog = open_log(tmp_path, segment_bytes=100)
    for _ in range(3):
        plog.append(batch(2, value_size=40))
    assert [s.base_offset for s in plog.segments] == [0, 2, 4]
    for i, segment in enumerate(plog.segments):
        stamp = (T0_MS + i * HOUR_MS) / 1000
        os.utime(segment.log_path, (stamp, stamp))
    return plog


def test_latest_and_earliest(tmp_path):
    plog = three_segments(tmp_path)
    assert old_style_offsets(plog, LATEST, 10, from_consumer=True) == [6, 4, 2, 0]
    assert old_style_offsets(plog, LATEST, 2, from_consumer=True) == [6, 4]
    assert old_style_offsets(plog, EARLIEST, 10, from_consumer=True) == [0]
    assert old_style_offsets(plog, LATEST, 0, from_consumer=True) == []


def test_by_time_the_segments_last_written_by_then(tmp_path):
    plog = three_segments(tmp_path)
    assert old_style_offsets(plog, T0_MS - 1, 10, from_consumer=True) == []
    assert old_style_offsets(plog, T0_MS, 10, from_consumer=True) == [0]
    assert old_style_offsets(plog, T0_MS + HOUR_MS + 1, 10, from_consumer=True) == [2, 0]
    assert old_style_offsets(plog, T0_MS + HOUR_MS + 1, 1, from_consumer=True) == [2]


def test_the_log_start_stands_for_a_segment_it_cuts(tmp_path):
    plog = three_segments(tmp_path)
    plog.delete_records_before(3)  # the segment wholly below goes; the one holding 3 stays
    assert old_style_offsets(plog, LATEST, 10, from_consumer=True) == [6, 4, 3]
    assert old_style_offsets(plog, EARLIEST, 10, from_consumer=True) == [3]


def test_a_consumer_sees_nothing_above_the_high_watermark(tmp_path):
    plog = three_segments(tmp_path)
    plog.high_watermark = 5  # followers have not caught up with the last batch
    assert old_style_offsets(plog, LATEST, 10, from_consumer=True) == [5, 4, 2, 0]
    assert old_style_offsets(plog, LATEST, 10, from_consumer=False) == [6, 4, 2, 0]
