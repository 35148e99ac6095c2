"""Compaction: last record per key, offsets kept, tombstones, transactions, ratios and lags, crashes."""

from __future__ import annotations

import os

import pytest

from kproto.compression import Codec
from kproto.records.batch import build_batch, decode_batches
from kproto.records.control import ControlType, build_end_txn_marker
from kproto.records.header import DELETE_HORIZON_BIT
from kproto.records.record import Record

from kbroker.log import LogConfig, LogManager, PartitionLog
from kbroker.log import compact
from kbroker.log.checkpoint import read_checkpoint
from kbroker.log.cleaner import CLEANER_CHECKPOINT

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000
COMPACT = {"cleanup.policy": "compact", "delete.retention.ms": DAY}


def keyed(*pairs: tuple[bytes | None, bytes | None], timestamp: int = T0, **options) -> bytearray:
    """One batch of (key, value) records."""
    records = [Record(i, timestamp, key, value) for i, (key, value) in enumerate(pairs)]
    return bytearray(build_batch(records, **options))


def records_of(plog: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the log start, control records left out."""
    out = []
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        data = plog.read(offset, 1 << 20)
        if not data:
            break
        for batch in decode_batches(data):
            if not batch.header.is_control:
                out += [(r.offset, r.key, r.value) for r in batch.records if r.offset >= offset]
            offset = batch.header.next_offset
    return out


@pytest.fixture
def manager(tmp_path):
    logs = LogManager([tmp_path / "logs"], node_id=1)
    yield logs
    logs.close()


def fill(plog: PartitionLog, *batches: bytearray) -> None:
    """Append each batch in a segment of its own, then roll, so every batch can be cleaned."""
    for data in batches:
        plog.append(data)
        plog.roll()


def test_keeps_the_last_record_per_key_at_its_original_offset(manager):
    plog = manager.open("t", 0, config=COMPACT)
    fill(plog, keyed((b"a", b"1"), (b"b", b"1")), keyed((b"a", b"2"), (b"c", b"1")), keyed((b"b", b"2")))
    plog.append(keyed((b"a", b"3")))  # the active segment is never cleaned
    assert manager.run_cleaner(T0) == [("t", 0)]
    assert records_of(plog) == [(2, b"a", b"2"), (3, b"c", b"1"), (4, b"b", b"2"), (5, b"a", b"3")]
    assert plog.log_start_offset == 0 and plog.log_end_offset == 6
    assert len(plog.segments) == 2  # the three cleaned segments fit one
    assert (plog.directory / "00000000000000000000.index").exists()
    assert not [p for p in plog.directory.iterdir() if p.name.endswith((".cleaned", ".swap", ".deleted"))]
    assert read_checkpoint(plog.directory.parent / CLEANER_CHECKPOINT) == {("t", 0): 5}


def test_a_batch_losing_records_keeps_its_base_offset_last_offset_and_producer_fields(manager):
    plog = manager.open("t", 0, config=COMPACT)
    fill(plog, keyed((b"a", b"1"), (b"b", b"1"), (b"c", b"1"), compression=Codec.GZIP,
                     producer_id=7, producer_epoch=2, base_sequence=0), keyed((b"a", b"2"), (b"c", b"2")))
    manager.run_cleaner(T0)
    [first, second] = decode_batches(plog.read(0, 1 << 20))
    assert (first.header.base_offset, first.header.last_offset) == (0, 2)
    assert [r.offset for r in first.records] == [1]
    assert (first.header.producer_id, first.header.producer_epoch, first.header.base_sequence) == (7, 2, 0)
    assert first.header.compression == Codec.GZIP
    assert [r.offset for r in second.records] == [3, 4]


def test_a_producers_last_batch_stays_empty_when_all_its_records_go(manager):
    """Kafka keeps it so the producer's epoch and sequence can be rebuilt from the log."""
    plog = manager.open("t", 0, config=COMPACT)
    fill(plog, keyed((b"a", b"1"), producer_id=9, producer_epoch=1, base_sequence=0),
         keyed((b"a", b"2"), (b"b", b"1"), producer_id=9, producer_epoch=1, base_sequence=1),
         keyed((b"a", b"3"), (b"b", b"2")))
    manager.run_cleaner(T0)
    batches = decode_batches(plog.read(0, 1 << 20))
    assert [(b.header.base_offset, b.header.last_offset, len(b.records)) for b in batches] == [(1, 2, 0), (3, 4, 2)]
    empty = batches[0].header
    assert (empty.producer_id, empty.producer_epoch, empty.base_sequence, empty.record_count) == (9, 1, 1, 0)
    assert empty.max_timestamp == T0


def test_tombstones_get_a_delete_horizon_then_go_once_it_passes(manager):
    plog = manager.open("t", 0, config={**COMPACT, "delete.retention.ms": 1000})
    fill(plog, keyed((b"a", b"1"), (b"b", b"1")), keyed((b"a", None), timestamp=T0 - 5))
    manager.run_cleaner(T0)
    assert records_of(plog) == [(1, b"b", b"1"), (2, b"a", None)]
    [tombstone] = [b for b in decode_batches(plog.read(0, 1 << 20)) if b.header.base_offset == 2]
    assert tombstone.header.attributes & DELETE_HORIZON_BIT
    assert tombstone.header.base_timestamp == T0 + 1000
    assert tombstone.records[0].timestamp == T0 - 5  # the record keeps its own timestamp
    fill(plog, keyed((b"c", b"1")))
    manager.run_cleaner(T0 + 999)
    assert records_of(plog) == [(1, b"b", b"1"), (2, b"a", None), (3, b"c", b"1")]
    fill(plog, keyed((b"d", b"1")))
    manager.run_cleaner(T0 + 1000)
    assert [k for _, k, _ in records_of(plog)] == [b"b", b"c", b"d"]


def test_records_without_key_are_dropped(manager):
    plog = manager.open("t", 0, config=COMPACT)
    fill(plog, keyed((None, b"x"), (b"a", b"1")), keyed((b"b", b"1")))
    manager.run_cleaner(T0)
    assert records_of(plog) == [(1, b"a", b"1"), (2, b"b", b"1")]


def test_aborted_transactions_go_committed_stay_and_open_ones_are_untouched(manager):
    plog = manager.open("t", 0, config={**COMPACT, "delete.retention.ms": 0})
    txn = {"transactional": True, "producer_epoch": 0}
    fill(plog,
         keyed((b"a", b"1"), (b"b", b"1")),
         keyed((b"a", b"aborted"), producer_id=5, **txn),
         bytearray(build_end_txn_marker(ControlType.ABORT, producer_id=5, producer_epoch=0,
                                        coordinator_epoch=0, timestamp=T0)),
         keyed((b"b", b"committed"), producer_id=6, **txn),
         bytearray(build_end_txn_marker(ControlType.COMMIT, producer_id=6, producer_epoch=0,
                                        coordinator_epoch=0, timestamp=T0)),
         keyed((b"a", b"open"), producer_id=8, **txn))
    manager.run_cleaner(T0)
    assert records_of(plog) == [(0, b"a", b"1"), (4, b"b", b"committed"), (6, b"a", b"open")]
    assert control_offsets(plog) == [3, 5]  # markers wait for their delete horizon
    fill(plog, keyed((b"c", b"1")))
    manager.run_cleaner(T0)
    assert control_offsets(plog) == [5]  # the abort marker has no records left; the commit marker has


def test_min_cleanable_dirty_ratio_decides_when_to_clean(manager):
    plog = manager.open("t", 0, config={**COMPACT, "min.cleanable.dirty.ratio": 0.5})
    fill(plog, *(keyed((b"k%d" % i, b"v" * 50)) for i in range(10)))
    assert manager.cleaner.maybe_clean(manager._logs, T0) == ("t", 0)  # all dirty: ratio 1.0
    fill(plog, keyed((b"k0", b"v")))
    manager.cleaner._next_run = 0
    assert manager.cleaner.maybe_clean(manager._logs, T0) is None  # one dirty segment against ten clean ones
    manager.open("t", 0, config={**COMPACT, "min.cleanable.dirty.ratio": 0.01})
    manager.cleaner._next_run = 0
    assert manager.cleaner.maybe_clean(manager._logs, T0) == ("t", 0)


def control_offsets(plog: PartitionLog) -> list[int]:
    return [b.header.base_offset for b in decode_batches(plog.read(0, 1 << 20)) if b.header.is_control]


def test_min_compaction_lag_keeps_recent_segments_dirty(manager):
    plog = manager.open("t", 0, config={**COMPACT, "min.compaction.lag.ms": DAY})
    fill(plog, keyed((b"a", b"1")), keyed((b"a", b"2")), keyed((b"a", b"3"), timestamp=T0 + DAY))
    manager.run_cleaner(T0 + DAY + 1)
    assert [v for _, _, v in records_of(plog)] == [b"2", b"3"]  # the last segment is too recent


def test_max_compaction_lag_forces_a_pass_and_rolls_the_active_segment(manager):
    plog = manager.open("t", 0, config={**COMPACT, "min.cleanable.dirty.ratio": 1.0, "max.compaction.lag.ms": 1000})
    fill(plog, keyed((b"a", b"1")))
    plog.append(keyed((b"a", b"2")))
    assert manager.cleaner.maybe_clean(manager._logs, T0 + 5000) == ("t", 0)
    assert records_of(plog) == [(1, b"a", b"2")]
    assert plog.segments[-1].size == 0


def test_compact_alone_is_not_subject_to_time_retention(manager):
    plog = manager.open("t", 0, config={**COMPACT, "retention.ms": 1})
    fill(plog, keyed((b"a", b"1")), keyed((b"b", b"1")))
    assert plog.apply_retention(T0 + DAY) == 0
    both = manager.open("u", 0, config={**COMPACT, "cleanup.policy": "compact,delete", "retention.ms": 1})
    fill(both, keyed((b"a", b"1")), keyed((b"b", b"1")))
    assert both.apply_retention(T0 + DAY) == 2


def test_the_checkpoint_survives_a_restart(tmp_path):
    logs = LogManager([tmp_path], node_id=1)
    plog = logs.open("t", 0, config=COMPACT)
    fill(plog, keyed((b"a", b"1")), keyed((b"a", b"2")))
    logs.run_cleaner(T0)
    logs.close()
    again = LogManager([tmp_path], node_id=1)
    plog = again.open("t", 0, config=COMPACT)
    assert again.run_cleaner(T0) == []  # nothing dirty since the last pass
    assert records_of(plog) == [(1, b"a", b"2")]
    again.delete("t", 0)
    assert read_checkpoint(tmp_path / CLEANER_CHECKPOINT) == {}
    again.close()


@pytest.mark.parametrize("step", range(14))
def test_a_crash_at_any_swap_step_recovers_a_consistent_log(tmp_path, monkeypatch, step):
    """Stop the swap at its n-th file operation, then open the dir as after a crash: the log holds
    either the old segments or the cleaned one, never a mix, and no leftovers."""
    plog = PartitionLog(tmp_path / "t-0", "t", 0, LogConfig.from_mapping(COMPACT))
    fill(plog, keyed((b"a", b"1"), (b"b", b"1")), keyed((b"a", b"2")), keyed((b"c", b"1")))
    before = records_of(plog)
    calls = 0

    class Crash(Exception):
        pass

    def counting(real):
        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls > step:
                raise Crash
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(compact.os, "replace", counting(os.replace))
    monkeypatch.setattr(compact.LogSegment, "delete", counting(compact.LogSegment.delete))
    found = compact.find_cleanable(plog, None, T0)
    try:
        compact.clean(plog, found, T0)
    except Crash:
        pass
    monkeypatch.undo()
    reopened = PartitionLog(tmp_path / "t-0", "t", 0, LogConfig.from_mapping(COMPACT))
    after = records_of(reopened)
    assert after in (before, [(1, b"b", b"1"), (2, b"a", b"2"), (3, b"c", b"1")])
    assert not [p for p in reopened.directory.iterdir() if p.name.endswith((".cleaned", ".swap", ".deleted"))]
    assert reopened.log_end_offset == 4
