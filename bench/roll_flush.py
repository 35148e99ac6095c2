"""`python -m bench.roll_flush`: how long a segment roll holds kbroker's event loop, and what
produce latency sees across rolls, for this tree and for another (by default main's).

    python -m bench.roll_flush [--other-ref main | --other-src DIR/src] [--segment-mib 64,256] [--runs 3]

Each run starts a broker with `log.segment.bytes` at the size and sends a steady stream of
acks=1 messages (the latency workload of `python -m bench`: a producer at a fixed rate, a
consumer reading along) until the partition has rolled `--rolls` times. The broker is the
ordinary `kbroker serve`, with `PartitionLog.roll` wrapped to note how long each call took; a
roll runs on the event loop, so that is how long the loop was held. The other tree runs with its
`src` first on PYTHONPATH: `--other-ref` (default main) archived from this repository into a
temporary dir, or a tree already checked out (`--other-src`). Runs alternate between the trees;
each figure is the median over runs of that run's value.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.hooks import sitecustomize
from bench.report import fmt
from bench.workloads import Settings, create_topic, latency

from brokerproc import BrokerProcess

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "src"

# Loaded at the broker's start (Python imports `sitecustomize` from its path): every roll's
# duration goes to a file the bench reads after the run.
TIMED_ROLL = '''
import time
from kbroker.log import partition

_roll = partition.PartitionLog.roll


def roll(self):
    start = time.perf_counter()
    try:
        return _roll(self)
    finally:
        with open({out!r}, "a") as fh:
            fh.write(f"{{(time.perf_counter() - start) * 1000:.3f}}\\n")


partition.PartitionLog.roll = roll
'''


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.roll_flush", description=__doc__.split("\n\n")[0])
    p.add_argument("--other-ref", default="main", help="the git ref to compare with (default main)")
    p.add_argument("--other-src", type=Path, help="the src dir of a tree to compare with, instead of --other-ref")
    p.add_argument("--segment-mib", default="64,256", help="segment.bytes to try, in MiB (default 64,256)")
    p.add_argument("--runs", type=int, default=3, help="runs per tree and size; medians are reported (default 3)")
    p.add_argument("--rolls", type=int, default=4, help="segment rolls per run (default 4)")
    p.add_argument("--message-size", type=int, default=64 * 1024, help="bytes per message (default 65536)")
    p.add_argument("--rate", type=int, default=800, help="messages per second (default 800, about 52 MB/s)")
    return p.parse_args(argv)


def archived_tree(ref: str, into: Path) -> Path:
    """`ref`'s files in `into`, as `git archive` gives them; returns their src dir."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def one_run(src: Path, segment_bytes: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Start a broker from `src`, produce across `--rolls` rolls; the roll and latency figures."""
    shutil.rmtree(workdir, ignore_errors=True)
    rolls = workdir / "rolls.txt"
    broker = BrokerProcess(workdir, config={"log.segment.bytes": str(segment_bytes)})
    with sitecustomize(workdir / "hooks", TIMED_ROLL.format(out=str(rolls)), src):
        try:
            broker.start()
            settings = Settings(message_size=args.message_size)
            seconds = (args.rolls + 0.5) * segment_bytes / (args.rate * args.message_size)
            figures = latency(broker.bootstrap_server, create_topic(broker.bootstrap_server), args.rate, seconds,
                              replace(settings, timeout_s=max(settings.timeout_s, seconds * 3)))
        finally:
            broker.stop()
            shutil.rmtree(broker.data_dir, ignore_errors=True)
    held = [float(line) for line in rolls.read_text().split()] if rolls.exists() else []
    if len(held) < args.rolls:
        raise RuntimeError(f"{len(held)} rolls of the {args.rolls} expected; broker log {broker.log_path}")
    return {"rolls": len(held), "roll median ms": statistics.median(held), "roll max ms": max(held),
            "produce p99 ms": figures["produce p99 ms"], "produce p99.9 ms": figures["produce p99.9 ms"],
            "end-to-end p99 ms": figures["p99 ms"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-roll-bench-"))
    print(f"brokers' logs in {workdir}", file=sys.stderr, flush=True)
    if args.other_src is None:
        (workdir / "other").mkdir()
        args.other_src = archived_tree(args.other_ref, workdir / "other")
    trees = {"this tree": HERE, "other": args.other_src}
    sizes = [int(m) for m in args.segment_mib.split(",")]
    samples: dict[tuple[int, str], dict[str, list[float]]] = {}
    for mib in sizes:
        for run in range(args.runs):
            order = list(trees.items())[run % 2:] + list(trees.items())[:run % 2]
            for name, src in order:
                figures = one_run(src, mib << 20, args, workdir / "run")
                print(f"{mib} MiB run {run + 1} {name}: " + ", ".join(f"{k} {fmt(v)}" for k, v in figures.items()),
                      file=sys.stderr, flush=True)
                for metric, value in figures.items():
                    samples.setdefault((mib, name), {}).setdefault(metric, []).append(value)
    print(render(args, trees, sizes, samples))
    return 0


def render(args: argparse.Namespace, trees: dict[str, Path], sizes: list[int],
           samples: dict[tuple[int, str], dict[str, list[float]]]) -> str:
    metrics = list(next(iter(samples.values())))
    lines = [(f"Median of {args.runs} runs; {args.message_size} B messages at {args.rate} msg/s, acks=1, "
              f"{args.rolls}+ rolls per run; other tree: {trees['other']}."), "",
             "| segment.bytes | tree | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 2)]
    for mib in sizes:
        for name in trees:
            values = samples[(mib, name)]
            lines.append(f"| {mib} MiB | {name} | " + " | ".join(fmt(statistics.median(values[m])) for m in metrics)
                         + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
