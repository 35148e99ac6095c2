"""File names and durable file replacement, shared by segments, checkpoints and metadata files."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
SNAPSHOT_SUFFIX = ".snapshot"  # producer state as it stood at that offset (txn/state_files.py)
DELETED_SUFFIX = ".deleted"  # a segment file on its way out
CLEANED_SUFFIX = ".cleaned"  # compaction output not yet swapped in
SWAP_SUFFIX = ".swap"  # compaction output ready to replace the segments it covers
TMP_SUFFIX = ".tmp"  # a replacement file not yet renamed over its target
OFFSET_DIGITS = 20  # Kafka names segments by base offset, zero-padded to fit any int64


def segment_stem(directory: Path, base_offset: int) -> Path:
    """`<dir>/00000000000000000042`: add a suffix to name one file of the segment."""
    return directory / f"{base_offset:0{OFFSET_DIGITS}d}"


def base_offset_of(path: Path) -> int | None:
    """The base offset a segment file's name carries, or None for other files."""
    digits = path.name.split(".", 1)[0]
    if len(digits) != OFFSET_DIGITS or not digits.isdigit():
        return None
    return int(digits)


def fsync_dir(directory: Path) -> None:
    """Make a create, rename or unlink inside `directory` survive a crash."""
    fsync_path(directory)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file whole.

    Write a sibling temporary file, fsync it, rename it over the target, then fsync the directory
    so the rename itself is durable, the same sequence Kafka uses for its checkpoint files.
    """
    tmp = path.with_name(path.name + TMP_SUFFIX)
    _write_file(tmp, data, sync=True)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def replace_unsynced(path: Path, data: bytes) -> None:
    """Replace `path` through a renamed sibling, with no fsync: a crash may lose the new file or
    leave it empty, but never half written."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    _write_file(tmp, data, sync=False)
    os.replace(tmp, path)


def _write_file(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


# fsyncs issued together share the file system's journal commits: a thousand take about as long as
# a few issued one after another.
PARALLEL_FSYNCS = 32


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_if_exists(path: Path) -> None:
    """`fsync_path`, skipping a file or dir that retention, compaction, truncation or a deleted
    partition removed first, as Kafka's flushes skip a missing file."""
    try:
        fsync_path(path)
    except FileNotFoundError:
        pass


def write_many_atomically(files: Mapping[Path, bytes]) -> None:
    """`write_atomically` for many files at once, with their fsyncs issued in parallel: all
    temporary files are written and synced, then renamed, then their directories synced."""
    temporaries = {}
    for path, data in files.items():
        tmp = temporaries[path] = path.with_name(path.name + TMP_SUFFIX)
        tmp.write_bytes(data)
    with ThreadPoolExecutor(PARALLEL_FSYNCS, thread_name_prefix="fsync") as pool:
        list(pool.map(fsync_path, temporaries.values()))
        for path, tmp in temporaries.items():
            os.replace(tmp, path)
        list(pool.map(fsync_path, {path.parent for path in files}))
