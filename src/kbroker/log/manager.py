"""All partition logs of a broker across its `log.dirs`, with the dir-level files Kafka keeps.

Each log dir holds `meta.properties`, the three offset checkpoints, the clean-shutdown marker
while the broker is stopped, and one `<topic>-<partition>` dir per partition.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from kbroker.log.checkpoint import (
    LOG_START_OFFSET,
    RECOVERY_POINT,
    REPLICATION_OFFSET,
    TopicPartition,
    read_checkpoint,
    write_checkpoint,
)
from kbroker.log.cleaner import Cleaner
from kbroker.log.config import LONG_MAX, LogConfig
from kbroker.log.files import fsync_dir, write_many_atomically
from kbroker.log.flusher import FlushJob, LogFlusher
from kbroker.log.leader_epochs import LeaderEpochCache
from kbroker.log.metadata import (
    ZERO_UUID,
    MetadataError,
    random_kafka_uuid,
    read_meta_properties,
    read_partition_metadata,
    take_clean_shutdown,
    uuid_to_str,
    write_clean_shutdown,
    write_meta_properties,
    write_partition_metadata,
)
from kbroker.log.partition import PartitionLog, now_ms

log = logging.getLogger("kbroker.log")

DELETE_DIR_SUFFIX = "-delete"


def parse_partition_dir(name: str) -> TopicPartition | None:
    """('orders', 3) for 'orders-3'; None for dirs being deleted, future replicas or other files."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


class LogManager:
    """Opens, creates and deletes partition logs; runs flushes, retention, compaction and checkpoints.

    Intervals default to Kafka's: retention checked every 5 minutes
    (`log.retention.check.interval.ms`), recovery points and log start offsets checkpointed every
    minute, high watermarks every 5 seconds, the cleaner idle for 15 seconds when nothing is dirty
    (`log.cleaner.backoff.ms`).
    """

    def __init__(self, log_dirs: Sequence[Path | str], node_id: int, *, cluster_id: str | None = None,
                 retention_check_interval_ms: int = 300_000, offset_checkpoint_interval_ms: int = 60_000,
                 high_watermark_checkpoint_interval_ms: int = 5_000, cleaner_enable: bool = True,
                 cleaner_backoff_ms: int = 15_000) -> None:
        if not log_dirs:
            raise ValueError("at least one log dir is needed")
        self.dirs = [Path(d) for d in log_dirs]
        self.node_id = node_id
        self._logs: dict[TopicPartition, PartitionLog] = {}
        # The logs that periodic work looks at beyond the checkpoints: those with a flush.ms (Kafka's
        # default has none) and the compacted ones, for the cleaner. With 20,000 partitions, a look
        # at every log each second held the event loop for 7 ms.
        self._timed_flush: dict[TopicPartition, PartitionLog] = {}
        self._compacted: dict[TopicPartition, PartitionLog] = {}
        self._on_disk: dict[TopicPartition, Path] = {}  # partition dirs found at start, not opened yet
        self._clean: dict[Path, bool] = {}
        self._recovery_points: dict[Path, dict[TopicPartition, int]] = {}
        self._start_offsets: dict[Path, dict[TopicPartition, int]] = {}
        self._high_watermarks: dict[Path, dict[TopicPartition, int]] = {}  # as checkpointed before this start
        self._counts = dict.fromkeys(self.dirs, 0)  # partitions in each log dir, opened or not
        # Partitions led but not opened yet: (topic id, config, the leader epoch opening them gives).
        self._deferred: dict[TopicPartition, tuple[uuid.UUID | None, Mapping[str, Any], int]] = {}
        # Checkpoint files are written (and fsynced) on one thread of their own, in order, so that the
        # event loop serving clients never waits on the disk for them; close() writes them directly.
        self._checkpoint_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoints")
        self._flusher = LogFlusher()  # rolled segments are fsynced on its thread, likewise
        self._intervals = {"retention": retention_check_interval_ms, "offsets": offset_checkpoint_interval_ms,
                           "high_watermarks": high_watermark_checkpoint_interval_ms}
        started = now_ms()
        self._last_run = dict.fromkeys(self._intervals, started)
        for directory in self.dirs:
            directory.mkdir(parents=True, exist_ok=True)
        self.cluster_id = self._check_identity(cluster_id)
        for directory in self.dirs:
            self._clean[directory] = take_clean_shutdown(directory)
            self._recovery_points[directory] = read_checkpoint(directory / RECOVERY_POINT)
            self._start_offsets[directory] = read_checkpoint(directory / LOG_START_OFFSET)
            self._high_watermarks[directory] = read_checkpoint(directory / REPLICATION_OFFSET)
            self._discover(directory)
        self.cleaner = Cleaner(self.dirs, enabled=cleaner_enable, backoff_ms=cleaner_backoff_ms)

    def _check_identity(self, cluster_id: str | None) -> str:
        """Every dir must belong to this node and one cluster; dirs without meta.properties get one."""
        found = {d: read_meta_properties(d) for d in self.dirs}
        clusters = {m.cluster_id for m in found.values() if m and m.cluster_id} | ({cluster_id} if cluster_id else set())
        if len(clusters) > 1:
            raise MetadataError(f"log dirs belong to different clusters: {sorted(clusters)}")
        for directory, meta in found.items():
            if meta and meta.node_id != self.node_id:
                raise MetadataError(f"{directory} belongs to node {meta.node_id}, this is node {self.node_id}")
        chosen = clusters.pop() if clusters else uuid_to_str(random_kafka_uuid())
        for directory, meta in found.items():
            if meta is None:
                write_meta_properties(directory, chosen, self.node_id)
        return chosen

    def _discover(self, directory: Path) -> None:
        for path in directory.iterdir():
            if not path.is_dir():
                continue
            if path.name.endswith(DELETE_DIR_SUFFIX):
                log.info("removing %s, a partition deleted before the last stop", path)
                shutil.rmtree(path, ignore_errors=True)
                continue
            key = parse_partition_dir(path.name)
            if key is None:
                continue
            if key in self._on_disk:
                raise MetadataError(f"partition {key[0]}-{key[1]} is in two log dirs: {self._on_disk[key]} and {path}")
            self._on_disk[key] = path
            self._counts[directory] += 1

    # -- partitions

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        """The partition's log, opened now if it was deferred."""
        plog = self._logs.get((topic, partition))
        if plog is None and (topic, partition) in self._deferred:
            topic_id, config, _ = self._deferred.pop((topic, partition))
            plog = self.open(topic, partition, topic_id, config)
        return plog

    def defer(self, topic: str, partition: int, topic_id: uuid.UUID | None, config: Mapping[str, Any]) -> None:
        """Lead the partition, but open its log (and recover it) only when first used: a restart
        with thousands of partitions listens at once. Only its leader-epoch checkpoint is read
        now, for the epoch `leader_epoch` announces and the open will lead in."""
        directory = self._on_disk.get((topic, partition))
        latest = LeaderEpochCache(directory).latest_epoch if directory is not None else -1
        self._deferred[(topic, partition)] = (topic_id, config, latest + 1)

    def leader_epoch(self, topic: str, partition: int) -> int:
        """The epoch this node leads the partition in, opened or deferred; -1 for one it does not have."""
        plog = self._logs.get((topic, partition))
        if plog is not None:
            return plog.leader_epoch
        deferred = self._deferred.get((topic, partition))
        return deferred[2] if deferred is not None else -1

    def leader_epochs(self, topic: str, count: int) -> list[int]:
        """`leader_epoch` of partitions 0..count-1 of the topic."""
        logs, deferred = self._logs, self._deferred
        epochs = []
        for key in zip(repeat(topic), range(count)):
            plog = logs.get(key)
            if plog is not None:
                epochs.append(plog.leader_epoch)
            else:
                waiting = deferred.get(key)
                epochs.append(waiting[2] if waiting is not None else -1)
        return epochs

    def open(self, topic: str, partition: int, topic_id: uuid.UUID | None = None,
             config: Mapping[str, Any] | LogConfig | None = None, lead: bool = True) -> PartitionLog:
        """The partition's log: already open (its config replaced), found on disk (loaded, with
        recovery if the last stop was unclean), or created in the log dir holding fewest partitions.

        A single node leads every partition it opens, in a new leader epoch each time it opens it
        (0 for a new partition), as a KRaft controller elects a restarted broker again. In a
        cluster (`lead` false) the controller decides, and the high watermark starts where it was
        checkpointed, since not everything in the log may have reached the other replicas."""
        key = (topic, partition)
        self._deferred.pop(key, None)
        settings = config if isinstance(config, LogConfig) else LogConfig.from_mapping(config)
        if key in self._logs:
            self._logs[key].config = settings
            self._track(key, self._logs[key])
            return self._logs[key]
        directory = self._on_disk.pop(key, None)
        if directory is None:
            directory = self._least_loaded_dir() / f"{topic}-{partition}"
            self._counts[directory.parent] += 1
            try:
                return self._load(key, directory, topic_id, settings, lead)
            except OSError:  # out of descriptors or disk: leave nothing half-created behind
                self._counts[directory.parent] -= 1
                self._remove_dir(directory)
                raise
        try:
            return self._load(key, directory, topic_id, settings, lead)
        except OSError:
            self._on_disk[key] = directory  # still there, for another try
            raise

    def _load(self, key: TopicPartition, directory: Path, topic_id: uuid.UUID | None, settings: LogConfig,
              lead: bool) -> PartitionLog:
        topic, partition = key
        parent = directory.parent
        try:
            directory.mkdir()  # one call where a stat and a mkdir were two
            existed = False
        except FileExistsError:
            existed = True
        stored = read_partition_metadata(directory) if existed else None
        if topic_id not in (None, ZERO_UUID) and stored not in (None, topic_id):
            raise MetadataError(f"{directory} holds topic id {uuid_to_str(stored)}, expected {uuid_to_str(topic_id)}")
        plog = PartitionLog(directory, topic, partition, settings,
                            recovery_point=self._recovery_points[parent].get(key, 0),
                            log_start_offset=self._start_offsets[parent].get(key, 0),
                            clean=self._clean[parent], new=not existed, flusher=self._flusher)
        if topic_id not in (None, ZERO_UUID) and stored is None:
            write_partition_metadata(directory, topic_id)
        if lead:
            plog.become_leader()
        else:
            plog.replicated = True
            plog.high_watermark = min(plog.log_end_offset, max(plog.log_start_offset,
                                      self._high_watermarks[parent].get(key, 0)))
        self._logs[key] = plog
        self._track(key, plog)
        return plog

    def _track(self, key: TopicPartition, plog: PartitionLog | None) -> None:
        """Note whether the log (None: gone) has a flush.ms and whether it is compacted."""
        for chosen, wanted in ((self._timed_flush, plog is not None and plog.config.flush_ms < LONG_MAX),
                               (self._compacted, plog is not None and plog.config.compact)):
            if wanted:
                chosen[key] = plog
            else:
                chosen.pop(key, None)

    def _least_loaded_dir(self) -> Path:
        return min(self.dirs, key=lambda d: self._counts[d])

    def delete(self, topic: str, partition: int, durable: bool = True) -> None:
        """Remove the partition's data: rename its dir to `<name>.<uuid>-delete` (so a crash midway
        is finished at the next start), then remove it. Not `durable` (a partition whose topic
        could not be created, perhaps for want of descriptors): no fsync, no checkpoint."""
        self.delete_all(topic, [partition], durable)

    def delete_all(self, topic: str, partitions: Iterable[int], durable: bool = True) -> None:
        """`delete` each of the topic's `partitions`, then write the checkpoints once: each names
        every partition of its log dir, so one per partition made deleting a topic quadratic."""
        for partition in partitions:
            self._delete(topic, partition, durable)
        if durable:
            self.checkpoint()

    def _delete(self, topic: str, partition: int, durable: bool) -> None:
        key = (topic, partition)
        self._deferred.pop(key, None)
        plog = self._logs.pop(key, None)
        self._track(key, None)
        if plog is not None:
            plog.close(flush=False)
            directory = plog.directory
        else:
            directory = self._on_disk.pop(key, None)
            if directory is None:
                return
        self._counts[directory.parent] -= 1
        self._recovery_points[directory.parent].pop(key, None)
        self._start_offsets[directory.parent].pop(key, None)
        self._high_watermarks[directory.parent].pop(key, None)
        self.cleaner.forget(directory.parent, key)
        self._remove_dir(directory, durable)

    @staticmethod
    def _remove_dir(directory: Path, durable: bool = False) -> None:
        if not directory.exists():
            return
        doomed = directory.with_name(f"{directory.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
        os.replace(directory, doomed)  # needs no descriptor; what rmtree cannot remove goes at the next start
        if durable:
            fsync_dir(directory.parent)
        shutil.rmtree(doomed, ignore_errors=True)

    # -- periodic work

    def maintenance(self, now: float | None = None) -> None:
        """flush.ms flushes at every call, and one cleaner pass when a compacted log is dirty enough;
        retention and checkpoints when their intervals are due."""
        now = now_ms() if now is None else now
        for plog in self._timed_flush.values():
            plog.flush_if_due(now)
        if self._due("retention", now):
            for plog in self._logs.values():
                plog.apply_retention(now)
        self.cleaner.maybe_clean(self._compacted, now)
        if self._due("offsets", now):
            self._write_offsets(self._write_in_background)
        if self._due("high_watermarks", now):
            self._write_high_watermarks(self._write_in_background)

    def run_cleaner(self, now: float | None = None) -> list[TopicPartition]:
        """Clean every compacted log with dirty segments now, whatever its dirty ratio: a hook for
        tests and test brokers. Returns the partitions cleaned."""
        now = now_ms() if now is None else now
        cleaned = []
        while (key := self.cleaner.clean_dirtiest(
                {k: p for k, p in self._compacted.items() if k not in cleaned}, now, force=True)) is not None:
            cleaned.append(key)
        return cleaned

    def _due(self, task: str, now: float) -> bool:
        if now - self._last_run[task] < self._intervals[task]:
            return False
        self._last_run[task] = now
        return True

    def checkpoint(self) -> None:
        """Write all three checkpoint files of every log dir, now, after any still being written."""
        self.wait_for_checkpoint_writes()
        self._write_offsets(write_checkpoint)
        self._write_high_watermarks(write_checkpoint)

    def wait_for_checkpoint_writes(self) -> None:
        """Return once the checkpoint files handed to the writer thread are on disk."""
        self._checkpoint_writer.submit(lambda: None).result()

    def _write_in_background(self, path: Path, entries: dict[TopicPartition, int]) -> None:
        self._checkpoint_writer.submit(write_checkpoint, path, entries)

    def _by_dir(self) -> dict[Path, dict[TopicPartition, PartitionLog]]:
        """The open logs of each log dir, for its checkpoint files."""
        if len(self.dirs) == 1:
            return {self.dirs[0]: self._logs}
        grouped: dict[Path, dict[TopicPartition, PartitionLog]] = {d: {} for d in self.dirs}
        for key, plog in self._logs.items():
            grouped[plog.log_dir][key] = plog
        return grouped

    def _write_offsets(self, write: Callable[[Path, dict[TopicPartition, int]], Any]) -> None:
        """Recovery points and log start offsets; entries of partitions not opened are kept."""
        unopened = self._on_disk
        for directory, logs in self._by_dir().items():
            kept = {k: v for k, v in self._recovery_points[directory].items() if k in unopened} if unopened else {}
            points = {**kept, **{k: p.recovery_point for k, p in logs.items()}}
            write(directory / RECOVERY_POINT, points)
            self._recovery_points[directory] = points
            kept = {k: v for k, v in self._start_offsets[directory].items() if k in unopened} if unopened else {}
            # As Kafka, only logs whose start moved past their first segment need an entry.
            starts = {**kept, **{k: p.log_start_offset for k, p in logs.items()
                                 if p.log_start_offset > p.first_segment_base}}
            write(directory / LOG_START_OFFSET, starts)
            self._start_offsets[directory] = starts

    def _write_high_watermarks(self, write: Callable[[Path, dict[TopicPartition, int]], Any]) -> None:
        for directory, logs in self._by_dir().items():
            write(directory / REPLICATION_OFFSET, {k: p.high_watermark for k, p in logs.items()})

    def on_flushed(self, notify: Callable[[FlushJob], None]) -> None:
        """Have `notify` called, on the flush thread, with each `flush.messages` flush once it has
        run, for its log's `take_flush_jobs` on the log's own thread."""
        self._flusher.notify = notify

    def wait_for_flushes(self) -> None:
        """Return once the flushes submitted so far (of rolls and of `flush.ms`) are done (or have failed)."""
        self._flusher.drain()

    def close(self) -> None:
        """Flush and close every log, write the checkpoints, then mark each dir cleanly shut down.
        Deferred partitions of a dir whose last stop was unclean are opened first: the marker
        will say they need no recovery. Roll flushes still queued finish first; a dir where one
        failed gets no marker, so that the next start recovers its logs."""
        self._flusher.close()
        for key in [k for k, path in self._on_disk.items() if k in self._deferred and not self._clean[path.parent]]:
            self.get(*key)
        for plog in self._logs.values():
            plog.drop_unused_leader_epoch()
        pending = {p.leader_epochs: p.leader_epochs.unsaved() for p in self._logs.values() if p.leader_epochs.pending}
        write_many_atomically({cache.path: data for cache, data in pending.items() if data is not None})
        for cache in pending:
            cache.mark_saved()
        for plog in self._logs.values():
            plog.close()
        failed = {p.log_dir for p in self._logs.values() if p.storage_error is not None}
        self.checkpoint()
        self._checkpoint_writer.shutdown()
        for directory in self.dirs:
            if directory in failed:
                log.error("%s: not marked cleanly shut down, since a segment flush failed there", directory)
            else:
                write_clean_shutdown(directory)
        self._logs.clear()
        self._timed_flush.clear()
        self._compacted.clear()
