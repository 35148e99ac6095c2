"""The log cleaner: picks which compacted log to clean next and remembers how far each is clean.

It runs on the broker's event loop from `LogManager.maintenance`, one pass over one log per call,
each pass reading at most `compact.MAX_DIRTY_BYTES_PER_PASS` dirty bytes. A thread would let
passes overlap appends, fetches and retention on the same segments, which would need locking all
through the log; short passes on the loop need none. When no log needs cleaning it waits
`log.cleaner.backoff.ms`, as Kafka's cleaner threads do.

Each log dir keeps `cleaner-offset-checkpoint` (the layout of the other offset checkpoints): per
partition, the first offset not yet cleaned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from kproto.exceptions import ProtocolError

from kbroker.log.checkpoint import TopicPartition, read_checkpoint, write_checkpoint
from kbroker.log.compact import clean, find_cleanable, roll_if_overdue
from kbroker.log.partition import PartitionLog
from kbroker.log.scan import CorruptBatchError

log = logging.getLogger("kbroker.log.cleaner")

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"


class Cleaner:
    """Compacts logs with cleanup.policy `compact` (alone or with `delete`)."""

    def __init__(self, dirs: Sequence[Path], *, enabled: bool = True, backoff_ms: int = 15_000) -> None:
        self.enabled = enabled
        self.backoff_ms = backoff_ms
        self._offsets = {d: read_checkpoint(d / CLEANER_CHECKPOINT) for d in dirs}
        self._next_run = 0.0
        self._failed: set[TopicPartition] = set()  # left alone until restart, as Kafka marks them uncleanable

    def maybe_clean(self, logs: Mapping[TopicPartition, PartitionLog], now: float) -> TopicPartition | None:
        """One pass over the dirtiest log, unless the cleaner is off or backing off."""
        if not self.enabled or now < self._next_run:
            return None
        cleaned = self.clean_dirtiest(logs, now)
        if cleaned is None:
            self._next_run = now + self.backoff_ms
        return cleaned

    def clean_dirtiest(self, logs: Mapping[TopicPartition, PartitionLog], now: float, *,
                       force: bool = False) -> TopicPartition | None:
        """Clean the log with the highest dirty ratio among those at or above their
        min.cleanable.dirty.ratio or past max.compaction.lag.ms (any dirty log with `force`).
        As in Kafka the ratio must be exceeded, so a ratio of 0 still needs some dirty bytes."""
        best = None
        for key, plog in logs.items():
            if not plog.config.compact or key in self._failed:
                continue
            roll_if_overdue(plog, now)
            found = find_cleanable(plog, self._offsets[plog.log_dir].get(key), now)
            if found is None or not (force or found.overdue
                                     or found.dirty_ratio > plog.config.min_cleanable_dirty_ratio):
                continue
            if best is None or found.dirty_ratio > best[2].dirty_ratio:
                best = (key, plog, found)
        if best is None:
            return None
        key, plog, found = best
        try:
            clean(plog, found, now)
        except (OSError, ProtocolError, CorruptBatchError, ValueError):
            log.exception("%s: cleaning failed; the partition is not cleaned again until restart", plog)
            self._failed.add(key)
            return None
        offsets = self._offsets[plog.directory.parent]
        offsets[key] = found.end
        write_checkpoint(plog.directory.parent / CLEANER_CHECKPOINT, offsets)
        log.debug("%s: cleaned offsets below %d (dirty ratio was %.2f)", plog, found.end, found.dirty_ratio)
        return key

    def forget(self, directory: Path, key: TopicPartition) -> None:
        """A deleted partition leaves the checkpoint."""
        if self._offsets[directory].pop(key, None) is not None:
            write_checkpoint(directory / CLEANER_CHECKPOINT, self._offsets[directory])
