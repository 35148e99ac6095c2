"""Time building and decoding a 100-record batch, against kafka-python's record code.

Run: .venv/bin/python bench/records.py   (prints microseconds per batch, lower is better)
"""

from __future__ import annotations

import time
import timeit

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kproto.compression import Codec
from kproto.records import Record, build_batch, decode_batch, set_base_offset, set_log_append_time, validate_batch

RECORDS = [Record(i, 1_700_000_000_000 + i, b"key-%05d" % i, b"value-%05d-" % i * 9, [("trace", b"abcdef")])
           for i in range(100)]


def theirs_build(codec: Codec) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=10**7)
    for r in RECORDS:
        builder.append(r.offset, timestamp=r.timestamp, key=r.key, value=r.value, headers=r.headers)
    return bytes(builder.build())


def theirs_decode(data: bytes) -> list:
    return [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in MemoryRecords(data).next_batch()]


def stamp(data: bytes) -> None:
    buf = bytearray(data)
    validate_batch(buf)
    set_base_offset(buf, 0, 1_000)
    set_log_append_time(buf, 0, 1_700_000_000_000)


def per_call_us(call: object) -> float:
    """Best of several runs, in CPU time of this process: other work on the machine counts less."""
    timer = timeit.Timer(call, timer=time.process_time)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=7, number=loops)) / loops * 1e6


def main() -> None:
    print(f"{'codec':8} {'op':22} {'kproto us':>10} {'kafka-python us':>16} {'speed-up':>9}")
    for codec in (Codec.NONE, Codec.LZ4, Codec.ZSTD, Codec.GZIP):
        ours = build_batch(RECORDS, compression=codec)
        rows = [
            ("build", lambda: build_batch(RECORDS, compression=codec), lambda: theirs_build(codec)),
            ("decode", lambda: decode_batch(ours), lambda: theirs_decode(ours)),
            ("validate+stamp", lambda: stamp(ours), None),
        ]
        for name, mine, other in rows:
            a = per_call_us(mine)
            if other is None:
                print(f"{codec.name:8} {name:22} {a:10.1f} {'-':>16} {'-':>9}")
            else:
                b = per_call_us(other)
                print(f"{codec.name:8} {name:22} {a:10.1f} {b:16.1f} {b / a:8.1f}x")


if __name__ == "__main__":
    main()
