"""Segment rolls fsynced on the log manager's log-flush thread: which files, when the recovery
point moves, segments gone before their flush, failed fsyncs, and close waiting for the flushes."""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import pytest

from kbroker.log import LogManager, flusher, partition
from kbroker.log.checkpoint import RECOVERY_POINT, read_checkpoint
from kbroker.log.metadata import CLEAN_SHUTDOWN
from logbatches import batch

SEGMENT_BYTES = {"segment.bytes": 1000}


class FsyncRecorder:
    """Stands in for the flushes' fsync: notes each path that exists and the thread it was fsynced
    on, and holds the log-flush thread at `gate` until the test opens it."""

    def __init__(self, fail_on: str | None = None, error: int = errno.EIO, failures: int = -1) -> None:
        self.synced: list[tuple[Path, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on = fail_on
        self.error = error
        self.failures = failures  # how many fsyncs of `fail_on` fail; -1: all
        self._real = flusher.fsync_if_exists

    def __call__(self, path: Path) -> None:
        if threading.current_thread().name == "log-flush":
            self.gate.wait()
        if self.fail_on is not None and path.name.endswith(self.fail_on) and self.failures:
            self.failures -= 1
            raise OSError(self.error, os.strerror(self.error), str(path))
        if os.path.exists(path):
            self.synced.append((Path(path), threading.current_thread().name))
        self._real(path)

    def paths(self, thread: str = "log-flush") -> set[Path]:
        return {path for path, name in self.synced if name == thread}


def record_fsyncs(monkeypatch, recorder: FsyncRecorder) -> FsyncRecorder:
    monkeypatch.setattr(flusher, "fsync_if_exists", recorder)
    monkeypatch.setattr(partition, "fsync_if_exists", recorder)
    return recorder


@pytest.fixture
def fsyncs(monkeypatch):
    return record_fsyncs(monkeypatch, FsyncRecorder())


def roll_once(manager: LogManager, partition: int = 0):
    """A log whose first segment just rolled (offsets 0-9 in it, the new one based at 10)."""
    plog = manager.open("t", partition, None, SEGMENT_BYTES)
    plog.on_roll.append(lambda p: (p.directory / f"{p.log_end_offset:020d}.snapshot").write_bytes(b"state"))
    for _ in range(10):
        plog.append(batch(1, value_size=20))
    assert len(plog.segments) == 1
    plog.append(batch(1, value_size=800))
    assert [s.base_offset for s in plog.segments] == [0, 10]
    return plog


def append_flushed(manager: LogManager, plog, records: int):
    """Append `records` deferring the flush, let the flush thread run, and have the log take the
    result; returns the flush job the append's answer would have waited for (None without one)."""
    plog.append(batch(records, value_size=20), defer_flush=True)
    job = plog.awaited_flush
    manager.wait_for_flushes()
    plog.take_flush_jobs()
    return job


def with_descriptors_short_once(monkeypatch, tmp_path, flush_messages: int, flush_ms: int | None = None):
    """A log manager and a log whose first fsync of a segment fails for want of descriptors."""
    fsyncs = record_fsyncs(monkeypatch, FsyncRecorder(fail_on=".log", error=errno.EMFILE, failures=1))
    manager = LogManager([tmp_path], node_id=0)
    config = {"flush.messages": flush_messages} | ({} if flush_ms is None else {"flush.ms": flush_ms})
    return fsyncs, manager, manager.open("t", 0, None, config)


def test_a_roll_fsyncs_the_segment_indexes_snapshot_and_dir_on_the_flush_thread(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    plog = roll_once(manager)
    manager.wait_for_flushes()
    directory = plog.directory
    expected = {directory / "00000000000000000000.log", directory / "00000000000000000000.index",
                directory / "00000000000000000000.timeindex", directory / "00000000000000000010.snapshot", directory}
    assert expected <= fsyncs.paths()
    assert not fsyncs.paths("MainThread")
    assert plog.recovery_point == 10
    manager.close()


def test_the_recovery_point_moves_only_once_the_roll_is_flushed(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    plog = roll_once(manager)
    assert plog.recovery_point == 0
    manager.checkpoint()
    assert read_checkpoint(tmp_path / RECOVERY_POINT) == {("t", 0): 0}
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert plog.recovery_point == 10
    manager.checkpoint()
    assert read_checkpoint(tmp_path / RECOVERY_POINT) == {("t", 0): 10}
    manager.close()


def test_a_segment_deleted_before_its_flush_is_skipped(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    plog = roll_once(manager)
    old = plog.segments[0].log_path
    assert plog.delete_records_before(10) == 10
    assert not old.exists()
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert not old.exists() and old not in fsyncs.paths()
    assert plog.storage_error is None and plog.recovery_point == 10
    plog.append(batch(1))
    manager.close()


def test_a_partition_deleted_before_its_flush_is_skipped(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    plog = roll_once(manager)
    manager.delete("t", 0)
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert not plog.directory.exists() and not fsyncs.paths()
    manager.close()


def test_a_truncation_before_the_flush_keeps_the_recovery_point_within_the_log(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    plog = roll_once(manager)
    plog.truncate_to(5)
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert plog.log_end_offset == 5 and plog.recovery_point == 0
    manager.close()


def test_a_flush_overtaking_a_roll_flush_syncs_the_rolled_segment_itself(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    plog = roll_once(manager)
    plog.flush()
    assert plog.recovery_point == plog.log_end_offset == 11
    assert {plog.segments[0].log_path, plog.segments[0].offset_index.path} <= fsyncs.paths("MainThread")
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert plog.recovery_point == 11
    manager.close()


def test_a_failed_roll_flush_keeps_the_recovery_point_refuses_appends_and_forces_recovery(
        tmp_path, monkeypatch, caplog):
    record_fsyncs(monkeypatch, FsyncRecorder(fail_on=".log"))
    manager = LogManager([tmp_path], node_id=0)
    with caplog.at_level(logging.ERROR, logger="kbroker.log"):
        plog = roll_once(manager)
        manager.wait_for_flushes()
        assert plog.recovery_point == 0
        with pytest.raises(OSError) as refused:
            plog.append(batch(1))
        assert refused.value.errno == errno.EIO
        manager.close()
    assert len([r for r in caplog.records if "log flush failed" in r.getMessage()]) == 1
    assert read_checkpoint(tmp_path / RECOVERY_POINT) == {("t", 0): 0}
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()


def test_close_finishes_queued_flush_jobs_before_the_checkpoints(tmp_path, fsyncs, monkeypatch):
    manager = LogManager([tmp_path], node_id=0)
    fsyncs.gate.clear()
    events: list[str] = []
    real = flusher.FlushJob.run

    def run(job):
        real(job)
        events.append("flushed")

    written = manager.checkpoint

    def checkpoint():
        events.append("checkpoint")
        written()

    monkeypatch.setattr(flusher.FlushJob, "run", run)
    monkeypatch.setattr(manager, "checkpoint", checkpoint)
    roll_once(manager)
    threading.Timer(0.05, fsyncs.gate.set).start()
    manager.close()
    assert events == ["flushed", "checkpoint"]
    assert (tmp_path / CLEAN_SHUTDOWN).exists()


def test_each_log_manager_flushes_on_a_thread_of_its_own(tmp_path, monkeypatch):
    threads: list[int] = []
    real = flusher.FlushJob.run

    def run(job):
        threads.append(threading.get_ident())
        real(job)

    monkeypatch.setattr(flusher.FlushJob, "run", run)
    managers = [LogManager([tmp_path / str(n)], node_id=n) for n in range(2)]
    for manager in managers:
        roll_once(manager)
        manager.wait_for_flushes()
    assert len(set(threads)) == 2 and threading.get_ident() not in threads
    for manager in managers:
        manager.close()
    assert not any(t.ident in threads for t in threading.enumerate())


def test_a_flush_ms_flush_fsyncs_on_the_flush_thread_and_moves_the_recovery_point_once_done(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"flush.ms": 1000, "index.interval.bytes": 1})
    for _ in range(5):
        plog.append(batch(1, value_size=20))
    fsyncs.gate.clear()  # the flush thread waits
    plog.flush_if_due(now=plog._last_flush_ms + 1000)
    assert plog.recovery_point == 0
    index = plog.segments[-1].offset_index
    assert index.path.read_bytes()[:len(index) * 8] == b"".join(  # written on the event loop's side
        (e[0]).to_bytes(4, "big") + (e[1]).to_bytes(4, "big") for e in zip(index.relative, index.positions))
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert plog.recovery_point == plog.log_end_offset == 5
    assert plog.segments[-1].log_path in fsyncs.paths()
    assert not fsyncs.paths("MainThread")
    plog.flush_if_due(now=plog._last_flush_ms + 999)  # not due again yet, and nothing left to flush
    manager.wait_for_flushes()
    assert len(fsyncs.synced) == 2  # the segment and its dir
    manager.close()


def test_flush_messages_flushes_on_the_flush_thread_and_holds_the_high_watermark_until_done(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    told = []
    manager.on_flushed(told.append)
    plog = manager.open("t", 0, None, {"flush.messages": 2})
    plog.append(batch(1, value_size=20), defer_flush=True)
    assert plog.awaited_flush is None and plog.high_watermark == 1  # below flush.messages: readable at once
    fsyncs.gate.clear()
    plog.append(batch(1, value_size=20), defer_flush=True)
    first = plog.awaited_flush
    assert first is not None and plog.high_watermark == 1
    plog.append(batch(1, value_size=20), defer_flush=True)  # one past the flush asked for: not yet due again
    assert plog.awaited_flush is None and plog.high_watermark == 1
    plog.append(batch(1, value_size=20), defer_flush=True)
    second = plog.awaited_flush
    assert second is not None and plog.high_watermark == 1 and plog.recovery_point == 0
    fsyncs.gate.set()
    manager.wait_for_flushes()
    assert told == [first, second]  # on the flush thread, for the owner's thread to take
    plog.take_flush_jobs()
    assert plog.recovery_point == plog.high_watermark == plog.log_end_offset == 4
    assert plog.segments[-1].log_path in fsyncs.paths() and not fsyncs.paths("MainThread")
    manager.close()


def test_a_flush_done_while_an_append_is_written_does_not_make_that_append_readable(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"flush.messages": 1} | SEGMENT_BYTES)
    fsyncs.gate.clear()
    plog.append(batch(1, value_size=20), defer_flush=True)
    # the flush thread finishes the first append's flush while the second is being written
    plog.on_roll.append(lambda p: (fsyncs.gate.set(), manager.wait_for_flushes()))
    plog.append(batch(1, value_size=1000), defer_flush=True)
    assert plog.awaited_flush is not None and plog.high_watermark == 1
    manager.wait_for_flushes()
    plog.take_flush_jobs()
    assert plog.high_watermark == plog.log_end_offset == 2
    manager.close()


def test_a_failed_flush_messages_flush_keeps_its_records_unreadable_and_refuses_appends(tmp_path, monkeypatch):
    fsyncs = record_fsyncs(monkeypatch, FsyncRecorder(fail_on=".log"))
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"flush.messages": 1})
    job = append_flushed(manager, plog, 1)
    assert job.outcome is flusher.Outcome.FAILED and fsyncs.synced == []
    assert plog.high_watermark == plog.recovery_point == 0
    with pytest.raises(OSError):
        plog.append(batch(1, value_size=20), defer_flush=True)
    manager.close()


def test_a_flush_messages_flush_put_off_for_want_of_descriptors_keeps_its_records_unreadable_until_the_next(
        tmp_path, monkeypatch):
    fsyncs, manager, plog = with_descriptors_short_once(monkeypatch, tmp_path, flush_messages=3)
    put_off = append_flushed(manager, plog, 3)
    assert put_off.outcome is flusher.Outcome.DEFERRED
    assert plog.high_watermark == plog.recovery_point == 0  # answered KAFKA_STORAGE_ERROR, not readable
    fsyncs.gate.clear()
    plog.append(batch(1, value_size=20), defer_flush=True)  # below flush.messages, yet flushed: it tries again
    again = plog.awaited_flush
    assert again is not None and plog.high_watermark == 0
    fsyncs.gate.set()
    manager.wait_for_flushes()
    plog.take_flush_jobs()
    assert again.outcome is flusher.Outcome.DONE and plog.segments[-1].log_path in fsyncs.paths()
    assert plog.high_watermark == plog.recovery_point == plog.log_end_offset == 4
    plog.append(batch(1, value_size=20), defer_flush=True)  # nothing put off any more: readable at once
    assert plog.awaited_flush is None and plog.high_watermark == 5
    manager.close()


def test_a_retry_of_an_append_whose_flush_was_put_off_asks_for_the_flush_again(tmp_path, monkeypatch):
    _, manager, plog = with_descriptors_short_once(monkeypatch, tmp_path, flush_messages=1)
    assert plog.flush_again() is None
    append_flushed(manager, plog, 2)
    assert plog.high_watermark == 0
    again = plog.flush_again()
    assert again is not None and plog.flush_again() is again  # asked for once, then pending
    manager.wait_for_flushes()
    plog.take_flush_jobs()
    assert again.outcome is flusher.Outcome.DONE
    assert plog.high_watermark == plog.recovery_point == 2 and plog.flush_again() is None
    manager.close()


def test_a_flush_on_the_log_s_own_thread_ends_a_put_off_flush_s_hold(tmp_path, monkeypatch):
    _, manager, plog = with_descriptors_short_once(monkeypatch, tmp_path, flush_messages=1)
    append_flushed(manager, plog, 2)
    assert plog.high_watermark == 0
    plog.append(batch(1, value_size=20))  # a coordinator's record: flushed before it returns
    assert plog.high_watermark == plog.recovery_point == 3
    manager.close()


def test_a_flush_put_off_after_the_log_s_own_thread_flushed_past_it_holds_nothing(tmp_path, monkeypatch):
    fsyncs, manager, plog = with_descriptors_short_once(monkeypatch, tmp_path, flush_messages=1)
    fsyncs.gate.clear()
    plog.append(batch(2, value_size=20), defer_flush=True)
    plog.append(batch(1, value_size=20))  # a transaction marker: flushed inline while the job waits
    assert plog.recovery_point == 3 and plog.high_watermark == 0
    fsyncs.gate.set()
    manager.wait_for_flushes()
    plog.take_flush_jobs()  # put off, but what it would have made durable already is
    assert plog.high_watermark == plog.recovery_point == 3
    manager.close()


def test_a_flush_ms_flush_ending_a_put_off_flush_s_hold_is_told_to_the_log_s_owner(tmp_path, monkeypatch):
    _, manager, plog = with_descriptors_short_once(monkeypatch, tmp_path, flush_messages=1, flush_ms=1000)
    append_flushed(manager, plog, 2)
    plog.replicated = True  # a leader: only the owner, told of the flush, moves the high watermark
    told = []
    manager.on_flushed(told.append)
    plog.flush_if_due(now=plog._last_flush_ms + 1000)
    manager.wait_for_flushes()
    assert [job.outcome for job in told] == [flusher.Outcome.DONE]
    plog.take_flush_jobs()
    assert plog.readable_end == plog.recovery_point == 2
    manager.close()


def test_an_append_not_deferring_its_flush_is_flushed_before_it_returns(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"flush.messages": 1})
    plog.append(batch(1, value_size=20))  # a coordinator's record or a transaction marker
    assert plog.awaited_flush is None
    assert plog.recovery_point == plog.high_watermark == 1
    manager.close()


def test_the_pending_flush_is_the_latest_flush_messages_job_until_taken(tmp_path, fsyncs):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {"flush.messages": 1})
    assert plog.pending_flush is None
    fsyncs.gate.clear()
    plog.append(batch(1, value_size=20), defer_flush=True)
    plog.append(batch(1, value_size=20), defer_flush=True)
    assert plog.pending_flush is plog.awaited_flush  # the second: a retry of the first waits for it
    fsyncs.gate.set()
    manager.wait_for_flushes()
    plog.take_flush_jobs()
    assert plog.pending_flush is None
    manager.close()
