"""Append and read throughput of a partition log, in MB/s, for batches of 1 KiB records.

    .venv/bin/python bench/log_append.py [--megabytes 512] [--records-per-batch 16] [--dir /tmp]

Also compares the two ways to copy stored bytes out for a fetch: os.pread and slicing an mmap.
"""

from __future__ import annotations

import argparse
import mmap
import os
import tempfile
import time
from pathlib import Path

from kproto.records.batch import build_batch
from kproto.records.header import iter_batch_headers
from kproto.records.record import Record

from kbroker.log import LogConfig, PartitionLog

RECORD_BYTES = 1024
FETCH_BYTES = 1024 * 1024  # a typical max.partition.fetch.bytes


def one_batch(records: int) -> bytes:
    stamp = int(time.time() * 1000)
    return build_batch([Record(i, stamp, None, os.urandom(RECORD_BYTES)) for i in range(records)])


def bench_append(plog: PartitionLog, template: bytes, total: int) -> float:
    count = total // len(template)
    start = time.perf_counter()
    for _ in range(count):
        plog.append(bytearray(template))
    return count * len(template) / (time.perf_counter() - start) / 1e6


def bench_read(plog: PartitionLog) -> tuple[float, int]:
    offset, total = 0, 0
    start = time.perf_counter()
    while offset < plog.log_end_offset:
        data = plog.read(offset, FETCH_BYTES)
        total += len(data)
        offset = last_whole_offset(data) + 1
    return total / (time.perf_counter() - start) / 1e6, total


def last_whole_offset(data: bytes) -> int:
    last = -1
    for _, header in iter_batch_headers(data):
        last = header.last_offset
    return last


def bench_copy(path: Path, rounds: int = 2000) -> tuple[float, float]:
    """MB/s of 1 MiB copies from a segment by pread and by mmap slicing."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        positions = [(i * 7919 * 4096) % max(size - FETCH_BYTES, 1) for i in range(rounds)]
        start = time.perf_counter()
        for pos in positions:
            os.pread(fd, FETCH_BYTES, pos)
        pread_rate = rounds * FETCH_BYTES / (time.perf_counter() - start) / 1e6
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
            start = time.perf_counter()
            for pos in positions:
                mapped[pos:pos + FETCH_BYTES]
            mmap_rate = rounds * FETCH_BYTES / (time.perf_counter() - start) / 1e6
    finally:
        os.close(fd)
    return pread_rate, mmap_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--records-per-batch", type=int, default=16)
    parser.add_argument("--dir", default=None, help="where to put the log (default: a temporary dir)")
    args = parser.parse_args()
    template = one_batch(args.records_per_batch)
    total = args.megabytes * 1024 * 1024
    print(f"batches of {args.records_per_batch} x {RECORD_BYTES} B records ({len(template)} B a batch), "
          f"{args.megabytes} MiB")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for label, settings in (("default flush", {}), ("flush.messages=1", {"flush.messages": 1})):
            directory = Path(tmp) / label.replace(" ", "_").replace("=", "")
            plog = PartitionLog(directory / "bench-0", "bench", 0,
                                LogConfig.from_mapping({"segment.bytes": 256 * 1024 * 1024, **settings}))
            amount = total if not settings else min(total, 32 * 1024 * 1024)
            rate = bench_append(plog, template, amount)
            print(f"append, {label:17} {rate:8.1f} MB/s  ({amount // (1024 * 1024)} MiB)")
            if not settings:
                read_rate, read_total = bench_read(plog)
                print(f"read 1 MiB fetches (page cache) {read_rate:8.1f} MB/s  ({read_total // (1024 * 1024)} MiB)")
                pread_rate, mmap_rate = bench_copy(plog.segments[0].log_path)
                print(f"copy 1 MiB: os.pread {pread_rate:8.1f} MB/s, mmap slice {mmap_rate:8.1f} MB/s")
            plog.close()


if __name__ == "__main__":
    main()
