"""The LogManager: log dirs, partition placement, deletion, checkpoints, periodic work."""

from __future__ import annotations

import os
import uuid

import pytest

from kbroker.log import LogManager
from kbroker.log.metadata import MetadataError
from kbroker.log.partition import now_ms
from logbatches import batch, read_offsets


def test_partitions_spread_over_log_dirs_and_reload(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager(dirs, node_id=1)
    for p in range(4):
        manager.open("t", p, uuid.uuid4(), {}).append(batch(p + 1))
    assert sorted(len(list(d.glob("t-*"))) for d in dirs) == [2, 2]
    cluster = manager.cluster_id
    manager.close()
    again = LogManager(dirs, node_id=1)
    assert again.cluster_id == cluster
    assert again.get("t", 0) is None  # found on disk, opened on demand
    assert [again.open("t", p).log_end_offset for p in range(4)] == [1, 2, 3, 4]


def test_open_returns_the_same_log_with_new_config(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    first = manager.open("t", 0, None, {"segment.bytes": "1000"})
    second = manager.open("t", 0, None, {"segment.bytes": 2000, "retention.ms": "-1"})
    assert first is second
    assert second.config.segment_bytes == 2000 and second.config.retention_ms == -1
    assert manager.get("t", 0) is first


def test_topic_id_mismatch_is_refused(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    manager.open("t", 0, uuid.uuid4(), {})
    manager.close()
    with pytest.raises(MetadataError):
        LogManager([tmp_path], node_id=0).open("t", 0, uuid.uuid4(), {})


def test_delete_renames_then_removes(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    manager.open("orders", 0, None, {}).append(batch(2))
    manager.open("orders", 1, None, {}).append(batch(1))
    manager.delete("orders", 0)
    assert manager.get("orders", 0) is None
    assert not (tmp_path / "orders-0").exists()
    assert not list(tmp_path.glob("*-delete"))
    assert (tmp_path / "recovery-point-offset-checkpoint").read_text() == "0\n1\norders 1 0\n"
    recreated = manager.open("orders", 0, None, {})
    assert recreated.log_end_offset == 0


def test_delete_all_removes_every_partition_and_writes_the_checkpoints_once(tmp_path, monkeypatch):
    manager = LogManager([tmp_path], node_id=0)
    for p in range(5):
        manager.open("orders", p, None, {"index.interval.bytes": 1}).append(batch(2))
    manager.open("kept", 0, None, {}).append(batch(3))
    checkpoints = []
    real = manager.checkpoint
    monkeypatch.setattr(manager, "checkpoint", lambda: checkpoints.append(1) or real())
    manager.delete_all("orders", range(5))
    assert checkpoints == [1]
    assert not list(tmp_path.glob("orders-*")) and not list(tmp_path.glob("*-delete"))
    assert (tmp_path / "recovery-point-offset-checkpoint").read_text() == "0\n1\nkept 0 0\n"
    assert manager.open("orders", 3, None, {}).log_end_offset == 0


def test_leftover_delete_dirs_are_removed_at_start(tmp_path):
    LogManager([tmp_path], node_id=0).close()
    doomed = tmp_path / f"t-0.{uuid.uuid4().hex}-delete"
    doomed.mkdir()
    (doomed / "00000000000000000000.log").write_bytes(b"x")
    LogManager([tmp_path], node_id=0)
    assert not doomed.exists()


def test_checkpoints_keep_partitions_not_opened(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    manager.open("a", 0, None, {}).append(batch(3))
    manager.open("b", 0, None, {}).append(batch(2))
    manager.close()
    again = LogManager([tmp_path], node_id=0)
    again.open("a", 0, None, {}).append(batch(1))
    again.close()
    text = (tmp_path / "recovery-point-offset-checkpoint").read_text()
    assert text == "0\n2\nb 0 2\na 0 4\n"


def test_maintenance_runs_retention_and_checkpoints_on_their_intervals(tmp_path):
    manager = LogManager([tmp_path], node_id=0, retention_check_interval_ms=1000,
                         offset_checkpoint_interval_ms=1000, high_watermark_checkpoint_interval_ms=1000)
    plog = manager.open("t", 0, None, {"segment.ms": 1, "retention.ms": 1000})
    plog.append(batch(1, timestamp=0))
    plog.append(batch(1, timestamp=10))
    plog.append(batch(1, timestamp=20))
    assert len(plog.segments) == 3
    start = manager._last_run["retention"]
    manager.maintenance(now=start + 10)
    assert plog.log_start_offset == 0
    manager.maintenance(now=start + 2000)
    assert plog.log_start_offset == 3
    manager.wait_for_checkpoint_writes()  # they are written off the caller's thread
    assert (tmp_path / "replication-offset-checkpoint").read_text() == "0\n1\nt 0 3\n"


def test_maintenance_follows_a_log_reconfigured_to_flush_on_time_and_compact(tmp_path):
    """Periodic work looks only at logs with a flush.ms and at compacted ones; a log that gains
    either by a config change is looked at from then on."""
    manager = LogManager([tmp_path], node_id=0, cleaner_backoff_ms=0)
    plog = manager.open("t", 0, None, {"segment.ms": 1, "retention.ms": -1})
    for stamp in (0, 10, 20):
        plog.append(batch(2, timestamp=stamp))
    manager.wait_for_flushes()
    later = now_ms() + 10**6
    manager.maintenance(now=later)
    assert plog.recovery_point < plog.log_end_offset == 6
    assert read_offsets(plog) == [0, 1, 2, 3, 4, 5]
    manager.open("t", 0, None, {"segment.ms": 1, "retention.ms": -1, "flush.ms": 1, "cleanup.policy": "compact",
                                "min.cleanable.dirty.ratio": 0.01})
    manager.maintenance(now=later + 10)
    assert plog.recovery_point == plog.log_end_offset
    assert read_offsets(plog) == [2, 3, 4, 5]  # keys k0 and k1 kept once in the closed segments
    manager.close()


def test_a_follower_opened_late_takes_the_high_watermark_checkpointed_before_the_start(tmp_path):
    """The replication checkpoint is read once per start: a checkpoint written since, which holds
    only the logs open then, does not take away the high watermark of one opened later."""
    manager = LogManager([tmp_path], node_id=0)
    for partition, batches in ((0, 3), (1, 2)):
        plog = manager.open("t", partition)
        for _ in range(batches):
            plog.append(batch(1))
    manager.close()
    again = LogManager([tmp_path], node_id=0)
    assert again.open("t", 0, lead=False).high_watermark == 3
    again.checkpoint()  # names t-0 only
    assert again.open("t", 1, lead=False).high_watermark == 2
    again.close()


def test_dirs_of_two_clusters_are_refused(tmp_path):
    LogManager([tmp_path / "a"], node_id=0).close()
    LogManager([tmp_path / "b"], node_id=0).close()
    with pytest.raises(MetadataError):
        LogManager([tmp_path / "a", tmp_path / "b"], node_id=0)


def torn_after_crash(tmp_path):
    """A partition of two batches whose broker died without closing, the second batch torn."""
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, None, {})
    plog.append(batch(2))
    plog.append(batch(2))
    segment = plog.segments[-1].log_path
    os.truncate(segment, segment.stat().st_size - 5)
    return segment


def test_a_deferred_partition_is_recovered_on_first_use_in_the_epoch_announced(tmp_path):
    segment = torn_after_crash(tmp_path)
    size = segment.stat().st_size
    again = LogManager([tmp_path], node_id=0)
    again.defer("t", 0, None, {})
    assert again.leader_epoch("t", 0) == 1
    again.open("t", 1)
    assert again.leader_epochs("t", 3) == [1, 0, -1]  # deferred, opened, unknown
    assert segment.stat().st_size == size  # not opened yet
    plog = again.get("t", 0)
    assert plog.leader_epoch == 1 and plog.log_end_offset == 2
    assert segment.stat().st_size < size


def test_deferred_partitions_of_an_unclean_start_are_recovered_before_a_clean_stop(tmp_path):
    segment = torn_after_crash(tmp_path)
    size = segment.stat().st_size
    again = LogManager([tmp_path], node_id=0)
    again.defer("t", 0, None, {})
    again.close()  # the clean-shutdown marker must not hide the torn tail
    assert segment.stat().st_size < size
    third = LogManager([tmp_path], node_id=0)
    assert third.open("t", 0).log_end_offset == 2
