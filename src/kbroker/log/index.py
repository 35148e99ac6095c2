"""A segment's sparse indexes, `.index` and `.timeindex`, in Kafka's layout.

Both files are arrays of fixed-size big-endian entries; offsets are stored relative to the
segment's base offset, which is why a segment rolls before a relative offset would overflow int32.

    .index       8 bytes an entry:  int32 relative offset, int32 byte position in the .log
    .timeindex  12 bytes an entry:  int64 timestamp (ms), int32 relative offset

An offset index entry names the last offset of a batch and the position where that batch starts.
A time index entry names the largest timestamp seen so far in the segment and the last offset of
the batch that carried it; entries are only added when the timestamp grows.

While its segment is active an index file is preallocated to `segment.index.bytes` (rounded down
to whole entries) when its first entry is written, and filled in place; when the segment rolls or closes it is cut to its entries,
as Kafka does. The entries also live in memory, so lookups never touch the file, and the file is
open only while the handle cache keeps it (`handles.py`).

After the first, entries reach the file in groups of `WRITE_EVERY`, and all of them when the
segment flushes, rolls or closes: a write per produce request for each index was more system calls
than the batch's own, and an index rebuild wrote each entry alone. Nothing reads an active
segment's index file but a restart, which after a clean stop finds every entry written, and after
an unclean one rebuilds the active segment's indexes from its log.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Iterator

from kbroker.log.handles import LazyFile

OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")
INT32_MAX = 2**31 - 1
WRITE_EVERY = 64  # entries held in memory before they are written to the file together


class CorruptIndexError(Exception):
    """The index file cannot be trusted; the segment's indexes are rebuilt from its log."""


class IndexFile:
    """The file behind an index: preallocated while its segment is active (from its first entry
    on), cut to its entries otherwise; its descriptor comes from the handle cache whenever an
    entry is written."""

    entry = OFFSET_ENTRY

    def __init__(self, path: str | Path, base_offset: int, max_bytes: int) -> None:
        self._file = LazyFile(path)  # which keeps the name, as a str
        self.base_offset = base_offset
        self.max_entries = max(max_bytes // self.entry.size, 1)
        self._active = False  # entries are written in place, in a file grown to its maximum size
        self._grown = False  # the file has been grown so
        self._on_file = 0  # entries before this one are written to the file

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def path(self) -> Path:
        return Path(self._file.path)

    @property
    def is_full(self) -> bool:
        return len(self) >= self.max_entries

    def read_entries(self) -> list[tuple[int, int]]:
        """The entries the file holds; raises FileNotFoundError or CorruptIndexError."""
        data = self.path.read_bytes()
        if len(data) % self.entry.size:
            raise CorruptIndexError(f"{self.path}: size {len(data)} is not a multiple of {self.entry.size}")
        return list(self.entry.iter_unpack(data))

    def preallocate(self) -> None:
        """Take entries in place from now on: the file grows to its maximum size with the first
        entry written, so a partition that never gets one costs no index files."""
        self._active = True

    def restart(self) -> None:
        """Drop every entry, in memory and on disk, and take new ones in place for a rebuild."""
        self._clear()
        self.preallocate()
        self.cut()

    def close(self, create: bool = True, sync: bool = True) -> None:
        """Cut the file to its entries, as a rolled or closed segment keeps it, and make that
        durable (unless the caller fsyncs it later, `sync` false): once the recovery point passes
        its segment no recovery scan rebuilds it. Without `create` (an empty segment's index) a
        file never written stays absent."""
        self.write_pending()
        if self._grown or (create and self._active):
            fd = self._file.get()
            os.ftruncate(fd, len(self) * self.entry.size)
            if sync:
                os.fsync(fd)
        self._active = self._grown = False
        self._file.close()
        self._file = LazyFile(self._file.path)  # a later truncation or entry opens it again

    def release(self) -> None:
        """Close the file as it is, entries in memory unwritten: its segment is being deleted."""
        self._file.close()

    def cut(self) -> None:
        """Drop the file's entries past the in-memory ones; a grown file keeps its size, as zeros
        rather than stale entries."""
        self._on_file = min(self._on_file, len(self))
        fd = self._file.get()
        size = os.fstat(fd).st_size
        os.ftruncate(fd, self._on_file * self.entry.size)
        if self._grown:
            os.ftruncate(fd, size)

    def write_pending(self) -> None:
        """Write the entries not yet on file, in place: into the grown file, or at the end of a trimmed one."""
        if self._on_file == len(self):
            return
        fd = self._file.get()
        if self._active and not self._grown:
            os.ftruncate(fd, max(self.max_entries, len(self)) * self.entry.size)
            self._grown = True
        pack = self.entry.pack
        pending = b"".join([pack(*pair) for pair in self._pairs(self._on_file)])
        os.pwrite(fd, pending, self._on_file * self.entry.size)
        self._on_file = len(self)

    def _added(self) -> None:
        """The first entry makes (and grows) the file at once; the others wait for a group."""
        if self._on_file == 0 or len(self) - self._on_file >= WRITE_EVERY:
            self.write_pending()

    def _pairs(self, start: int) -> Iterator[tuple[int, int]]:
        """The entries from `start` on, as the file holds them."""
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError


class OffsetIndex(IndexFile):
    """Maps offsets to byte positions: where to start scanning for a batch."""

    entry = OFFSET_ENTRY

    def __init__(self, path: str | Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, base_offset, max_bytes)
        self.relative = array("i")
        self.positions = array("i")

    def __len__(self) -> int:
        return len(self.relative)

    def load(self, log_size: int) -> None:
        """Read and check the file: offsets and positions must grow and stay inside the log."""
        entries = self.read_entries()
        relative = array("i", (e[0] for e in entries))
        positions = array("i", (e[1] for e in entries))
        for i in range(len(entries)):
            if relative[i] < 0 or positions[i] >= log_size or (
                    i and (relative[i] <= relative[i - 1] or positions[i] <= positions[i - 1])):
                raise CorruptIndexError(f"{self.path}: entry {i} {entries[i]} is out of order or out of range")
        self.relative, self.positions = relative, positions
        self._on_file = len(entries)

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        if self.relative and relative <= self.relative[-1]:
            return  # Kafka also refuses entries that do not move forward
        self.relative.append(relative)
        self.positions.append(position)
        self._added()

    def lookup(self, offset: int) -> int:
        """Byte position of the last indexed batch ending at or before `offset` (0 if none)."""
        i = bisect_right(self.relative, offset - self.base_offset) - 1
        return self.positions[i] if i >= 0 else 0

    @property
    def last_position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def truncate_to_position(self, position: int) -> None:
        """Forget entries pointing at or past `position` (the log was cut there)."""
        keep = bisect_left(self.positions, position)
        del self.relative[keep:], self.positions[keep:]
        self.cut()

    def _clear(self) -> None:
        del self.relative[:], self.positions[:]

    def _pairs(self, start: int) -> Iterator[tuple[int, int]]:
        return zip(self.relative[start:], self.positions[start:])


class TimeIndex(IndexFile):
    """Maps timestamps to offsets: where to start scanning for the first record at a time."""

    entry = TIME_ENTRY

    def __init__(self, path: str | Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, base_offset, max_bytes)
        self.timestamps = array("q")
        self.relative = array("i")

    def __len__(self) -> int:
        return len(self.timestamps)

    def load(self) -> None:
        entries = self.read_entries()
        timestamps = array("q", (e[0] for e in entries))
        relative = array("i", (e[1] for e in entries))
        for i in range(len(entries)):
            if relative[i] < 0 or (i and (timestamps[i] <= timestamps[i - 1] or relative[i] < relative[i - 1])):
                raise CorruptIndexError(f"{self.path}: entry {i} {entries[i]} is out of order")
        self.timestamps, self.relative = timestamps, relative
        self._on_file = len(entries)

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Add (timestamp, offset) if the timestamp is larger than the last entry's."""
        if timestamp < 0 or (self.timestamps and timestamp <= self.timestamps[-1]):
            return
        if self.is_full and not skip_full_check:
            return
        relative = offset - self.base_offset
        self.timestamps.append(timestamp)
        self.relative.append(relative)
        self._added()

    @property
    def last(self) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry: a rolled segment's largest timestamp."""
        if not self.timestamps:
            return None
        return self.timestamps[-1], self.relative[-1] + self.base_offset

    def offset_before(self, timestamp: int) -> int | None:
        """The offset of the last entry with a timestamp below `timestamp`: every record at or
        before that offset is older, so a search may start just after it."""
        i = bisect_left(self.timestamps, timestamp) - 1
        return self.relative[i] + self.base_offset if i >= 0 else None

    def truncate_to(self, offset: int) -> None:
        """Forget entries for offsets >= `offset`."""
        keep = bisect_left(self.relative, offset - self.base_offset)
        del self.timestamps[keep:], self.relative[keep:]
        self.cut()

    def _clear(self) -> None:
        del self.timestamps[:], self.relative[:]

    def _pairs(self, start: int) -> Iterator[tuple[int, int]]:
        return zip(self.timestamps[start:], self.relative[start:])

