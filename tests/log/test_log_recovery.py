"""Opening a log after an unclean stop, damage, or interrupted work; what flush settings make durable."""

from __future__ import annotations

import logging
import os
import struct

from kbroker.log import LogManager
from kbroker.log.index import WRITE_EVERY
from logbatches import batch, offsets_in, open_log

SEGMENT_BYTES = 1000


def filled(tmp_path, batches=12, **settings):
    plog = open_log(tmp_path, segment_bytes=SEGMENT_BYTES, index_interval_bytes=100, **settings)
    for _ in range(batches):
        plog.append(batch(2, value_size=100))
    return plog


def crash(plog):
    """Drop the log without closing it: indexes stay preallocated, nothing is flushed (the handle
    cache closes its files in time, as a crash would have)."""
    del plog


def reopen(tmp_path, **settings):
    return open_log(tmp_path, segment_bytes=SEGMENT_BYTES, index_interval_bytes=100, **settings)


def test_torn_tail_is_cut_and_reported(tmp_path, caplog):
    plog = filled(tmp_path)
    last = plog.segments[-1]
    size = last.size
    batch_size = len(batch(2, value_size=100))
    crash(plog)
    os.truncate(last.log_path, size - 30)
    with caplog.at_level(logging.WARNING, logger="kbroker.log"):
        again = reopen(tmp_path)
    assert again.log_end_offset == 22
    assert last.log_path.stat().st_size == size - batch_size
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert f"cutting {batch_size - 30} bytes at byte {size - batch_size}" in warning
    assert "before offset 22" in warning
    assert again.append(batch(1)) == 22
    assert offsets_in(again.read(22, 1 << 20)) == [22]


def test_flipped_byte_in_the_last_batch(tmp_path):
    plog = filled(tmp_path)
    last = plog.segments[-1]
    size = last.size
    crash(plog)
    with open(last.log_path, "r+b") as f:
        f.seek(size - 5)
        value = f.read(1)
        f.seek(size - 5)
        f.write(bytes([value[0] ^ 0x40]))
    again = reopen(tmp_path)
    assert again.log_end_offset == 22
    assert offsets_in(again.read(0, 1 << 20))[0] == 0


def test_damage_in_an_older_unflushed_segment_drops_what_follows(tmp_path):
    plog = filled(tmp_path)
    first, later = plog.segments[0], plog.segments[1:]
    crash(plog)
    with open(first.log_path, "r+b") as f:
        f.seek(200)
        f.write(b"\xff" * 4)
    again = reopen(tmp_path)
    assert len(again.segments) == 1
    assert again.log_end_offset < later[0].base_offset
    assert not later[-1].log_path.exists()


def test_clean_start_trusts_the_files_without_scanning(tmp_path):
    plog = filled(tmp_path)
    last = plog.segments[-1]
    plog.close()
    with open(last.log_path, "r+b") as f:  # damage a clean scan would notice
        f.seek(last.size - 5)
        f.write(b"\x00")
    again = reopen(tmp_path, clean=True)
    assert again.log_end_offset == 24
    assert last.log_path.stat().st_size == last.size


def test_segments_below_the_recovery_point_are_not_scanned(tmp_path):
    plog = filled(tmp_path)
    first = plog.segments[0]
    recovery_point = plog.recovery_point  # rolls fsynced the older segments
    assert recovery_point == plog.segments[-1].base_offset
    crash(plog)
    with open(first.log_path, "r+b") as f:
        f.seek(first.size - 5)
        f.write(b"\x00")
    again = reopen(tmp_path, recovery_point=recovery_point)
    assert again.log_end_offset == 24


def test_missing_and_corrupt_indexes_are_rebuilt(tmp_path):
    plog = filled(tmp_path)
    first, second = plog.segments[0], plog.segments[1]
    expected_index = first.offset_index.path.read_bytes()
    expected_time = first.time_index.path.read_bytes()
    expected = plog.read(5, 1 << 20)
    plog.close()
    first.offset_index.path.unlink()
    first.time_index.path.write_bytes(b"\x00" * 7)
    second.offset_index.path.write_bytes(struct.pack(">ii", 5, 10**9))  # points past the log
    again = reopen(tmp_path, clean=True)
    assert first.offset_index.path.read_bytes() == expected_index
    assert first.time_index.path.read_bytes() == expected_time
    assert again.read(5, 1 << 20) == expected
    assert offsets_in(again.read(second.base_offset + 1, 1 << 20))[0] == second.base_offset


def test_leftovers_of_interrupted_work(tmp_path):
    plog = filled(tmp_path)
    directory = plog.directory
    bases = [s.base_offset for s in plog.segments]
    plog.close()
    (directory / "00000000000000000000.log.deleted").write_bytes(b"x")
    (directory / "00000000000000000004.log.cleaned").write_bytes(b"x")
    (directory / "00000000000000099999.index").write_bytes(b"")  # no segment of its own
    # A compaction finished writing a replacement for the second segment, then stopped.
    second = directory / f"{bases[1]:020d}.log"
    os.replace(second, directory / f"{bases[1]:020d}.log.swap")
    (directory / f"{bases[1]:020d}.index.swap").write_bytes(b"junk")
    again = reopen(tmp_path, clean=True)
    names = sorted(p.name for p in directory.iterdir())
    assert not [n for n in names if n.endswith((".deleted", ".cleaned", ".swap"))]
    assert "00000000000000099999.index" not in names
    assert second.exists()
    assert [s.base_offset for s in again.segments] == bases
    assert offsets_in(again.read(bases[1], 1 << 20))[0] == bases[1]


def test_flush_messages_one_makes_each_append_durable(tmp_path):
    plog = filled(tmp_path, batches=1, flush_messages=1)
    assert plog.recovery_point == plog.log_end_offset == 2
    plog.append(batch(3))
    assert plog.recovery_point == 5
    assert plog.segments[-1].log_path.stat().st_size == plog.segments[-1].size


def test_default_flush_leaves_the_recovery_point_behind(tmp_path):
    plog = filled(tmp_path, batches=3)
    assert plog.recovery_point == 0
    plog.flush()
    assert plog.recovery_point == plog.log_end_offset


def test_flush_ms_through_the_periodic_check(tmp_path):
    plog = filled(tmp_path, batches=2, flush_ms=1000)
    plog.flush_if_due(now=0)
    assert plog.recovery_point == 0
    plog.flush_if_due(now=plog._last_flush_ms + 1000)
    assert plog.recovery_point == plog.log_end_offset


def test_manager_recovers_after_an_unclean_stop(tmp_path, caplog):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"segment.bytes": SEGMENT_BYTES})
    for _ in range(12):
        plog.append(batch(2, value_size=100))
    manager.checkpoint()
    last = plog.segments[-1]
    crash(plog)  # no close: no clean-shutdown marker
    assert not (tmp_path / ".kafka_cleanshutdown").exists()
    os.truncate(last.log_path, last.size - 1)
    with caplog.at_level(logging.WARNING, logger="kbroker.log"):
        again = LogManager([tmp_path], node_id=0).open("t", 0, None, {"segment.bytes": SEGMENT_BYTES})
    assert again.log_end_offset == 22
    assert "t-0" in caplog.text


def test_index_entries_held_in_memory_at_a_crash_are_rebuilt(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=1)
    for _ in range(WRITE_EVERY + 10):
        plog.append(batch(1))
    index = plog.segments[-1].offset_index
    entries = list(zip(index.relative, index.positions))
    on_file = index.path.read_bytes()
    assert on_file[:len(entries) * 8] != b"".join(struct.pack(">ii", *e) for e in entries)  # some not written
    crash(plog)
    again = open_log(tmp_path, index_interval_bytes=1)
    rebuilt = again.segments[-1].offset_index
    assert list(zip(rebuilt.relative, rebuilt.positions)) == entries
    for offset in (0, WRITE_EVERY, WRITE_EVERY + 9):
        assert offsets_in(again.read(offset, 1))[0] == offset
