"""Open descriptors of log files, opened on demand and bounded by the process's open-file limit.

Three files a segment (log, offset index, time index) held open for every partition would cap a
broker at a third of `ulimit -n` partitions, and leave no descriptors for client sockets. Kafka
keeps its indexes mmapped, which needs no descriptor; here every segment and index file is a
`LazyFile`, whose descriptor is opened when the file is read or written and closed again when
the cache of open handles is full and it is the least recently used. The cache holds half of the
soft open-file limit: the other half is left to sockets, directories and checkpoint files.

Each thread has a cache of its own (`handles()`), used by the files made on that thread: a broker
keeps its logs on its event loop's thread, and brokers run on threads of one process (the test
fixtures' thread mode) must not close each other's descriptors between a `get()` and its use.

When the process runs out of descriptors anyway (EMFILE, ENFILE), opening a log file closes the
older half of the cached handles and tries once more: log files give way to sockets.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("kbroker.log")

OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
# Never closed to make room: a caller may still be walking one of the files it touched last
# (a recovery scan writes index entries while it reads the log), so these stay open.
KEEP_RECENT = 8
MIN_CAPACITY = 2 * KEEP_RECENT


class LazyFile:
    """One file whose descriptor the cache opens on demand; `close` ends its use for good."""

    __slots__ = ("path", "flags", "fd", "closed", "_cache")

    def __init__(self, path: str | Path, flags: int = os.O_RDWR | os.O_CREAT, cache: HandleCache | None = None) -> None:
        self.path = os.fspath(path)  # a str: a Path is two more objects for the garbage collector to walk
        self.flags = flags
        self.fd = -1
        self.closed = False
        self._cache = handles() if cache is None else cache

    def get(self) -> int:
        """The open descriptor, opening the file if its handle was closed to make room."""
        if self.fd >= 0:
            self._cache.touch(self)
            return self.fd
        if self.closed:
            raise ValueError(f"{self.path} is closed")
        return self._cache.open(self)

    def close(self) -> None:
        """Close the descriptor; the file is not opened again through this object."""
        self.closed = True
        self._cache.release(self)


class HandleCache:
    """At most `capacity` open log files; the least recently used one is closed first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, MIN_CAPACITY)
        self._open: OrderedDict[LazyFile, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def touch(self, file: LazyFile) -> None:
        self._open.move_to_end(file)

    def open(self, file: LazyFile) -> int:
        while len(self._open) >= self.capacity:
            self._evict(1)
        file.fd = open_shedding(file.path, file.flags, self)
        self._open[file] = None
        return file.fd

    def release(self, file: LazyFile) -> None:
        if file.fd >= 0:
            del self._open[file]
            os.close(file.fd)
            file.fd = -1

    def shed(self) -> bool:
        """Close the older half of the handles (the most recent few stay); False when none could go."""
        return self._evict(min(len(self._open) // 2, len(self._open) - KEEP_RECENT)) > 0

    def _evict(self, count: int) -> int:
        for _ in range(count):
            file, _ = self._open.popitem(last=False)
            os.close(file.fd)
            file.fd = -1
        return max(count, 0)


def open_shedding(path: Path | str, flags: int, cache: HandleCache | None = None, mode: int = 0o644) -> int:
    """os.open, which on running out of descriptors closes cached log file handles and retries."""
    try:
        return os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno not in OUT_OF_DESCRIPTORS or not (handles() if cache is None else cache).shed():
            raise
    return os.open(path, flags, mode)


def soft_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_file_limit() -> int:
    """Raise the soft open-file limit to the hard one, as Kafka's start scripts ask operators to,
    and size the handle cache from it; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    global _capacity
    limit = soft_file_limit()
    _capacity = limit // 2
    handles().capacity = max(_capacity, MIN_CAPACITY)
    return limit


_capacity = soft_file_limit() // 2  # of each thread's cache made from now on


class _ThreadCaches(threading.local):
    def __init__(self) -> None:
        self.cache = HandleCache(_capacity)


_caches = _ThreadCaches()


def handles() -> HandleCache:
    """The calling thread's cache of open log files."""
    return _caches.cache
