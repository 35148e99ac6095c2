"""Building record batches for the log tests, with kproto's builder."""

from __future__ import annotations

from pathlib import Path

from kproto.records.batch import build_batch, decode_batches
from kproto.records.record import Record

from kbroker.log import LogConfig, PartitionLog


def batch(count: int = 1, *, timestamp: int = 1_700_000_000_000, value_size: int = 10,
          timestamps: list[int] | None = None) -> bytearray:
    """One uncompressed v2 batch of `count` records at offsets 0..count-1."""
    stamps = timestamps or [timestamp] * count
    records = [Record(i, stamps[i], b"k%d" % i, bytes([65 + i % 26]) * value_size) for i in range(len(stamps))]
    return bytearray(build_batch(records))


def offsets_in(data: bytes) -> list[int]:
    """Every record offset in whole batches of `data` (a partial last batch is skipped)."""
    return [record.offset for b in decode_batches(data) for record in b.records]


def open_log(path: Path, *, clean: bool = False, recovery_point: int = 0, **settings: int | str) -> PartitionLog:
    """A partition log in `path`/t-0 with topic configs given as keyword arguments
    (segment_bytes=... for 'segment.bytes')."""
    config = LogConfig.from_mapping({k.replace("_", "."): v for k, v in settings.items()})
    return PartitionLog(path / "t-0", "t", 0, config, clean=clean, recovery_point=recovery_point)


def read_offsets(plog) -> list[int]:
    """Every record offset in the log, read from its start one read at a time (gaps allowed)."""
    found: list[int] = []
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        got = [o for o in offsets_in(plog.read(offset, 1 << 20)) if o >= offset]
        if not got:
            break
        found += got
        offset = got[-1] + 1
    return found
