"""`python -m bench.scale`: many partitions on one kbroker: creation per batch, restart, Metadata, RSS.

Measures produce-to-consume latency on the empty broker, then creates `--partitions` partitions in
CreateTopics requests of `--batch` partitions each (topics of `--topic-partitions`), timing each
request; the ratio of the last batch to the first says whether creation stays linear. Then it
times Metadata for every topic and measures latency again with every partition open, stops the
broker with SIGTERM and times a restart on the same data dir until the broker listens, and times
Metadata again. Times are compared with references taken in the same run (an empty broker's
start, Metadata for one topic, the empty broker's latency), since absolute figures on a shared
machine say little. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

from kproto import encode_request
from kproto.frames import frame
from kproto.messages import CreateTopicsRequest, MetadataRequest, RequestHeader

from kbroker.tools.client import Client

from bench.hooks import GC_PAUSES, gc_pauses, sitecustomize
from bench.procstat import open_files, status_kb
from bench.workloads import Settings, create_topic, latency

from brokerproc import BrokerProcess


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--partitions", type=int, default=20_000, help="partitions in all (default 20000)")
    p.add_argument("--batch", type=int, default=1_000, help="partitions per CreateTopics request (default 1000)")
    p.add_argument("--topic-partitions", type=int, default=100, help="partitions per topic (default 100)")
    p.add_argument("--kill", action="store_true", help="restart after SIGKILL rather than SIGTERM")
    p.add_argument("--latency-seconds", type=float, default=10,
                   help="length of the latency runs at 1,000 msg/s, empty and with every partition (default 10)")
    return p.parse_args(argv)


def timed(fn, repeat: int = 1) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def file_system_floor(where: Path, count: int) -> float:
    """Seconds for the least a new partition writes (its dir, an empty `.log`, a small file put in
    place by rename), `count` times in plain Python on the same file system: creation's reference."""
    where.mkdir(parents=True)
    began = time.perf_counter()
    for i in range(count):
        directory = where / f"p-{i}"
        directory.mkdir()
        os.close(os.open(directory / "00000000000000000000.log", os.O_RDWR | os.O_CREAT, 0o644))
        (directory / "partition.metadata.tmp").write_text("version: 0\n")
        os.replace(directory / "partition.metadata.tmp", directory / "partition.metadata")
    elapsed = time.perf_counter() - began
    shutil.rmtree(where)
    return elapsed


def create_batch(client: Client, names: list[str], partitions: int) -> None:
    request = CreateTopicsRequest(timeout_ms=60_000, topics=[
        CreateTopicsRequest.CreatableTopic(name=n, num_partitions=partitions, replication_factor=1) for n in names])
    answer = client.send(request)
    failed = [t for t in answer.topics if t.error_code]
    if failed:
        raise SystemExit(f"CreateTopics failed: {failed[0].name}: {failed[0].error_code} {failed[0].error_message}")


def metadata_seconds(bootstrap: str, topics: list[str] | None) -> float:
    """Median time from sending a Metadata v12 request to having its whole answer, undecoded: the
    broker's time, not this Python client's decoding."""
    request = MetadataRequest(allow_auto_topic_creation=False)
    request.topics = None if topics is None else [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
    header = RequestHeader(request_api_key=request.API_KEY, request_api_version=12, correlation_id=1,
                           client_id="bench-scale")
    data = frame(encode_request(header, request))
    with Client(bootstrap, timeout=60) as client:
        conn = client.bootstrap

        def ask() -> None:
            conn.send_bytes(data)
            conn.read_exact(struct.unpack(">i", conn.read_exact(4))[0])

        ask()
        return timed(ask, repeat=5)


def latency_ms(bootstrap: str, seconds: float) -> tuple[float, float, float]:
    """End-to-end p50, p99 and p99.9 at 1,000 msg/s on a new topic, as `python -m bench` measures them:
    periodic work over every partition would show here."""
    waits = latency(bootstrap, create_topic(bootstrap), 1_000, seconds, Settings())
    return waits["p50 ms"], waits["p99 ms"], waits["p99.9 ms"]


def started(broker: BrokerProcess) -> float:
    """Seconds from spawn until the broker says it is ready."""
    began = time.perf_counter()
    broker.start()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-scale-"))
    broker = BrokerProcess(workdir / "kbroker", startup_timeout=300, stop_timeout=300)
    pauses = workdir / "gc-pauses.txt"
    lines = []
    with sitecustomize(workdir / "hooks", GC_PAUSES.format(out=str(pauses))):
        try:
            lines = measure(broker, args, workdir, pauses)
        finally:
            broker.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


def measure(broker: BrokerProcess, args: argparse.Namespace, workdir: Path, pauses: Path) -> list[str]:
    """The table's lines: every measurement, on `broker`, which runs GC_PAUSES noting into `pauses`."""
    empty_start = started(broker)
    empty_latency = latency_ms(broker.bootstrap_server, args.latency_seconds)
    per_topic = args.topic_partitions
    topics_per_batch = max(args.batch // per_topic, 1)
    names = [f"scale-{i:05d}" for i in range(max(args.partitions // per_topic, 1))]
    batches = [names[i:i + topics_per_batch] for i in range(0, len(names), topics_per_batch)]
    times = []
    creating = time.perf_counter()
    with Client(broker.bootstrap_server, timeout=600) as client:
        for batch in batches:
            times.append(timed(lambda: create_batch(client, batch, per_topic)))
            print(f"batch {len(times)}: {len(batch) * per_topic} partitions in {times[-1]:.3f} s",
                  file=sys.stderr, flush=True)
    collections = gc_pauses(pauses, creating, time.perf_counter())
    total = len(names) * per_topic
    one_topic = metadata_seconds(broker.bootstrap_server, names[:1])
    all_topics = metadata_seconds(broker.bootstrap_server, None)
    full_latency = latency_ms(broker.bootstrap_server, args.latency_seconds)
    rss, peak, files = status_kb(broker.pid, "VmRSS"), status_kb(broker.pid, "VmHWM"), open_files(broker.pid)
    floor = file_system_floor(workdir / "floor", args.batch)
    began = time.perf_counter()
    broker.stop(kill=args.kill)
    stop = time.perf_counter() - began
    restart = started(broker)
    restarted_metadata = metadata_seconds(broker.bootstrap_server, None)
    rss_after = status_kb(broker.pid, "VmRSS")
    ms = [t * 1000 for t in times]
    per_thousand = statistics.median(t / (len(b) * per_topic) * 1000 for t, b in zip(times, batches))
    lines = [
        f"{total} partitions ({len(names)} topics of {per_topic}) in {len(batches)} CreateTopics requests "
        f"of {topics_per_batch * per_topic}; restart after {'SIGKILL' if args.kill else 'SIGTERM'}.",
        "",
        "| measure | figure | reference | ratio |",
        "|---|---|---|---|",
        f"| create, first batch | {ms[0]:.0f} ms | | |",
        f"| create, last batch | {ms[-1]:.0f} ms | first batch | {ms[-1] / ms[0]:.2f} |",
        f"| create, median per 1,000 partitions | {per_thousand * 1000:.0f} ms | file system floor "
        f"{floor / args.batch * 1e6:.0f} ms | {per_thousand / (floor / args.batch * 1000):.2f} |",
        f"| create, all | {sum(times):.1f} s | | |",
        (f"| create, longest garbage collection | {max((t for _, t in collections), default=0) * 1000:.0f} ms | "
         f"{sum(1 for g, _ in collections if g == 2)} full collections, "
         f"{sum(t for g, t in collections if g == 2):.2f} s in all | |"),
        f"| Metadata, all topics | {all_topics * 1000:.1f} ms | one topic {one_topic * 1000:.2f} ms | "
        f"{all_topics / one_topic:.0f} |",
        f"| stop ({'SIGKILL' if args.kill else 'SIGTERM'}) | {stop:.2f} s | | |",
        f"| start listening, {total} partitions | {restart:.2f} s | empty broker {empty_start:.2f} s | "
        f"{restart / empty_start:.2f} |",
        f"| Metadata, all topics, just after restart | {restarted_metadata * 1000:.1f} ms | before restart | "
        f"{restarted_metadata / all_topics:.2f} |",
        f"| latency p50 / p99 / p99.9, all partitions | {' / '.join(f'{v:.2f}' for v in full_latency)} ms | "
        f"empty broker {' / '.join(f'{v:.2f}' for v in empty_latency)} ms | {full_latency[1] / empty_latency[1]:.2f} (p99) |",
        f"| RSS after creating | {rss / 1024:.0f} MB (peak {peak / 1024:.0f} MB) | | |",
        f"| RSS after restart and Metadata | {rss_after / 1024:.0f} MB | | |",
        f"| open files after creating | {files} | | |",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
