"""`python -m bench.replication`: what replication costs, on three kbroker processes of this machine.

A ZooKeeper and three brokers (compat-tests' `zkcluster.Cluster`) run here. Each run produces to
fresh one-partition topics of replication factor 3 and 1, each with acks=all and acks=1; the
variants are interleaved and each run starts with the next one, so that a busy machine falls on
all alike. Each figure is the median over --runs:

- produce throughput, as `python -m bench` measures it (one librdkafka producer, as fast as it goes);
- the brokers' CPU time per MB produced, summed over the three processes: for replication factor 3
  it includes the followers' fetching and appending, so it is the cluster's cost of a produced MB;
- at a fixed rate, the producer's latency to each acknowledgement (librdkafka's own measure) and the
  end-to-end latency to a consumer, which sees a record only once the high watermark passes it:
  replication shows there even with acks=1.

The brokers run with Kafka's replication and session timeouts rather than the compat-tests' short
ones, so that a loaded machine does not shrink an ISR in the middle of a run and let acks=all be
answered by the leader alone; any ISR shrink during the runs is named below the table.
`--profile DIR` adds one unmeasured replication-factor-3 acks=all produce run with py-spy sampling
the leader and a follower, and prints where their time goes.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

from bench.procstat import cpu_seconds
from bench.report import HIGHER_IS_BETTER, fmt
from bench.workloads import Settings, WorkloadError, latency, produce

from clusterclients import create_topic, partitions
from zkcluster import Cluster, zookeeper_available

VARIANTS = ((3, "all"), (3, "1"), (1, "all"), (1, "1"))  # (replication factor, acks)
# Kafka's defaults, where the compat-tests' cluster shortens them to see failures within seconds.
KAFKA_TIMEOUTS = {"zookeeper.session.timeout.ms": "18000", "replica.lag.time.max.ms": "30000",
                  "replica.fetch.wait.max.ms": "500", "replica.fetch.backoff.ms": "1000"}
OWN_CODE = ("/kbroker/", "/kproto/")  # in the path of a py-spy frame of our own code
ENTRY = ("kbroker/__main__.py", "kbroker/cli.py")  # in every stack: no news in the "with callees" ranking
ISR_SHRINK = "are behind for more than"  # the leader's log line when it asks to drop followers


def label(rf: int, acks: str) -> str:
    return f"RF{rf} acks={acks}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.replication", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs per variant; the median is reported (default 3)")
    p.add_argument("--messages", type=int, default=100_000, help="messages per produce run (default 100000)")
    p.add_argument("--compression", default="none", help="the producer's compression.type (default none)")
    p.add_argument("--latency-seconds", type=float, default=10.0, help="length of a latency run (default 10)")
    p.add_argument("--latency-rate", type=int, default=200,
                   help="msg/s in a latency run (default 200: one message a request, and at RF3 acks=all requests "
                        "above about 400/s queue up behind each other on the connection)")
    p.add_argument("--message-size", type=int, default=1024)
    p.add_argument("--timeout", type=float, default=Settings.timeout_s, help="seconds allowed per workload run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="broker config for all three brokers (repeatable), e.g. replica.fetch.max.bytes=4194304")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="after the runs, profile RF3 acks=all produce runs with py-spy; raw stacks go to DIR")
    p.add_argument("--profile-seconds", type=float, default=20.0, help="how long to profile (default 20)")
    return p.parse_args(argv)


class Runner:
    """The cluster under measurement and the workloads run against it."""

    def __init__(self, cluster: Cluster, args: argparse.Namespace, s: Settings) -> None:
        self.cluster = cluster
        self.args = args
        self.s = s

    def topic(self, rf: int) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        create_topic(self.cluster, name, partitions_count=1, replication_factor=rf)
        return name

    def cpu_seconds(self) -> float | None:
        """CPU time of the three broker processes together, or None if one cannot be read."""
        times = [cpu_seconds(b.pid) if b.pid else None for b in self.cluster.brokers.values()]
        return None if None in times else sum(times)  # type: ignore[arg-type]

    def workloads(self, acks: str) -> list[tuple[str, Callable[[str], dict[str, float]]]]:
        a, s = self.args, self.s
        return [
            ("produce", lambda topic: produce(self.cluster.bootstrap_servers, topic, a.messages, acks,
                                              a.compression, s)),
            (f"latency at {a.latency_rate} msg/s", lambda topic: latency(self.cluster.bootstrap_servers, topic,
                                                                         a.latency_rate, a.latency_seconds, s, acks)),
        ]

    def measure(self, rf: int, fn: Callable[[str], dict[str, float]]) -> dict[str, float]:
        topic = self.topic(rf)
        before = self.cpu_seconds()
        result = fn(topic)
        after = self.cpu_seconds()
        megabytes = result.pop("MB", None)
        if megabytes and before is not None and after is not None:
            result["broker CPU ms/MB"] = (after - before) * 1000 / megabytes
        return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not zookeeper_available():
        sys.exit("needs Debian's zookeeper package and Java")
    s = Settings(message_size=args.message_size, timeout_s=args.timeout)
    config = {**KAFKA_TIMEOUTS, **dict(pair.split("=", 1) for pair in args.sets)}
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-bench-replication-"))
    cluster = Cluster(workdir, size=3, config=config)
    samples: dict[tuple[str, str], dict[str, list[float]]] = collections.defaultdict(dict)
    errors: dict[tuple[str, str], str] = {}
    began = time.monotonic()
    try:
        cluster.start()
        runner = Runner(cluster, args, s)
        print(f"cluster: {cluster.bootstrap_servers} (logs in {workdir})", file=sys.stderr, flush=True)
        for run in range(args.runs):
            for rf, acks in VARIANTS[run % len(VARIANTS):] + VARIANTS[:run % len(VARIANTS)]:
                for name, fn in runner.workloads(acks):
                    key = (name, label(rf, acks))
                    try:
                        result = runner.measure(rf, fn)
                    except Exception as exc:  # noqa: BLE001 - one failed cell, not the run
                        errors[key] = f"{type(exc).__name__}: {exc}"[:300]
                        print(f"run {run + 1} {key[1]} {name}: {errors[key]}", file=sys.stderr, flush=True)
                        continue
                    for metric, value in result.items():
                        samples[key].setdefault(metric, []).append(value)
                    print(f"run {run + 1} {key[1]} {name}: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.items()),
                          file=sys.stderr, flush=True)
        table = render(args, s, runner.workloads("all"), samples, errors, time.monotonic() - began)
        shrinks = [line for b in cluster.brokers.values() for line in b.log_path.read_text().splitlines()
                   if ISR_SHRINK in line]
        print(table + "".join(f"\n- ISR shrink during the runs: {line}" for line in shrinks))
        if args.profile:
            print(profile(runner, args.profile))
    finally:
        cluster.stop()
        for broker in cluster.brokers.values():
            shutil.rmtree(broker.data_dir, ignore_errors=True)  # gigabytes of logs; broker.log stays
    return 0


def render(args: argparse.Namespace, s: Settings, plan: list, samples: dict, errors: dict, elapsed: float) -> str:
    names = [label(rf, acks) for rf, acks in VARIANTS]
    head = ["workload", "metric", *names, "RF3/RF1 acks=all", "RF3/RF1 acks=1"]
    lines = [f"Three kbroker processes and ZooKeeper on this machine; median of {args.runs} run(s); produce "
             f"{args.messages} x {s.message_size} B messages (compression {args.compression}) per run to a "
             f"one-partition topic; latency {args.latency_seconds:g} s at {args.latency_rate} msg/s. "
             "CPU is the three brokers' together, per MB produced.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for workload, _ in plan:
        metrics = sorted({m for n in names for m in samples.get((workload, n), {})}, key=list(HIGHER_IS_BETTER).index)
        for metric in metrics:
            med = {n: statistics.median(samples[(workload, n)][metric]) if samples[(workload, n)].get(metric) else None
                   for n in names}
            row = [workload, metric, *(fmt(med[n]) if med[n] is not None or (workload, n) in errors else "-"
                                       for n in names)]
            for acks in ("all", "1"):
                rf3, rf1 = med[label(3, acks)], med[label(1, acks)]
                row.append(f"{rf3 / rf1:.2f}" if rf3 is not None and rf1 else "-")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for (workload, name), err in sorted(errors.items()):
        lines.append(f"- {name}, {workload}: {err}")
    lines.append(f"(bench took {elapsed:.0f} s)")
    return "\n".join(lines)


def profile(runner: Runner, folder: Path) -> str:
    """RF3 acks=all produce runs while py-spy samples the leader and a follower: their top functions."""
    folder.mkdir(parents=True, exist_ok=True)
    topic = runner.topic(3)
    leader, replicas, _ = partitions(runner.cluster, topic)[0]
    roles = {"leader": leader, "follower": next(b for b in replicas if b != leader)}
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if py_spy is None:
        raise WorkloadError("no py-spy here: pip install py-spy")
    spies = {role: subprocess.Popen([py_spy, "record", "--pid", str(runner.cluster.brokers[b].pid), "--rate", "200",
                                     "--format", "raw", "--output", str(folder / f"{role}.txt"), "--nonblocking",
                                     "--full-filenames"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for role, b in roles.items()}
    try:
        time.sleep(1)  # py-spy attaches
        until = time.monotonic() + runner.args.profile_seconds
        while time.monotonic() < until:
            produce(runner.cluster.bootstrap_servers, topic, runner.args.messages, "all", runner.args.compression,
                    runner.s)
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(timeout=60)
    return "\n".join(summarize(folder / f"{role}.txt", f"{role} (broker {b})") for role, b in roles.items())


def summarize(raw: Path, title: str, top: int = 15) -> str:
    """py-spy's collapsed stacks as two rankings: own time per function (a library's, such as a
    socket write, named with the kbroker or kproto function that called it), and time inside each
    of kbroker's and kproto's functions with what they call. Samples in select() are waiting."""
    if not raw.exists():
        raise WorkloadError(f"py-spy wrote no {raw}: is it allowed to ptrace the broker?")
    own: collections.Counter[str] = collections.Counter()
    inside: collections.Counter[str] = collections.Counter()
    total = waiting = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, text = line.rpartition(" ")
        count = int(text)
        frames = [frame_name(frame) for frame in stack.split(";") if frame.strip()]
        total += count
        if not frames:  # a sample py-spy could not read, unpaused
            continue
        if frames[-1][0].endswith("selectors.py)"):  # the event loop waiting for sockets
            waiting += count
            continue
        ours = [name for name, path in frames if path and path not in ENTRY]
        leaf = frames[-1][0]
        own[leaf if ours and ours[-1] == leaf else f"{leaf} <- {ours[-1] if ours else '?'}"] += count
        for name in set(ours):
            inside[name] += count
    lines = [f"\n{title}: {total} samples at 200 Hz, {100 * waiting / max(total, 1):.1f}% of them waiting in select()",
             "", "| own % | function | with callees % | function |", "|---|---|---|---|"]
    for (f1, n1), (f2, n2) in zip(own.most_common(top), inside.most_common(top)):
        lines.append(f"| {100 * n1 / total:.1f} | `{f1}` | {100 * n2 / total:.1f} | `{f2}` |")
    return "\n".join(lines)


def frame_name(frame: str) -> tuple[str, str]:
    """'Broker.append (/…/src/kbroker/broker.py:503)' -> ('Broker.append (kbroker/broker.py)', 'kbroker/broker.py'),
    where the path is empty for code that is not kbroker's or kproto's."""
    function, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for package in OWN_CODE:
        if package in path:
            short = package.lstrip("/") + path.rpartition(package)[2]
            return f"{function} ({short})", short
    return f"{function} ({'/'.join(path.split('/')[-2:])})", ""


if __name__ == "__main__":
    sys.exit(main())
