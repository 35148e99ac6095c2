"""`python -m bench`: kbroker against Tansu and noida-db, the same librdkafka workloads, one markdown table.

All brokers run on this machine in the same invocation, the runs interleaved and each run
starting with the next broker in turn (kbroker, Tansu, noida-db; then Tansu, noida-db, kbroker; ...)
so that a busy machine, and whatever one run leaves behind for the next, falls on all alike; the
ratio columns are what to read. Each figure is the median over --runs. A broker that fails a
workload gets "error" in its cell and the reason below the table; the others' figures still stand.

The producer is one Python process driving librdkafka, handing it messages a thousand at a time.
Uncompressed, the rows tell the brokers apart; with lz4 and zstd the client takes most of the
two cores (1.2-1.65 GB/s). So each throughput row also gives the CPU time the broker process spent
per MB (for brokers started here: its CPU-time clock, to the nanosecond, and /proc's ticks for the
system part), which tells the brokers apart where the client's ceiling does not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from bench.procstat import cpu_seconds, cpu_times
from bench.report import HIGHER_IS_BETTER, fmt
from bench.workloads import Settings, WorkloadError, consume, create_topic, latency, produce

from brokerproc import BrokerProcess, BrokerStartError

BROKERS = ("kbroker", "tansu", "noida-db")
MANY_PARTITIONS = 64
SMALL_MESSAGE = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs per workload; the median is reported (default 3)")
    # At 0.7-1 GB/s a run of 200,000 was over in a quarter of a second: too short for steady figures, and
    # 10-20 CPU ticks per row. More than about 600,000 a run and noida-db, which keeps all it takes in
    # memory, stops answering within the bench.
    p.add_argument("--messages", type=int, default=600_000, help="messages per produce run (default 600000)")
    # A compressed run of 600,000 was over in 0.4 s, too short for steady figures; noida-db, which keeps
    # what it takes in memory, grew to 190 MB of RSS over 3 million lz4 messages, so these can be longer.
    p.add_argument("--compressed-messages", type=int, default=None,
                   help="messages per lz4 or zstd produce run (default: 3 x --messages)")
    p.add_argument("--consume-messages", type=int, default=None,
                   help="messages per consume run (default: --messages; read from the acks=1 uncompressed topic)")
    p.add_argument("--latency-seconds", type=float, default=10.0, help="length of a latency run (default 10)")
    p.add_argument("--latency-rate", type=int, default=1000, help="msg/s in a latency run (default 1000)")
    p.add_argument("--message-size", type=int, default=1024)
    p.add_argument("--linger-ms", type=int, default=Settings.linger_ms)
    p.add_argument("--batch-size", type=int, default=Settings.batch_size)
    p.add_argument("--fetch-wait-max-ms", type=int, default=Settings.fetch_wait_max_ms)
    p.add_argument("--fetch-error-backoff-ms", type=int, default=Settings.fetch_error_backoff_ms)
    p.add_argument("--fetch-queue-backoff-ms", type=int, default=Settings.fetch_queue_backoff_ms)
    p.add_argument("--timeout", type=float, default=Settings.timeout_s, help="seconds allowed per workload run")
    p.add_argument("--brokers", default=",".join(BROKERS), help="comma-separated subset of " + ",".join(BROKERS))
    p.add_argument("--only", default="", metavar="TEXT,...",
                   help="run only the workloads whose label contains one of these, e.g. 'lz4,latency'")
    p.add_argument("--bootstrap", action="append", default=[], metavar="NAME=HOST:PORT",
                   help="measure an already running broker too, e.g. kafka=127.0.0.1:9092 (repeatable)")
    return p.parse_args(argv)


def messages_per_run(args: argparse.Namespace, compression: str) -> int:
    """Messages in one produce run: more for the compressed ones, which go two to three times faster."""
    if compression == "none":
        return args.messages
    return args.compressed_messages or 3 * args.messages


class Target:
    """A broker under measurement: started here and stopped by PID, or already running elsewhere."""

    def __init__(self, name: str, workdir: Path | None = None, bootstrap: str | None = None) -> None:
        self.name = name
        self.proc = None if bootstrap else BrokerProcess(workdir / name, kind=name)  # type: ignore[operator]
        self.bootstrap = bootstrap
        self.error: str | None = None
        self.lost: str | None = None  # it exited during the bench: its later workloads are not run

    def exited(self) -> bool:
        """Whether the broker this bench started has exited (noida-db, holding all it takes in
        memory, can): every later workload would wait out its time limit against nothing."""
        return self.proc is not None and self.proc.pid is not None and not self.proc.running

    def start(self) -> None:
        if self.proc is not None:
            try:
                self.bootstrap = self.proc.start().bootstrap_server
            except BrokerStartError as exc:
                self.error = str(exc).splitlines()[0] + " (log: " + str(self.proc.log_path) + ")"

    def stop(self) -> None:
        """Stop the broker and remove its data (gigabytes after a run); its log stays for the errors listed."""
        if self.proc is not None:
            self.proc.stop()
            shutil.rmtree(self.proc.data_dir, ignore_errors=True)

    def hold(self, held: bool) -> None:
        """Stop (SIGSTOP) or continue (SIGCONT) the broker's process: only the broker being measured
        runs, since a broker's background work would take CPU and disk from another's run (noida-db
        keeps a core busy for minutes after taking data). A broker given by address keeps running."""
        if self.proc is not None and self.proc.running:
            os.kill(self.proc.pid, signal.SIGSTOP if held else signal.SIGCONT)

    def cpu_spent(self) -> tuple[float, float] | None:
        """CPU time the broker process has used so far (all its threads) and the system part of it,
        or None if unknown. The whole is to the nanosecond; the system part is in /proc's ticks."""
        if self.proc is None or self.proc.pid is None:
            return None
        total, times = cpu_seconds(self.proc.pid), cpu_times(self.proc.pid)
        return None if total is None or times is None else (total, times[1])


#: fn(bootstrap, state, begin) -> {metric: value}
Workload = Callable[[str, dict, Callable[[], None]], dict[str, float]]


def workloads(args: argparse.Namespace, s: Settings) -> list[tuple[str, Workload]]:
    """(label, fn(bootstrap, state, begin)) in run order; the produce run leaves its topic for the consume run.

    A workload calls begin() when its measured part starts, after creating its topic: creating 64
    partitions would otherwise count towards the broker's CPU time per MB produced."""
    def produce_run(acks: str, compression: str, partitions: int = 1, message_size: int = s.message_size):
        def run(bootstrap: str, state: dict, begin: Callable[[], None]) -> dict[str, float]:
            topic = create_topic(bootstrap, partitions)
            begin()
            result = produce(bootstrap, topic, messages_per_run(args, compression), acks, compression,
                             replace(s, message_size=message_size), partitions)
            if acks == "1" and compression == "none" and partitions == 1 and message_size == s.message_size:
                state["topic"] = topic
            return result
        return run

    def consume_run(bootstrap: str, state: dict, begin: Callable[[], None]) -> dict[str, float]:
        if "topic" not in state:
            raise WorkloadError("no topic: the acks=1 produce run failed")
        return consume(bootstrap, state["topic"], min(args.consume_messages or args.messages, args.messages), s)

    def latency_run(bootstrap: str, state: dict, begin: Callable[[], None]) -> dict[str, float]:
        topic = create_topic(bootstrap)
        begin()
        return latency(bootstrap, topic, args.latency_rate, args.latency_seconds, s)

    return [
        ("produce acks=1 none", produce_run("1", "none")),
        ("produce acks=all none", produce_run("all", "none")),
        ("produce acks=1 lz4", produce_run("1", "lz4")),
        ("produce acks=all lz4", produce_run("all", "lz4")),
        ("produce acks=1 zstd", produce_run("1", "zstd")),
        ("produce acks=all zstd", produce_run("all", "zstd")),
        (f"produce acks=1 none, {MANY_PARTITIONS} partitions", produce_run("1", "none", MANY_PARTITIONS)),
        (f"produce acks=1 none, {SMALL_MESSAGE} B", produce_run("1", "none", message_size=SMALL_MESSAGE)),
        (f"produce acks=1 lz4, {SMALL_MESSAGE} B", produce_run("1", "lz4", message_size=SMALL_MESSAGE)),
        ("consume", consume_run),
        (f"latency at {args.latency_rate} msg/s", latency_run),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s = Settings(message_size=args.message_size, linger_ms=args.linger_ms, batch_size=args.batch_size,
                 fetch_wait_max_ms=args.fetch_wait_max_ms, fetch_error_backoff_ms=args.fetch_error_backoff_ms,
                 fetch_queue_backoff_ms=args.fetch_queue_backoff_ms,
                 timeout_s=args.timeout)
    names = [b.strip() for b in args.brokers.split(",") if b.strip()]
    unknown = set(names) - set(BROKERS)
    if unknown:
        sys.exit(f"unknown broker(s) {sorted(unknown)}; choose from {BROKERS}")
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-bench-"))
    print(f"brokers' logs in {workdir}", file=sys.stderr, flush=True)
    targets = [Target(n, workdir) for n in names]
    targets += [Target(name, bootstrap=addr) for name, _, addr in (b.partition("=") for b in args.bootstrap)]
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    plan = [(label, fn) for label, fn in workloads(args, s) if not wanted or any(w in label for w in wanted)]
    # samples[workload][broker][metric] -> list of values over runs
    samples: dict[str, dict[str, dict[str, list[float]]]] = {w: {t.name: {} for t in targets} for w, _ in plan}
    errors: dict[tuple[str, str], str] = {}
    began = time.monotonic()
    try:
        for t in targets:
            t.start()
            print(f"{t.name}: {t.error or t.bootstrap}", file=sys.stderr, flush=True)
        for run in range(args.runs):
            turn = run % len(targets)
            for t in targets[turn:] + targets[:turn]:
                if t.error or t.lost:
                    continue
                for other in targets:
                    other.hold(other is not t)
                state: dict = {}
                for label, fn in plan:
                    if t.exited():
                        t.lost = f"exited before run {run + 1}'s {label} (log: {t.proc.log_path})"
                        print(f"{t.name}: {t.lost}", file=sys.stderr, flush=True)
                        break
                    os.sync()  # the last workload's writeback is its own cost, not the next one's
                    cpu = {"before": t.cpu_spent()}
                    try:
                        result = fn(t.bootstrap, state, lambda: cpu.update(before=t.cpu_spent()))
                    except (WorkloadError, Exception) as exc:  # noqa: BLE001 - one failed cell, not the run
                        errors[(label, t.name)] = f"{type(exc).__name__}: {exc}"[:300]
                        print(f"run {run + 1} {t.name} {label}: {errors[(label, t.name)]}", file=sys.stderr, flush=True)
                        continue
                    cpu_after = t.cpu_spent()
                    megabytes = result.pop("MB", None)
                    if megabytes and cpu["before"] is not None and cpu_after is not None:
                        total, system = (after - before for after, before in zip(cpu_after, cpu["before"]))
                        result["broker CPU ms/MB"] = total * 1000 / megabytes
                        result["of it system ms/MB"] = system * 1000 / megabytes
                    for metric, value in result.items():
                        samples[label][t.name].setdefault(metric, []).append(value)
                    print(f"run {run + 1} {t.name} {label}: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.items()),
                          file=sys.stderr, flush=True)
    finally:
        for t in targets:
            t.hold(False)
            t.stop()
    print(render(args, s, targets, plan, samples, errors, time.monotonic() - began))
    return 0


def render(args: argparse.Namespace, s: Settings, targets: list[Target], plan: list, samples: dict,
           errors: dict, elapsed: float) -> str:
    names = [t.name for t in targets]
    peers = names[1:] if names and names[0] == "kbroker" else []
    head = ["workload", "metric", *names] + [f"kbroker/{p}" for p in peers]
    lines = [f"Median of {args.runs} run(s); produce {args.messages} x {s.message_size} B messages per run "
             f"({messages_per_run(args, 'lz4')} compressed) "
             f"to one partition unless the row says otherwise; latency {args.latency_seconds:g} s at {args.latency_rate} msg/s, acks=1.",
             f"Settings: {s.describe()}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, _ in plan:
        metrics = sorted({m for per in samples[label].values() for m in per}, key=list(HIGHER_IS_BETTER).index) or ["-"]
        for metric in metrics:
            med = {n: (statistics.median(samples[label][n][metric]) if samples[label][n].get(metric) else None)
                   for n in names}
            row = [label, metric, *(fmt(med[n]) if med[n] is not None or (label, n) in errors else "-" for n in names)]
            k = med.get("kbroker")
            row += [f"{k / med[p]:.2f}" if k is not None and med[p] else "-" for p in peers]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Throughput ratios above 1 favour kbroker; latency and CPU ratios below 1 do.")
    for t in targets:
        if t.error:
            lines.append(f"- {t.name} did not start: {t.error}")
        if t.lost:
            lines.append(f"- {t.name} {t.lost}; its later workloads were not run")
    for (label, name), err in sorted(errors.items()):
        lines.append(f"- {name}, {label}: {err}")
    lines.append(f"\n(bench took {elapsed:.0f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
