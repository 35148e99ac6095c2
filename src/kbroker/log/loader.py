"""Opening a partition dir: leftovers of interrupted work, segment discovery, index checks, recovery.

After an unclean stop, every segment from the one holding the recovery point onwards is scanned
batch by batch (sizes, CRC-32C, offsets) and its indexes rebuilt; the first bad batch and all after
it are cut off, and later segments deleted, since nothing after a torn write can be trusted. Older
segments and all segments after a clean stop are trusted, but their index files are still checked
and rebuilt when missing or inconsistent.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kbroker.log.files import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    TMP_SUFFIX,
    TXN_INDEX_SUFFIX,
    base_offset_of,
)
from kbroker.log.index import CorruptIndexError
from kbroker.log.scan import CorruptBatchError, iter_file_batches
from kbroker.log.segment import LogSegment

log = logging.getLogger("kbroker.log")

SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)


def load_segments(directory: Path, recovery_point: int, clean: bool, index_interval_bytes: int,
                  max_index_bytes: int, context: str) -> list[LogSegment]:
    """The partition's segments in offset order, each with usable indexes."""
    remove_leftovers(directory, context)
    complete_swaps(directory, context)
    bases = sorted(b for p in directory.iterdir() if p.name.endswith(LOG_SUFFIX)
                   and (b := base_offset_of(p)) is not None)
    remove_orphan_indexes(directory, set(bases), context)
    segments = [LogSegment(directory, base, index_interval_bytes, max_index_bytes) for base in bases]
    first_unflushed = max((i for i, s in enumerate(segments) if s.base_offset <= recovery_point), default=0)
    for i, segment in enumerate(segments):
        if clean or i < first_unflushed:
            try:
                segment.load_indexes()
                continue
            except (FileNotFoundError, CorruptIndexError, CorruptBatchError) as exc:
                log.warning("%s: rebuilding the indexes of %s: %s", context, segment.log_path.name, exc)
            segment.recover(context)
        elif segment.recover(context) and i + 1 < len(segments):
            for later in segments[i + 1:]:
                log.warning("%s: deleting %s, which follows a damaged segment", context, later.log_path.name)
                later.delete()
            return segments[:i + 1]
    return segments


def remove_leftovers(directory: Path, context: str) -> None:
    """Files of segments being deleted, compaction output never swapped in, unfinished replacements."""
    for path in directory.iterdir():
        if path.name.endswith((DELETED_SUFFIX, CLEANED_SUFFIX, TMP_SUFFIX)):
            log.info("%s: removing leftover %s", context, path.name)
            path.unlink(missing_ok=True)


def complete_swaps(directory: Path, context: str) -> None:
    """Finish a compaction that was cut short after its output was complete.

    A `.log.swap` file replaces the segments whose base offsets fall within its offsets: those are
    removed and the swap file renamed into place. Swapped index files are dropped, to be rebuilt.
    """
    for path in sorted(directory.iterdir()):
        if not path.name.endswith(SWAP_SUFFIX):
            continue
        if not path.name.endswith(LOG_SUFFIX + SWAP_SUFFIX) or base_offset_of(path) is None:
            path.unlink(missing_ok=True)
            continue
        base = base_offset_of(path)
        end = swap_next_offset(path, base)
        for other in directory.iterdir():
            other_base = base_offset_of(other)
            if (other_base is not None and base <= other_base < end and other.name.endswith(SEGMENT_SUFFIXES)):
                other.unlink(missing_ok=True)
        os.replace(path, path.with_name(path.name[:-len(SWAP_SUFFIX)]))
        log.info("%s: completed the swap of %s (offsets %d to %d)", context, path.name, base, end - 1)


def swap_next_offset(path: Path, base: int) -> int:
    fd = os.open(path, os.O_RDONLY)
    next_offset = base
    try:
        for _, header in iter_file_batches(fd, 0, os.fstat(fd).st_size):
            next_offset = header.next_offset
    except CorruptBatchError:
        pass  # the swap is recovered like any segment once in place
    finally:
        os.close(fd)
    return max(next_offset, base + 1)


def remove_orphan_indexes(directory: Path, bases: set[int], context: str) -> None:
    for path in directory.iterdir():
        base = base_offset_of(path)
        if base is not None and base not in bases and path.name.endswith(SEGMENT_SUFFIXES[1:]):
            log.info("%s: removing %s, whose segment is gone", context, path.name)
            path.unlink()
