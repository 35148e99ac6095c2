"""A partition's log: an ordered list of segments, of which only the last takes appends."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import deque
from pathlib import Path
from typing import Callable

from kproto.records.batch import NO_PARTITION_LEADER_EPOCH
from kproto.records.header import iter_batch_headers
from kproto.records.inplace import set_base_offset, set_partition_leader_epoch, writable

from kbroker.log.config import LogConfig
from kbroker.log.files import SNAPSHOT_SUFFIX, fsync_dir, fsync_if_exists
from kbroker.log.flusher import Outcome, FlushJob, LogFlusher
from kbroker.log.leader_epochs import LeaderEpochCache
from kbroker.log.loader import load_segments
from kbroker.log.segment import BatchInfo, LogSegment


class OffsetOutOfRangeError(Exception):
    """The offset is outside [log start offset, log end offset] (Kafka's OFFSET_OUT_OF_RANGE)."""


def now_ms() -> float:
    return time.time() * 1000


class PartitionLog:
    """Appends, reads and offset bookkeeping for one partition.

    Offsets: `log_start_offset` (the first readable), `high_watermark` (the first not yet
    replicated everywhere; on a single node it follows the end at once), `log_end_offset` (the
    next to assign) and `recovery_point` (everything below it has been fsynced).
    A rolled segment is fsynced by the log manager's `flusher` (`flusher.py`), inline without one.
    `leader_epoch` is the epoch this broker leads the partition in (stamped on every appended
    batch), -1 until `become_leader`; `leader_epochs` says where each epoch began.
    In a cluster, replication moves the high watermark (`replicated` is set) instead of appends.
    A `new` partition's dir was just made by the caller and holds nothing: nothing is loaded from it.
    """

    def __init__(self, directory: Path, topic: str, partition: int, config: LogConfig, *,
                 recovery_point: int = 0, log_start_offset: int = 0, clean: bool = False, new: bool = False,
                 flusher: LogFlusher | None = None) -> None:
        self.directory = directory
        self.log_dir = directory.parent  # kept: a Path's parent and its hash are made anew on each call
        self.topic = topic
        self.partition = partition
        self.config = config
        self.on_append: list[Callable[[], None]] = []  # called after each append, e.g. to wake fetches
        self.on_roll: list[Callable[[PartitionLog], None]] = []  # called when a new segment starts (producer snapshots)
        self._flusher = flusher
        self._flush_jobs: deque[FlushJob] = deque()  # submitted, oldest first, not yet taken into account
        self._flush_asked = 0  # the log end the latest `flush.messages` job will make durable
        self._high_watermark_holds = 0  # `flush.messages` jobs pending: the high watermark waits for them
        self._held_at = 0  # while some are: how far the high watermark may go (`readable_end`)
        # A `flush.messages` flush the thread could not do for want of descriptors: its hold stays
        # until a later flush makes the log durable this far.
        self._deferred_to: int | None = None
        self.awaited_flush: FlushJob | None = None  # the flush the last append's answer waits for
        self.storage_error: OSError | None = None  # a roll flush failed: no recovery point moves, no appends
        if not new:
            directory.mkdir(parents=True, exist_ok=True)
        self.leader_epoch = NO_PARTITION_LEADER_EPOCH
        self.leader_epochs = LeaderEpochCache(directory, read=not new)
        self._segments = [] if new else load_segments(directory, recovery_point, clean, config.index_interval_bytes,
                                                      config.segment_index_bytes, str(self))
        if not self._segments:
            self._segments = [self._new_segment(log_start_offset)]
        self._bases = [s.base_offset for s in self._segments]
        self._segments[-1].become_active()
        self.log_end_offset = self._segments[-1].read_next_offset()
        self.log_start_offset = max(log_start_offset, self._segments[0].base_offset)
        if self.log_start_offset > self.log_end_offset:
            self._restart_at(self.log_start_offset)
        self._recovery_point = self.log_end_offset if clean else min(recovery_point, self.log_end_offset)
        self.high_watermark = self.log_end_offset
        self.replicated = False  # True: the high watermark is moved by replication, not by appends
        self._last_flush_ms = now_ms()
        self._align_leader_epochs()

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def recovery_point(self) -> int:
        """The offset below which everything is fsynced: moved by `flush`, and to a rolled segment's
        end once its roll flush is done (looked at here, on the log's own thread)."""
        if self._flush_jobs:
            self.take_flush_jobs()
        return self._recovery_point

    def take_flush_jobs(self) -> None:
        """Account for the flushes that have finished, in the order they were submitted. The
        high watermark follows a `flush.messages` flush that was done: to the log end once none
        is left pending, else to what it made durable. A failed one keeps its hold, and so do
        those after it: what they cover never becomes readable. One put off for want of
        descriptors keeps its hold until a later flush covers what it would have."""
        pending = self._flush_jobs
        while pending and pending[0].outcome is not Outcome.PENDING:
            job = pending.popleft()
            if self.storage_error is not None:
                continue
            if job.outcome is Outcome.FAILED:
                self.storage_error = job.error
                continue
            if job.outcome is Outcome.DONE:
                self._recovery_point = max(self._recovery_point, job.recovery_point)
                self._end_deferral(job.recovery_point)
            if not job.awaited:
                continue
            if job.outcome is Outcome.DEFERRED:
                if self._deferred_to is not None:  # one hold covers both
                    self._high_watermark_holds -= 1
                self._deferred_to = job.recovery_point
                self._end_deferral(self._recovery_point)  # an inline `flush` may have done it meanwhile
                continue
            self._release_hold(job.recovery_point)

    def _end_deferral(self, durable_to: int) -> None:
        """Release the hold of a put-off `flush.messages` flush once the log is durable past what it covered."""
        if self._deferred_to is not None and durable_to >= self._deferred_to:
            self._deferred_to = None
            self._release_hold(durable_to)

    def _release_hold(self, durable_to: int) -> None:
        """One `flush.messages` hold ends, the log durable to `durable_to`: the high watermark may
        go that far (never less far than before), or to the log end once no hold is left."""
        self._high_watermark_holds -= 1
        self._held_at = max(self._held_at, durable_to)
        if not self.replicated:
            self.high_watermark = max(self.high_watermark, self.readable_end)

    def flush_again(self) -> FlushJob | None:
        """For a producer's retry of an append, or a `flush.ms` flush while one is put off: the
        flush to wait for. That is the latest `flush.messages` flush still pending, or, when one
        was put off for want of descriptors and none is, that flush asked for again (as a new
        awaited job up to the log end, so its owner is told once it is done); else None."""
        if (job := self.pending_flush) is not None or self._deferred_to is None or self._flusher is None:
            return job
        self._flush_asked = self.log_end_offset
        self._high_watermark_holds += 1
        return self._flush_to_end_later(self.recovery_point, awaited=True)

    @property
    def pending_flush(self) -> FlushJob | None:
        """The latest `flush.messages` flush not yet taken: what an answer about anything appended
        before it (a producer's retry) waits for, as jobs run in order."""
        return next((job for job in reversed(self._flush_jobs) if job.awaited), None)

    @property
    def readable_end(self) -> int:
        """How far the high watermark may go: the log end, but while `flush.messages` flushes
        are pending only to what the last finished one made durable (or to the end before the
        first pending one's append). In a cluster, replication counts the leader's end so."""
        return self._held_at if self._high_watermark_holds else self.log_end_offset

    @property
    def segments(self) -> list[LogSegment]:
        """The segments, oldest first; for inspection, not for changing."""
        return list(self._segments)

    @property
    def first_segment_base(self) -> int:
        """The oldest segment's base offset (without the copy `segments` makes)."""
        return self._bases[0]

    # -- writing

    def append(self, records: bytearray | memoryview, defer_flush: bool = False) -> int:
        """Append validated v2 batches, assigning offsets from the log end; returns the first offset.

        Only the base offset and partition leader epoch of each batch are rewritten (the CRC does
        not cover them), so the producer's bytes are stored as they came. An append reaching
        `flush.messages` is flushed before this returns, as in Kafka, unless `defer_flush`: then
        on the flush thread, and the caller waits for `awaited_flush` before answering.
        """
        records = writable(records)
        first = offset = self.log_end_offset
        batches = []
        end = 0
        for position, header in iter_batch_headers(records):
            set_base_offset(records, position, offset)
            set_partition_leader_epoch(records, position, self.leader_epoch)
            offset += header.last_offset_delta + 1
            batches.append(BatchInfo(header.size, offset - 1, header.max_timestamp))
            end = position + header.size
        if not batches or end != len(records):
            raise ValueError(f"append needs whole batches: {len(records) - end} bytes of a partial batch")
        self._write(records, batches, offset, defer_flush)
        return first

    def append_replicated(self, records: bytes | bytearray | memoryview) -> int:
        """Append batches a follower fetched from its leader, offsets and epochs as the leader set
        them; a partial batch at the end (a fetch cut at its byte limit) is left out. Returns how
        many bytes were appended."""
        batches = []
        end = 0
        expected = self.log_end_offset
        for position, header in iter_batch_headers(records):
            if header.base_offset != expected:
                raise ValueError(f"{self}: replicated batch starts at {header.base_offset}, the log ends at {expected}")
            if header.partition_leader_epoch > self.leader_epochs.latest_epoch:
                self.leader_epochs.assign(header.partition_leader_epoch, header.base_offset)
                self.leader_epochs.save()
            expected = header.next_offset
            batches.append(BatchInfo(header.size, expected - 1, header.max_timestamp))
            end = position + header.size
        if batches:
            self._write(memoryview(records)[:end], batches, expected)
        return end

    def _write(self, records: bytes | bytearray | memoryview, batches: list[BatchInfo], next_offset: int,
               defer_flush: bool = False) -> None:
        self.awaited_flush = None
        if self._flush_jobs:
            self.take_flush_jobs()
        if self.storage_error is not None:
            raise OSError(self.storage_error.errno, f"a segment of {self} could not be fsynced: "
                                                    f"{self.storage_error.strerror}")
        if self.leader_epochs.pending:
            self.leader_epochs.save()  # the epoch's entry goes to disk before its first batch
        segment = self._segments[-1]
        if segment.should_roll(len(records), max(b.max_timestamp for b in batches), next_offset - 1,
                               self.config.segment_bytes, self.config.segment_ms, now_ms()):
            segment = self.roll()
        segment.append(records, batches)
        previous_end, self.log_end_offset = self.log_end_offset, next_offset
        # The field, its flushes taken above: one taken now, with the end moved, would let the high
        # watermark pass these records before their flush is even asked for.
        if (next_offset - max(self._recovery_point, self._flush_asked) >= self.config.flush_messages
                or self._deferred_to is not None):  # what was put off is tried again at once
            if defer_flush and self._flusher is not None:
                self._flush_for_append(previous_end)
            else:
                self.flush()
        if not (self.replicated or self._high_watermark_holds):
            self.high_watermark = next_offset
        for callback in self.on_append:
            callback()

    def become_leader(self, epoch: int | None = None) -> int:
        """Lead the partition from the log end in `epoch` (a controller's choice), or else in the
        epoch after the latest one the log has seen; returns it. Its entry is on disk before any
        batch of the epoch."""
        self.leader_epoch = self.leader_epochs.latest_epoch + 1 if epoch is None else epoch
        self._align_leader_epochs()
        return self.leader_epoch

    def become_follower(self) -> None:
        """Stop leading: appends now come only from the leader, through `append_replicated`."""
        self.leader_epoch = NO_PARTITION_LEADER_EPOCH

    def roll(self) -> LogSegment:
        """Start a new segment at the log end; the old one is trimmed, and fsynced after the roll.

        As Kafka schedules its `flush-log` task, the fsyncs (the segments from the one holding the
        recovery point, whole; the producer snapshot the roll callbacks wrote; the dir) go to the
        log manager's flush thread, and the recovery point moves to the new segment's base only
        once they are done, so the event loop does not wait on the disk for them.
        """
        active = self._segments[-1]
        if active.size == 0:
            return active
        unflushed = self._segments[self._segment_holding(self.recovery_point):]
        segment = self._new_segment(self.log_end_offset)
        active.become_inactive(sync=False)
        segment.become_active()
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        for callback in self.on_roll:
            callback(self)
        files = [path for s in unflushed for path in s.paths] + [Path(f"{segment.stem}{SNAPSHOT_SUFFIX}")]
        self._flush_later(files, segment.base_offset)
        return segment

    def _flush_later(self, files: list[Path], recovery_point: int, awaited: bool = False) -> FlushJob:
        """fsync `files` and the dir on the flush thread (inline without one); the recovery point
        moves to `recovery_point` once done."""
        job = FlushJob(files, self.directory, recovery_point, str(self), self, awaited)
        self._flush_jobs.append(job)
        if self._flusher is None:
            job.run()
        else:
            self._flusher.submit(job)
        return job

    def _flush_for_append(self, previous_end: int) -> None:
        """`flush.messages`, deferred: flush up to the log end on the flush thread. The appended
        records (from `previous_end` on) become readable (the high watermark passes them) once
        that is done, and the caller waits for `awaited_flush` before answering."""
        self._flush_asked = self.log_end_offset
        if not self._high_watermark_holds:
            self._held_at = previous_end
        self._high_watermark_holds += 1
        self.awaited_flush = self._flush_to_end_later(self.recovery_point, awaited=True)

    def _flush_to_end_later(self, point: int, awaited: bool = False) -> FlushJob:
        """What `flush` from `point` would fsync, on the flush thread; the active segment's index
        entries are written here first, where they are kept."""
        rolled, active = self._unflushed(point)
        active.write_index_entries()
        return self._flush_later(rolled + [active.log_path], self.log_end_offset, awaited)

    def flush(self) -> None:
        """fsync every segment holding offsets at or above the recovery point, then advance it.

        Rolled segments among them go whole (indexes too), as their roll flush would, and the dir
        when one of them is newer than the recovery point, as Kafka's flush does, so a flush that
        overtakes a roll flush leaves nothing behind. After a failed roll flush (`storage_error`)
        nothing moves: the disk may have dropped the pages that fsync was writing.
        """
        point = self.recovery_point
        if point < self.log_end_offset and self.storage_error is None:
            rolled, active = self._unflushed(point)
            for path in rolled:
                fsync_if_exists(path)
            active.flush()
            if active.base_offset >= point:
                fsync_dir(self.directory)
            self._recovery_point = self.log_end_offset
            self._end_deferral(self._recovery_point)
        self._last_flush_ms = now_ms()

    def _unflushed(self, point: int) -> tuple[list[Path], LogSegment]:
        """What a flush from `point` covers: every file of the rolled segments holding offsets at
        or above it, and the active segment."""
        segments = self._segments[self._segment_holding(point):]
        return [path for s in segments[:-1] for path in s.paths], segments[-1]

    def _segment_holding(self, offset: int) -> int:
        """The index of the segment holding `offset` (the first, for one before the log)."""
        return max(bisect_right(self._bases, offset) - 1, 0)

    def flush_if_due(self, now: float | None = None) -> None:
        """The `flush.ms` rule, for the broker's periodic task; the fsyncs run on the flush thread,
        as on Kafka's log flusher thread."""
        now = now_ms() if now is None else now
        point = self.recovery_point
        if now - self._last_flush_ms < self.config.flush_ms or point >= self.log_end_offset:
            return
        self._last_flush_ms = now
        if self.storage_error is not None:
            return
        if self._deferred_to is not None:  # awaited, so its owner is told (a leader's high watermark moves)
            self.flush_again()
        else:
            self._flush_to_end_later(point)

    # -- reading

    def read(self, offset: int, max_bytes: int, min_one: bool = True, upper: int | None = None) -> bytes:
        """Stored bytes starting with the batch that holds `offset`, below `upper` (default: the end).

        As Kafka does, the answer is cut at `max_bytes` even inside a batch (clients drop a partial
        last batch); with `min_one` the first batch comes whole even when larger than `max_bytes`.
        """
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(f"offset {offset} is outside [{self.log_start_offset}, {self.log_end_offset}] "
                                        f"of {self}")
        end = self.log_end_offset if upper is None else min(upper, self.log_end_offset)
        i = bisect_right(self._bases, offset) - 1
        while offset < end and i < len(self._segments):
            segment = self._segments[i]
            data = segment.read(offset, max_bytes, self._position_limit(i, end), min_one)
            if data is not None:
                return data
            i += 1
            if i < len(self._segments):
                offset = max(offset, self._bases[i])
        return b""

    def _position_limit(self, i: int, end: int) -> int:
        """The byte position in segment `i` where offsets reach `end`."""
        segment = self._segments[i]
        if end >= (self._bases[i + 1] if i + 1 < len(self._bases) else self.log_end_offset):
            return segment.size
        found = segment.locate(end)
        return found[0] if found else segment.size

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with a timestamp >= `timestamp`, for ListOffsets."""
        for segment in self._segments:
            if segment.max_timestamp >= timestamp:
                found = segment.find_timestamp(timestamp, self.log_start_offset)
                if found is not None:
                    return found
        return None

    def max_timestamp_offset(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record holding the largest timestamp (ListOffsets -3)."""
        best = max(self._segments, key=lambda s: s.max_timestamp)  # the first of equals, as Kafka
        if best.max_timestamp < 0:
            return None
        return best.find_timestamp(best.max_timestamp, self.log_start_offset)

    # -- removing

    def delete_records_before(self, offset: int) -> int:
        """Advance the log start offset to `offset` (DeleteRecords) and drop the segments wholly
        below it; returns the new log start offset."""
        if offset > self.high_watermark:
            raise OffsetOutOfRangeError(f"cannot delete records before {offset}: the high watermark is "
                                        f"{self.high_watermark}")
        if offset > self.log_start_offset:
            self.log_start_offset = offset
            self._delete_while(lambda segment, upper: upper <= self.log_start_offset)
        return self.log_start_offset

    def apply_retention(self, now: float | None = None) -> int:
        """Delete old segments by `retention.ms` (a segment's largest timestamp), `retention.bytes`
        (both only with cleanup.policy `delete`), and the log start offset; returns how many were deleted.

        As in Kafka, only a prefix of segments goes, never beyond the high watermark; the active
        segment goes too when it qualifies, after a roll to an empty one.
        """
        now = now_ms() if now is None else now
        deleted = self._delete_while(lambda segment, upper: upper <= self.log_start_offset)
        if not self.config.delete:
            return deleted  # cleanup.policy=compact alone: the cleaner, not age or size, removes records
        retention_ms = self.config.retention_ms
        if retention_ms >= 0:
            deleted += self._delete_while(lambda segment, upper: now - segment.largest_timestamp() > retention_ms)
        if self.config.retention_bytes >= 0:
            excess = self.size_in_bytes - self.config.retention_bytes

            def over_size(segment: LogSegment, upper: int) -> bool:
                nonlocal excess
                if excess < segment.size:
                    return False
                excess -= segment.size
                return True

            deleted += self._delete_while(over_size)
        return deleted

    def _delete_while(self, predicate: Callable[[LogSegment, int], bool]) -> int:
        count = 0
        for i, segment in enumerate(self._segments):
            last = i + 1 == len(self._segments)
            upper = self.log_end_offset if last else self._bases[i + 1]
            if (last and segment.size == 0) or upper > self.high_watermark or not predicate(segment, upper):
                break
            count += 1
        if count == len(self._segments):
            self.roll()
        for segment in self._segments[:count]:
            segment.delete()
            Path(f"{segment.stem}{SNAPSHOT_SUFFIX}").unlink(missing_ok=True)  # its producer snapshot, as Kafka
        del self._segments[:count], self._bases[:count]
        self.log_start_offset = max(self.log_start_offset, self._bases[0])
        self._align_leader_epochs()
        return count

    def replace_segments(self, old: list[LogSegment], new: LogSegment) -> None:
        """Put a compacted segment where the consecutive segments `old` were; the cleaner has
        already swapped the files on disk. Offsets are unchanged, so nothing else moves."""
        first = self._segments.index(old[0])
        self._segments[first:first + len(old)] = [new]
        self._bases = [s.base_offset for s in self._segments]

    def truncate_to(self, offset: int) -> None:
        """Remove every batch holding offsets >= `offset` (a replica diverging from its leader).

        A batch is never split, so the log may end a little before `offset`.
        """
        if offset >= self.log_end_offset:
            return
        if offset <= self._bases[0]:
            self._restart_at(offset)
            return
        keep = bisect_right(self._bases, offset - 1)
        for segment in self._segments[keep:]:
            segment.delete()
        del self._segments[keep:], self._bases[keep:]
        active = self._segments[-1]
        active.truncate_to(offset)
        active.become_active()
        self.log_end_offset = active.read_next_offset()
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        self._forget_flush_jobs()
        self._recovery_point = min(self._recovery_point, self.log_end_offset)
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self._align_leader_epochs()

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop everything and continue at `offset` (a follower whose leader deleted past its end)."""
        self._restart_at(offset)

    def _restart_at(self, offset: int) -> None:
        """Drop every segment and start empty at `offset`."""
        for segment in self._segments:
            segment.delete()
        self._segments = [self._new_segment(offset)]
        self._segments[0].become_active()
        self._bases = [offset]
        self.log_start_offset = self.log_end_offset = self.high_watermark = offset
        self._forget_flush_jobs()
        self._recovery_point = offset
        fsync_dir(self.directory)
        self._align_leader_epochs()

    def _forget_flush_jobs(self) -> None:
        """After a truncation: queued flushes would move the recovery point past the new end."""
        self._flush_jobs.clear()
        self._flush_asked = self._high_watermark_holds = 0
        self._deferred_to = None

    def _align_leader_epochs(self) -> None:
        """Fit the epoch entries to the offsets the log now holds, as Kafka's log does after a moved
        log start or a truncation: the entry covering the log start moves there, and the epoch
        being led starts at or before the log end (entries past it go). Before the partition is
        led, entries past the end are kept: the next leader's entry replaces them, and takes an
        epoch number above theirs, so no epoch a client has seen is ever reused."""
        self.leader_epochs.truncate_from_start(self.log_start_offset)
        if self.leader_epoch >= 0:
            self.leader_epochs.assign(self.leader_epoch, self.log_end_offset)
        self.leader_epochs.save(defer_additions=True)

    def drop_unused_leader_epoch(self) -> None:
        """Forget a pending epoch entry of a log that has never held a batch, rather than write a
        file for it: with no entry on disk the next start leads in epoch 0 again, the epoch it was
        led in, and OffsetForLeaderEpoch has nothing to answer for an empty log either way."""
        if self.leader_epochs.pending and not self.leader_epochs.saved_any and self.log_end_offset == 0:
            self.leader_epochs.drop_pending()

    def _new_segment(self, base_offset: int) -> LogSegment:
        return LogSegment(self.directory, base_offset, self.config.index_interval_bytes,
                          self.config.segment_index_bytes)

    # -- lifecycle

    def close(self, flush: bool = True) -> None:
        """Flush, trim the active indexes and close the files; without `flush` (the log is being
        deleted) only close them."""
        if flush:
            self.flush()
            self.drop_unused_leader_epoch()
            self.leader_epochs.save()
        for segment in self._segments:
            if flush:
                segment.close()
            else:
                segment.release()
