"""`python -m bench.stored`: does one kbroker produce, fetch and stay as small with 20 GB stored as empty?

Starts a kbroker on a fresh data dir under the temporary folder and measures it empty, then fills
it to `--gigabytes` over `--topics` topics of `--partitions` partitions, uncompressed 1 KiB
messages (the bench's payload compresses about 60 times with lz4, so lz4 would store a sixtieth of
what it sends: none fills the disk fastest). After each quarter of the fill, and once more after a
clean restart on the same data dir, it repeats the same measurements: produce throughput and the
broker's CPU per MB (user and system apart: the system part is mostly the kernel copying into the
page cache), a fresh consumer reading the newest `--measure-mb` MB, as many from offset 0 with the
cached pages of the segments it reads dropped first (cold: the broker's disk reads are shown),
produce latency at 1,000 msg/s, RSS, open files and the machine's free memory. A second process sends a tiny acks=1 produce every
10 ms for the whole run: its slowest acknowledgements show event-loop stalls, and when they
happened. Prints a markdown table; the data dir is deleted at the end. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.procstat import cpu_times, disk_read_bytes, free_memory_gb, open_files, status_kb
from bench.report import fmt
from bench.scale import started
from bench.workloads import Settings, consume, create_topic, latency, percentile, produce

from brokerproc import BrokerProcess

GB = 1e9
MB = 1e6
STALL_MS = 100.0  # a probe acknowledgement slower than this counts towards a stall (idle p99 is a few ms)

# (key, row label) in table order; a column lacking a key shows "-".
ROWS = [
    ("stored GB", "stored GB"),
    ("fill MB/s", "fill MB/s since the previous column"),
    ("produce MB/s", "produce MB/s"),
    ("produce user ms/MB", "produce, broker user CPU ms/MB"),
    ("produce system ms/MB", "produce, broker system CPU ms/MB"),
    ("tail MB/s", "fetch newest, MB/s"),
    ("tail CPU ms/MB", "fetch newest, broker CPU ms/MB (user + system)"),
    ("cold MB/s", "fetch from offset 0, cold, MB/s"),
    ("cold CPU ms/MB", "fetch from offset 0, broker CPU ms/MB (user + system)"),
    ("cold disk MB", "fetch from offset 0, MB read from disk"),
    ("produce p50 ms", "produce latency p50 ms"),
    ("produce p99 ms", "produce latency p99 ms"),
    ("probe p99 ms", "probe p99 ms (fill and measurements)"),
    ("probe p99.9 ms", "probe p99.9 ms"),
    ("probe max ms", "probe max ms"),
    ("RSS MB", "broker RSS MB"),
    ("open files", "broker open files"),
    ("free GB", "machine's free memory GB"),
    ("start s", "start until listening, s"),
    ("stop s", "stop (SIGTERM), s"),
    ("load", "load average (1 min)"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.stored", description=__doc__.split("\n\n")[0])
    p.add_argument("--gigabytes", type=float, default=20, help="data to store, in GB (default 20)")
    p.add_argument("--topics", type=int, default=2, help="topics to fill (default 2)")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    p.add_argument("--measure-mb", type=int, default=500, help="MB produced and fetched per measurement (default 500)")
    p.add_argument("--chunk-mb", type=int, default=500, help="MB per fill step between progress lines (default 500)")
    p.add_argument("--latency-seconds", type=float, default=5, help="length of the latency run (default 5)")
    p.add_argument("--quarters", type=int, default=4, help="measurement points during the fill (default 4)")
    return p.parse_args(argv)


def schedule(gigabytes: float, parts: int) -> list[float]:
    """The stored sizes (GB) after which to measure: `parts` equal steps up to `gigabytes`."""
    return [gigabytes * i / parts for i in range(1, parts + 1)]


def stalls(samples: list[tuple[int, float]], threshold_ms: float) -> list[tuple[int, float, int]]:
    """Runs of consecutive probe samples (sent ns, ms) slower than `threshold_ms`, as (first sent ns,
    slowest ms, samples in the run), slowest first: one stall delays every probe sent during it."""
    runs: list[tuple[int, float, int]] = []
    current: list[tuple[int, float]] = []
    for sample in sorted(samples) + [(0, 0.0)]:  # the sentinel ends the last run
        if sample[1] > threshold_ms:
            current.append(sample)
        elif current:
            runs.append((current[0][0], max(ms for _, ms in current), len(current)))
            current = []
    return sorted(runs, key=lambda run: -run[1])


def render(columns: list[tuple[str, dict[str, float]]]) -> str:
    """A markdown table: one row per measure of ROWS that some column has, one column per point."""
    lines = ["| measure | " + " | ".join(name for name, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for key, label in ROWS:
        if any(key in figures for _, figures in columns):
            cells = [("-" if key not in figures else str(figures[key]) if isinstance(figures[key], int)
                      else fmt(figures[key])) for _, figures in columns]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def probe(bootstrap: str, topic: str, out: str, stop: multiprocessing.synchronize.Event, interval: float) -> None:
    """In a process of its own (the fill's producer holds the parent's GIL): one tiny acks=1 produce
    every `interval` seconds, writing each one's send time (CLOCK_MONOTONIC ns, the same in every
    process) and acknowledgement time in ms to `out`."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 0,
                         "message.timeout.ms": 600_000})
    done = threading.Event()
    with open(out, "w", buffering=1) as fh:
        def on_delivery(err, msg) -> None:
            if err is None:
                sent = int.from_bytes(msg.value(), "big")
                fh.write(f"{sent} {(time.monotonic_ns() - sent) / 1e6:.3f}\n")

        def take_acks() -> None:  # a delivery report waits for a poll; this one is always waiting
            while not done.is_set():
                producer.poll(0.05)

        taker = threading.Thread(target=take_acks, daemon=True)
        taker.start()
        due = time.monotonic()
        while not stop.is_set():
            producer.produce(topic, time.monotonic_ns().to_bytes(8, "big"), partition=0, on_delivery=on_delivery)
            due = max(due + interval, time.monotonic())  # late: send now, and do not catch up in a burst
            time.sleep(max(0.0, due - time.monotonic()))
        producer.flush(60)
        done.set()
        taker.join()


def probe_answered(path: Path, since: int, timeout: float = 120) -> None:
    """Wait until a probe sent at or after `since` (monotonic ns) has its acknowledgement: after a
    restart the probe's producer reconnects with a backoff, which is no stall of the broker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4096))
            if any(int(line.split()[0]) >= since for line in fh.read().splitlines()[1:]):
                return
        time.sleep(0.1)


def probe_samples(path: Path) -> list[tuple[int, float]]:
    with path.open() as fh:
        return [(int(sent), float(ms)) for sent, ms in (line.split() for line in fh if line.count(" ") == 1)]


@dataclass
class Run:
    """The broker under test, its topics, and when the phases of the run happened."""
    broker: BrokerProcess
    topics: list[str]
    partitions: int
    settings: Settings
    measure_mb: int
    latency_seconds: float
    # (monotonic ns, stored bytes, segments) after each fill step: how full the broker was at a stall,
    # and whether segments rolled around it
    progress: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap_server

    def segment_sizes(self) -> list[int]:
        return [path.stat().st_size for path in self.broker.data_dir.rglob("*.log")]

    def stored_bytes(self) -> int:
        return sum(self.segment_sizes())

    def messages(self, megabytes: float) -> int:
        return int(megabytes * MB / self.settings.message_size)

    def fill_to(self, target: float, step: int) -> None:
        """Produce to the topics in turn until `target` bytes are stored, a line of progress a step."""
        began = time.monotonic()
        while (stored := self.stored_bytes()) < target:
            topic = self.topics[len(self.progress) % len(self.topics)]
            rate = produce(self.bootstrap, topic, self.messages(min(step, (target - stored) / MB + 1)), "1", "none",
                           self.settings, self.partitions)["MB/s"]
            sizes = self.segment_sizes()
            self.progress.append((time.monotonic_ns(), sum(sizes), len(sizes)))
            print(f"{self.progress[-1][1] / GB:6.2f} GB stored, this step {rate:.0f} MB/s, "
                  f"RSS {status_kb(self.broker.pid, 'VmRSS') / 1024:.0f} MB, {time.monotonic() - began:.0f} s",
                  file=sys.stderr, flush=True)

    def with_cpu(self, name: str, work) -> dict[str, float]:
        """Run `work` (a workload returning MB/s and MB), adding the broker's CPU ms per MB: in all,
        and apart for user and system (the kernel's copying of written data into the page cache)."""
        before = cpu_times(self.broker.pid)
        result = work()
        user, system = (after - first for after, first in zip(cpu_times(self.broker.pid), before))
        per_mb = 1000 / result["MB"]
        return {f"{name} MB/s": result["MB/s"], f"{name} CPU ms/MB": (user + system) * per_mb,
                f"{name} user ms/MB": user * per_mb, f"{name} system ms/MB": system * per_mb}

    def end_offsets(self, topic: str) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-stored-offsets"})
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                    for p in range(self.partitions)}
        finally:
            consumer.close()

    def drop_page_cache(self, topic: str) -> None:
        """Have the kernel forget the cached pages of each partition's oldest segment, which the cold
        read reads, and no others: written back first, as it keeps dirty pages."""
        for p in range(self.partitions):
            [directory] = self.broker.data_dir.rglob(f"{topic}-{p}")
            fd = os.open(min(directory.glob("*.log")), os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)

    def measure(self) -> dict[str, float]:
        """The same figures at every point: produce, fetch of the newest data and of the oldest, latency, memory."""
        topic, count = self.topics[0], self.messages(self.measure_mb)
        figures = self.with_cpu("produce", lambda: produce(self.bootstrap, topic, count, "1", "none", self.settings,
                                                           self.partitions))
        ends = self.end_offsets(topic)
        tail = {p: max(0, end - count // self.partitions) for p, end in ends.items()}
        figures |= self.with_cpu("tail", lambda: consume(self.bootstrap, topic, sum(ends[p] - tail[p] for p in ends),
                                                         self.settings, tail))
        self.drop_page_cache(topic)
        read_before = disk_read_bytes(self.broker.pid)
        figures |= self.with_cpu("cold", lambda: consume(self.bootstrap, topic, min(count, sum(ends.values())),
                                                         self.settings, dict.fromkeys(ends, 0)))
        figures["cold disk MB"] = (disk_read_bytes(self.broker.pid) - read_before) / MB
        lat = latency(self.bootstrap, create_topic(self.bootstrap), 1000, self.latency_seconds, self.settings)
        figures |= {"produce p50 ms": lat["produce p50 ms"], "produce p99 ms": lat["produce p99 ms"]}
        figures |= {"stored GB": self.stored_bytes() / GB, "RSS MB": round(status_kb(self.broker.pid, "VmRSS") / 1024),
                    "open files": open_files(self.broker.pid), "load": os.getloadavg()[0], "free GB": free_memory_gb()}
        return figures


def probe_figures(samples: list[tuple[int, float]], since: int, until: int) -> dict[str, float]:
    window = [ms for sent, ms in samples if since <= sent < until]
    if not window:
        return {}
    return {"probe p99 ms": percentile(window, 0.99), "probe p99.9 ms": percentile(window, 0.999),
            "probe max ms": max(window)}


def describe_stalls(samples: list[tuple[int, float]], run: Run, began: int, marks: list[tuple[int, str]]) -> list[str]:
    """The five worst stalls: when, how long the slowest probe waited, during which phase, how full
    the broker was, and during a fill how many segments rolled in the step around it."""
    lines = []
    times = [t for t, _, _ in run.progress]
    for first, worst, count in stalls(samples, STALL_MS)[:5]:
        phase = marks[max(bisect.bisect_right([t for t, _ in marks], first) - 1, 0)][1]
        step = bisect.bisect_right(times, first)  # the fill step that was running at `first` ends at progress[step]
        stored = run.progress[step - 1][1] / GB if step else 0.0
        rolled = (f", {run.progress[step][2] - run.progress[step - 1][2]} segments rolled in that fill step"
                  if phase.startswith("filling") and 0 < step < len(times) else "")
        lines.append(f"- {worst:.0f} ms at {(first - began) / 1e9:.0f} s ({count} probes over {STALL_MS:.0f} ms), "
                     f"{phase}, about {stored:.1f} GB stored{rolled}")
    return lines or [f"- no probe waited more than {STALL_MS:.0f} ms"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-stored-"))
    free = shutil.disk_usage(workdir).free
    if free < args.gigabytes * 1.5 * GB:
        shutil.rmtree(workdir)
        sys.exit(f"{workdir.parent} has {free / GB:.0f} GB free; {args.gigabytes:g} GB stored needs "
                 f"{args.gigabytes * 1.5:.0f} GB (the data, its indexes and headroom). Try a smaller --gigabytes.")
    print(f"data dir and broker log in {workdir}", file=sys.stderr, flush=True)
    broker = BrokerProcess(workdir / "kbroker", startup_timeout=600, stop_timeout=600)
    spawn = multiprocessing.get_context("spawn")  # librdkafka's threads do not survive a fork
    stop_probe = spawn.Event()
    probe_path = workdir / "probe.txt"
    settings = Settings(timeout_s=900)
    began = time.monotonic_ns()
    marks: list[tuple[int, str]] = []  # (monotonic ns, phase) as each phase begins
    columns: list[tuple[str, dict[str, float]]] = []
    windows: list[tuple[int, int]] = []  # per column, the probe's time span: its fill and its measurements
    prober = None
    try:
        empty_start = started(broker)
        run = Run(broker, [create_topic(broker.bootstrap_server, args.partitions) for _ in range(args.topics)],
                  args.partitions, settings, args.measure_mb, args.latency_seconds)
        prober = spawn.Process(target=probe, args=(run.bootstrap, create_topic(run.bootstrap), str(probe_path),
                                                   stop_probe, 0.010), daemon=True)
        prober.start()
        time.sleep(2)  # the probe's connection is up before the first phase
        marks.append((since := time.monotonic_ns(), "measuring empty"))
        columns.append(("empty", run.measure() | {"start s": empty_start}))
        windows.append((since, time.monotonic_ns()))
        for gigabytes in schedule(args.gigabytes, args.quarters):
            marks.append((since := time.monotonic_ns(), f"filling to {gigabytes:g} GB"))
            stored_before = run.stored_bytes()
            run.fill_to(gigabytes * GB, args.chunk_mb)
            fill_rate = (run.stored_bytes() - stored_before) / MB / ((time.monotonic_ns() - since) / 1e9)
            marks.append((time.monotonic_ns(), f"measuring at {gigabytes:g} GB"))
            columns.append((f"{gigabytes:g} GB", run.measure() | {"fill MB/s": fill_rate}))
            windows.append((since, time.monotonic_ns()))
        marks.append((time.monotonic_ns(), "restarting"))  # probes sent while it is down are not counted
        stop_began = time.perf_counter()
        broker.stop()
        stop_s = time.perf_counter() - stop_began
        restart_s = started(broker)
        probe_answered(probe_path, time.monotonic_ns())
        marks.append((since := time.monotonic_ns(), "measuring after restart"))
        columns.append(("after restart", run.measure() | {"start s": restart_s, "stop s": stop_s}))
        windows.append((since, time.monotonic_ns()))
    finally:
        stop_probe.set()
        if prober is not None:
            prober.join(120)
        broker.stop()
        samples = probe_samples(probe_path) if probe_path.exists() else []
        shutil.rmtree(broker.data_dir, ignore_errors=True)
    for (_, figures), (since, until) in zip(columns, windows):
        figures |= probe_figures(samples, since, until)
    counted = [s for s in samples if any(since <= s[0] < until for since, until in windows)]
    print(f"{args.gigabytes:g} GB in {args.topics} topics of {args.partitions} partitions, {settings.message_size} B "
          f"messages, uncompressed, acks=1; each point produces and fetches {args.measure_mb} MB; latency "
          f"{args.latency_seconds:g} s at 1,000 msg/s; the probe sends one acks=1 produce every 10 ms throughout "
          "(each column's probe figures cover the fill up to it and its measurements).\n")
    print(render(columns))
    print("\nWorst probe stalls:")
    print("\n".join(describe_stalls(counted, run, began, marks)))
    print(f"\n(bench took {(time.monotonic_ns() - began) / 60e9:.0f} min; broker log kept in {broker.log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
