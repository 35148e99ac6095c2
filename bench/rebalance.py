"""`python -m bench.rebalance`: how long a group takes to share a topic with a second consumer, and
how much memory the coordinator spends on many groups.

Rebalance time: one librdkafka consumer owns a 6-partition topic; a second one subscribes; the
clock runs from that subscribe until both hold a non-empty assignment that together covers every
partition once. Median over --runs, for the classic protocol (range assignor) and KIP-848
(`group.protocol=consumer`, uniform assignor), against kbroker and Tansu started here. Both
protocols learn about the newcomer through the first member's heartbeats, so the heartbeat
intervals are stated in the output: classic uses the client's `heartbeat.interval.ms`, KIP-848 the
broker's `group.consumer.heartbeat.interval.ms` (Tansu ignores broker settings). Where in the first
member's heartbeat cycle the second one subscribes decides much of the time: `--phase spread`
(the default) waits first, run i of n for (i + 1/2)/n of that interval (in a seeded order, the
same for every broker and protocol), as consumers joining at any moment would; `--phase aligned`
subscribes right after the first member got its assignment, just after its heartbeat: the worst
case, a whole interval.

Memory: an in-process coordinator (records discarded) with --groups groups of --members members,
for each protocol, measured with tracemalloc (Python allocations the groups keep alive); and the
resident memory of a kbroker process before and after as many KIP-848 members join through
ConsumerGroupHeartbeat (records written to `__consumer_offsets` as usual).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Iterator

from confluent_kafka import Consumer

from bench.workloads import create_topic

from brokerproc import BrokerProcess, BrokerStartError

PARTITIONS = 6
POLL_S = 0.005  # both consumers are polled from one thread, so each poll is short


def consumer(bootstrap: str, topic: str, group: str, protocol: str, heartbeat_ms: int) -> Consumer:
    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False}
    if protocol == "consumer":
        config.update({"group.protocol": "consumer", "group.remote.assignor": "uniform"})
    else:
        config.update({"partition.assignment.strategy": "range", "session.timeout.ms": 6000,
                       "heartbeat.interval.ms": heartbeat_ms})
    c = Consumer(config)
    c.subscribe([topic])
    return c


def shared(consumers: list[Consumer]) -> bool:
    """Every consumer holds something and together they hold each partition once."""
    owned = [[tp.partition for tp in c.assignment()] for c in consumers]
    return all(owned) and sorted(p for parts in owned for p in parts) == list(range(PARTITIONS))


def wait(consumers: list[Consumer], deadline: float) -> None:
    while not shared(consumers):
        if time.monotonic() > deadline:
            raise TimeoutError("no shared assignment in time (a broker without ConsumerGroupHeartbeat "
                               "never assigns group.protocol=consumer members)")
        for c in consumers:
            c.poll(POLL_S)


def keep_polling(c: Consumer, seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        c.poll(POLL_S)


def one_rebalance(bootstrap: str, protocol: str, heartbeat_ms: int, timeout_s: float, delay_s: float) -> float:
    """ms from the second consumer's subscribe, `delay_s` after the first one was assigned, to both assigned."""
    topic = create_topic(bootstrap, PARTITIONS)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    first = consumer(bootstrap, topic, group, protocol, heartbeat_ms)
    second = None
    try:
        wait([first], time.monotonic() + timeout_s)
        keep_polling(first, delay_s)
        began = time.monotonic()
        second = consumer(bootstrap, topic, group, protocol, heartbeat_ms)
        wait([first, second], began + timeout_s)
        return (time.monotonic() - began) * 1000
    finally:
        for c in (first, second):
            if c is not None:
                c.close()


def rebalance_times(args: argparse.Namespace) -> dict[tuple[str, str], list[float] | str]:
    config = {"group.initial.rebalance.delay.ms": "0",
              "group.consumer.min.heartbeat.interval.ms": str(min(args.kip848_heartbeat_ms, 5000)),
              "group.consumer.heartbeat.interval.ms": str(args.kip848_heartbeat_ms)}
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-rebalance-"))
    results: dict[tuple[str, str], list[float] | str] = {}
    # evenly spread over the interval, so the median run is the middle of the cycle; seeded order
    phases = [(run + 0.5) / args.runs if args.phase == "spread" else 0.0 for run in range(args.runs)]
    random.Random(args.seed).shuffle(phases)
    intervals_ms = {"classic": args.classic_heartbeat_ms, "consumer": args.kip848_heartbeat_ms}
    for kind in args.brokers.split(","):
        broker = BrokerProcess(workdir / kind, config, kind=kind)
        try:
            bootstrap = broker.start().bootstrap_server
        except BrokerStartError as exc:
            results[(kind, "classic")] = results[(kind, "consumer")] = f"did not start: {exc}".splitlines()[0]
            continue
        try:
            for protocol in ("classic", "consumer"):
                times: list[float] = []
                for run in range(args.runs):
                    delay_s = phases[run] * intervals_ms[protocol] / 1000
                    try:
                        times.append(one_rebalance(bootstrap, protocol, args.classic_heartbeat_ms, args.timeout,
                                                   delay_s))
                    except Exception as exc:  # noqa: BLE001 - report the cell, keep measuring the rest
                        results[(kind, protocol)] = f"{type(exc).__name__}: {exc}"[:200]
                        break
                    print(f"{kind} {protocol} run {run + 1}: {times[-1]:.0f} ms", file=sys.stderr, flush=True)
                else:
                    results[(kind, protocol)] = times
        finally:
            broker.stop()
    return results


class Discard:
    """Group storage that keeps nothing: on a broker the records go to disk, not to the heap."""

    def append(self, group_id: str, records: list) -> None:
        pass

    def load(self) -> Iterator:
        return iter(())


def coordinator_memory(groups: int, members: int) -> dict[str, float]:
    """MiB that `groups` x `members` keep alive in a coordinator, per protocol."""
    from kbroker.groups import GroupConfig, GroupCoordinator, JoinRequest
    from kbroker.groups.consumer_groups import Heartbeat
    from kproto.codec import encode
    from kproto.messages import ConsumerProtocolSubscription

    config = GroupConfig(initial_rebalance_delay_ms=0)
    subscription = b"\x00\x00" + encode(ConsumerProtocolSubscription(topics=["t"]), 0)

    async def classic() -> GroupCoordinator:
        coord = GroupCoordinator(config, Discard(), topics=lambda: {"t": 60})
        for g in range(groups):
            joins = [coord.join(JoinRequest(f"g{g}", "", None, "consumer", [("range", subscription)], 45000, 300000,
                                            "bench", "/127.0.0.1", require_known_member_id=False))
                     for _ in range(members)]
            await asyncio.sleep(0)
            results = [await j for j in joins]
            leader = next(r for r in results if r.members)
            assignment = {m.member_id: b"x" * 40 for m in leader.members}
            for r in results:
                await coord.sync(f"g{g}", r.generation, r.member_id, None, "consumer", "range",
                                 assignment if r is leader else {})
        return coord

    async def kip848() -> GroupCoordinator:
        coord = GroupCoordinator(config, Discard(), topics=lambda: {"t": 60})
        for g in range(groups):
            for m in range(members):
                coord.consumer.heartbeat(Heartbeat(f"g{g}", f"m{m}", 0, rebalance_timeout_ms=300000,
                                                   subscribed_topics=["t"], owned={}))
        return coord

    out = {}
    for name, build in (("classic", classic), ("KIP-848", kip848)):
        async def measure() -> float:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            coord = await build()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            size = sum(s.size_diff for s in after.compare_to(before, "filename"))
            await coord.stop()
            return size / 2**20
        out[name] = asyncio.run(measure())
    return out


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def broker_memory(groups: int, members: int) -> tuple[float, float]:
    """kbroker's RSS in MiB before and after `groups` x `members` KIP-848 members join."""
    from kbroker.tools.client import Connection, split_address
    from kproto.messages import ConsumerGroupHeartbeatRequest

    broker = BrokerProcess(Path(tempfile.mkdtemp(prefix="kbroker-memory-")) / "kbroker", kind="kbroker")
    bootstrap = broker.start().bootstrap_server
    try:
        topic = create_topic(bootstrap, 60)
        before = rss_mib(broker.pid)
        with Connection(*split_address(bootstrap), timeout=30) as conn:
            for g in range(groups):
                for m in range(members):
                    answer = conn.request(ConsumerGroupHeartbeatRequest(
                        group_id=f"g{g}", member_id=f"m{m}", member_epoch=0, rebalance_timeout_ms=300000,
                        subscribed_topic_names=[topic], topic_partitions=[]), 1)
                    if answer.error_code:
                        raise RuntimeError(f"heartbeat refused: error {answer.error_code}")
        return before, rss_mib(broker.pid)
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rebalance", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--brokers", default="kbroker,tansu")
    p.add_argument("--classic-heartbeat-ms", type=int, default=500, help="librdkafka heartbeat.interval.ms")
    p.add_argument("--kip848-heartbeat-ms", type=int, default=5000, help="kbroker group.consumer.heartbeat.interval.ms")
    p.add_argument("--phase", choices=("spread", "aligned"), default="spread",
                   help="when the second consumer subscribes in the first one's heartbeat cycle (see above)")
    p.add_argument("--seed", type=int, default=848, help="seed of the order of the spread phases")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per rebalance")
    p.add_argument("--groups", type=int, default=1000)
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--skip-memory", action="store_true", help="measure rebalance times only")
    args = p.parse_args(argv)
    results = rebalance_times(args)
    print(f"Rebalance time, ms (median of {args.runs}; second consumer's subscribe -> both assigned; "
          f"6 partitions; initial delay 0; {args.phase} phase; classic heartbeat.interval.ms="
          f"{args.classic_heartbeat_ms}, KIP-848 group.consumer.heartbeat.interval.ms={args.kip848_heartbeat_ms})\n")
    print("| broker | classic (range) | KIP-848 (uniform) |\n|---|---|---|")
    for kind in args.brokers.split(","):
        cells = []
        for protocol in ("classic", "consumer"):
            value = results.get((kind, protocol))
            cells.append(f"{statistics.median(value):.0f} (min {min(value):.0f}, max {max(value):.0f})"
                         if isinstance(value, list) else str(value))
        print(f"| {kind} | " + " | ".join(cells) + " |")
    if args.skip_memory:
        return 0
    memory = coordinator_memory(args.groups, args.members)
    print(f"\nCoordinator memory for {args.groups} groups x {args.members} members (tracemalloc): "
          + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in memory.items()))
    before, after = broker_memory(args.groups, args.members)
    print(f"kbroker RSS with {args.groups} x {args.members} KIP-848 members: {after:.0f} MiB "
          f"({before:.0f} MiB before they joined)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
