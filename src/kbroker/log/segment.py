"""One segment: a `.log` file of record batches and its two sparse indexes."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

from kproto.exceptions import ProtocolError
from kproto.records.batch import decode_batch
from kproto.records.header import BatchHeader

from kbroker.log.files import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    segment_stem,
)
from kbroker.log.handles import LazyFile
from kbroker.log.index import INT32_MAX, OffsetIndex, TimeIndex
from kbroker.log.scan import RECOVERY_CHUNK, CorruptBatchError, iter_file_batches, read_exactly

log = logging.getLogger("kbroker.log")


class BatchInfo(NamedTuple):
    """What a segment needs to know of a batch it appends: no record bytes are parsed."""

    size: int
    last_offset: int
    max_timestamp: int


class LogSegment:
    """Appends go to the end of the `.log` file; reads start at a position found in the offset index.

    `index_interval_bytes` of log bytes pass between two index entries, as in Kafka, so a lookup
    scans at most that many bytes of batch headers after the index has narrowed it down. The files
    are opened on demand through the handle cache (`handles.py`).
    """

    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int, max_index_bytes: int) -> None:
        self.base_offset = base_offset
        # File names are kept as str and made into Paths when asked for: a Path is two objects the
        # garbage collector tracks (it and its list of parts), and every full collection walks them,
        # eight a segment, 160,000 with 20,000 partitions.
        self.stem = str(segment_stem(directory, base_offset))
        self.index_interval_bytes = index_interval_bytes
        self._file = LazyFile(self.stem + LOG_SUFFIX)
        self.size = os.fstat(self._file.get()).st_size
        self.offset_index = OffsetIndex(self.stem + INDEX_SUFFIX, base_offset, max_index_bytes)
        self.time_index = TimeIndex(self.stem + TIME_INDEX_SUFFIX, base_offset, max_index_bytes)
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.bytes_since_index_entry = 0
        self.created_ms = time.time() * 1000
        self._first_batch_timestamp: int | None = None

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size})"

    @property
    def log_path(self) -> Path:
        return Path(self._file.path)

    @property
    def fd(self) -> int:
        """The `.log` file's descriptor, for one read or write: the cache may close it later."""
        return self._file.get()

    # -- loading

    def load_indexes(self) -> None:
        """Read both index files; raises FileNotFoundError or CorruptIndexError when they must be rebuilt."""
        if self.size == 0:
            return  # nothing to index: the files appear with the first entry
        self.offset_index.load(self.size)
        self.time_index.load()
        self._resume_from_indexes()

    def recover(self, context: str) -> int:
        """Rebuild both indexes from the log, checking every batch; cut the log at the first bad one.

        Returns the number of bytes cut off (a torn write or damaged tail), 0 when all was whole.
        """
        self.offset_index.restart()
        self.time_index.restart()
        self.max_timestamp = self.offset_of_max_timestamp = -1
        valid = 0
        last_entry = 0
        next_offset = self.base_offset
        reason = ""
        self._first_batch_timestamp = None
        try:
            for pos, header in iter_file_batches(self.fd, 0, self.size, check_crc=True, chunk=RECOVERY_CHUNK):
                if header.base_offset < next_offset or header.last_offset - self.base_offset > INT32_MAX:
                    raise CorruptBatchError(pos, f"offsets {header.base_offset}-{header.last_offset} do not "
                                                 f"follow {next_offset - 1} in a segment based at {self.base_offset}")
                self._note_timestamp(header.max_timestamp, header.last_offset)
                if valid - last_entry > self.index_interval_bytes:
                    self._add_index_entries(header.last_offset, valid)
                    last_entry = valid
                valid = pos + header.size
                next_offset = header.next_offset
        except CorruptBatchError as exc:
            reason = exc.reason
        truncated = self.size - valid
        if truncated:
            log.warning("%s: cutting %d bytes at byte %d of %s (the log now ends before offset %d): %s",
                        context, truncated, valid, self.log_path.name, next_offset, reason)
            os.ftruncate(self.fd, valid)
            self.size = valid
        self.bytes_since_index_entry = valid - last_entry
        self.become_inactive()
        return truncated

    def _resume_from_indexes(self) -> None:
        last = self.time_index.last
        if last is not None:
            self.max_timestamp, self.offset_of_max_timestamp = last
        # The batches after the last index entry may hold a larger timestamp (an active segment).
        last_position = self.offset_index.last_position
        for _, header in iter_file_batches(self.fd, last_position, self.size):
            self._note_timestamp(header.max_timestamp, header.last_offset)
        self.bytes_since_index_entry = self.size - last_position

    # -- writing

    def append(self, data: bytes | bytearray, batches: list[BatchInfo]) -> None:
        """Write batches whose offsets are already assigned, adding index entries every interval."""
        position = self.size
        if position == 0:
            self._first_batch_timestamp = batches[0].max_timestamp
        view = memoryview(data)
        written = 0
        fd = self._file.get()
        try:
            while written < len(view):
                written += os.pwrite(fd, view[written:], position + written)
        except OSError:
            if written:  # a full disk took part of the batch: a clean restart would trust that part
                os.ftruncate(fd, position)
            raise
        for batch in batches:
            self._note_timestamp(batch.max_timestamp, batch.last_offset)
            if self.bytes_since_index_entry > self.index_interval_bytes:
                self._add_index_entries(batch.last_offset, position)
                self.bytes_since_index_entry = 0
            position += batch.size
            self.bytes_since_index_entry += batch.size
        self.size = position

    def _note_timestamp(self, timestamp: int, offset: int) -> None:
        if timestamp > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = timestamp, offset

    def _add_index_entries(self, last_offset: int, position: int) -> None:
        self.offset_index.append(last_offset, position)
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)

    def should_roll(self, incoming: int, max_timestamp: int, last_offset: int, segment_bytes: int,
                    segment_ms: int, now_ms: float) -> bool:
        """Kafka's roll rules: full by size or index, too old, or an offset beyond int32 of the base."""
        if self.size == 0:
            return False
        return (self.size + incoming > segment_bytes
                or self._waited_ms(max_timestamp, now_ms) > segment_ms
                or self.offset_index.is_full or self.time_index.is_full
                or last_offset - self.base_offset > INT32_MAX)

    def _waited_ms(self, incoming_timestamp: int, now_ms: float) -> float:
        """Age by record time when the segment's first batch has a timestamp, else by wall clock."""
        if self._first_batch_timestamp is None:
            self._first_batch_timestamp = read_header(self.fd, 0).max_timestamp if self.size else -1
        if self._first_batch_timestamp >= 0:
            return incoming_timestamp - self._first_batch_timestamp
        return now_ms - self.created_ms

    def become_inactive(self, sync: bool = True) -> None:
        """After a roll: record the largest timestamp in the time index and cut both files to size;
        without `sync` their fsync is left to the roll's flush (`flusher.py`)."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True)
        self.offset_index.close(create=self.size > 0, sync=sync)
        self.time_index.close(create=self.size > 0, sync=sync)

    def become_active(self) -> None:
        """Preallocate the index files so entries are written in place."""
        self.offset_index.preallocate()
        self.time_index.preallocate()

    def truncate_to(self, offset: int) -> int:
        """Drop every batch holding offsets >= `offset` (a batch is never split); returns bytes removed."""
        found = self.locate(offset)
        if found is None:
            return 0
        position = found[0]
        removed = self.size - position
        os.ftruncate(self.fd, position)
        self.size = position
        self.offset_index.truncate_to_position(position)
        self.time_index.truncate_to(offset)
        self.max_timestamp = self.offset_of_max_timestamp = -1
        self._resume_from_indexes()
        if position == 0:
            self._first_batch_timestamp = None
        return removed

    def flush(self) -> None:
        """fsync the batches. The indexes of an active segment are written, and left to the page
        cache: the segment holding the recovery point is always rescanned after an unclean stop,
        which rebuilds them; they are fsynced once, after the segment rolls or as it closes."""
        self.write_index_entries()
        os.fsync(self.fd)

    def write_index_entries(self) -> None:
        """Write the index entries still held in memory (`index.py`) to their files."""
        self.offset_index.write_pending()
        self.time_index.write_pending()

    @property
    def paths(self) -> list[Path]:
        """Every file of the segment, whether it exists yet or not."""
        return [self.log_path, self.offset_index.path, self.time_index.path, Path(f"{self.stem}{TXN_INDEX_SUFFIX}")]

    def close(self) -> None:
        self.become_inactive()
        self._file.close()

    def release(self) -> None:
        """Close the files without cutting, writing or fsyncing the indexes: the segment, or its
        whole partition, is being deleted."""
        self._file.close()
        self.offset_index.release()
        self.time_index.release()

    def delete(self) -> None:
        """Rename the files to `.deleted`, then remove them: a crash in between leaves only files
        that loading removes, never a segment missing part of itself. Kafka waits
        `file.delete.delay.ms` between the two steps for readers on other threads; reads here
        copy bytes out synchronously, so nothing can still be reading."""
        self.release()
        doomed = []
        for path in self.paths:
            target = path.with_name(path.name + DELETED_SUFFIX)
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue
            doomed.append(target)
        for path in doomed:
            path.unlink(missing_ok=True)

    # -- reading

    def locate(self, offset: int, start: int = 0) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch with a last offset >= `offset`, or None."""
        begin = max(self.offset_index.lookup(offset), start)
        for pos, header in iter_file_batches(self.fd, begin, self.size):
            if header.last_offset >= offset:
                return pos, header
        return None

    def read(self, offset: int, max_bytes: int, max_position: int, min_one: bool) -> bytes | None:
        """Bytes from the batch holding `offset`, at most `max_bytes` (the first batch whole with
        `min_one`), ending before `max_position`; None when the segment ends before `offset`."""
        found = self.locate(offset)
        if found is None:
            return None
        position, header = found
        limit = max(max_bytes, header.size) if min_one else max_bytes
        size = min(max_position - position, limit)
        if size <= 0:
            return b""
        return read_exactly(self.fd, size, position)

    def read_next_offset(self) -> int:
        """The offset after the last batch (the base offset when empty): a scan from the last index entry."""
        next_offset = self.base_offset
        for _, header in iter_file_batches(self.fd, self.offset_index.last_position, self.size):
            next_offset = header.next_offset
        return next_offset

    def find_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `start_offset` whose timestamp is >=
        `timestamp`; None when this segment has none."""
        if self.max_timestamp < timestamp:
            return None
        before = self.time_index.offset_before(timestamp)
        begin = self.offset_index.lookup(max(start_offset, before + 1 if before is not None else 0))
        for pos, header in iter_file_batches(self.fd, begin, self.size):
            if header.max_timestamp < timestamp or header.last_offset < start_offset:
                continue
            try:
                batch = decode_batch(read_exactly(self.fd, header.size, pos))
            except ProtocolError:
                return header.base_offset, header.max_timestamp  # undecodable: answer at batch level
            for record in batch.records:
                if record.timestamp >= timestamp and record.offset >= start_offset:
                    return record.offset, record.timestamp
        return None

    def largest_timestamp(self) -> int:
        """What retention.ms compares with: the largest record timestamp, else the file's mtime."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return self.last_modified_ms()

    def last_modified_ms(self) -> int:
        """The log file's mtime: ListOffsets v0 dates a segment by it, as Kafka does."""
        return int(os.fstat(self.fd).st_mtime * 1000)


def read_header(fd: int, position: int) -> BatchHeader:
    for _, header in iter_file_batches(fd, position, os.fstat(fd).st_size):
        return header
    raise CorruptBatchError(position, "no batch there")
