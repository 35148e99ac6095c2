"""`python -m bench.share`: share group consumption (KIP-932) with 1, 2 and 4 librdkafka
ShareConsumers on one partition, beside a classic consumer reading the same records.

One kbroker is started here; one topic of one partition is filled once; then each run reads all of
it with a classic consumer (from the beginning) and with a new share group of 1, 2 and 4 members
(`share.auto.offset.reset=earliest` set through the admin client, implicit acknowledgement, each
member polling in a thread of its own). The workloads are interleaved run by run, so a busy
machine falls on all alike, and each figure is the median over --runs: records/s from the
consumers' creation (the classic one's assignment) to the last record, connecting and joining
included, and the broker's CPU time per record (from /proc), with their ratios to the classic
consumer's. Read the ratios: absolute figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from confluent_kafka import ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from bench.procstat import cpu_seconds
from bench.workloads import Settings, WorkloadError, consume, create_topic, produce

from brokerproc import BrokerProcess

MEMBERS = (1, 2, 4)


def start_from_earliest(bootstrap: str, group: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)


def share_consume(bootstrap: str, topic: str, count: int, members: int, timeout_s: float) -> float:
    """Seconds for a new share group of `members` to receive `count` distinct records, from the
    members' creation (as the classic consumer's time runs from its creation too)."""
    group = f"bench-share-{uuid.uuid4().hex[:8]}"
    start_from_earliest(bootstrap, group)
    start = time.perf_counter()  # from the members' creation: librdkafka joins and fetches from subscribe on
    consumers = [ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group}) for _ in range(members)]
    for c in consumers:
        c.subscribe([topic])
    seen: set[int] = set()
    lock = threading.Lock()
    done = threading.Event()
    errors: list[str] = []

    def member(c: ShareConsumer) -> None:
        while not done.is_set():
            for msg in c.poll(0.1) or []:
                if msg.error():
                    errors.append(str(msg.error()))
                    continue
                with lock:
                    seen.add(msg.offset())
                    if len(seen) >= count:
                        done.set()

    threads = [threading.Thread(target=member, args=(c,), daemon=True) for c in consumers]
    for t in threads:
        t.start()
    finished = done.wait(timeout_s)
    elapsed = time.perf_counter() - start
    done.set()
    for t in threads:
        t.join()
    for c in consumers:
        c.close()
    if not finished:
        raise WorkloadError(f"share x{members}: {len(seen)} of {count} records in {timeout_s}s; errors {errors[:3]}")
    return elapsed


def measured(pid: int, work: Callable[[], float], count: int) -> tuple[float, float]:
    """(records/s, broker CPU microseconds per record) of one run of `work`."""
    before = cpu_seconds(pid) or 0.0
    elapsed = work()
    used = (cpu_seconds(pid) or 0.0) - before
    return count / elapsed, used / count * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.share", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--records", type=int, default=50_000)
    p.add_argument("--record-size", type=int, default=100)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run")
    args = p.parse_args(argv)
    settings = Settings(message_size=args.record_size, timeout_s=args.timeout)
    broker = BrokerProcess(Path(tempfile.mkdtemp(prefix="kbroker-share-bench-")) / "kbroker", kind="kbroker")
    bootstrap = broker.start().bootstrap_server
    try:
        topic = create_topic(bootstrap, 1)
        produce(bootstrap, topic, args.records, "1", "none", settings)
        workloads: dict[str, Callable[[], float]] = {
            "classic consumer": lambda: args.records / consume(bootstrap, topic, args.records, settings)["msg/s"]}
        for n in MEMBERS:
            workloads[f"share group, {n} member{'s' if n > 1 else ''}"] = \
                lambda n=n: share_consume(bootstrap, topic, args.records, n, args.timeout)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in workloads}
        for _ in range(args.runs):
            for name, work in workloads.items():
                results[name].append(measured(broker.pid, work, args.records))
    finally:
        broker.stop()
    classic_rate = statistics.median(r for r, _ in results["classic consumer"])
    classic_cpu = statistics.median(c for _, c in results["classic consumer"])
    print(f"Share consumption, {args.records} records of {args.record_size} B on one partition "
          f"(median of {args.runs}; ratios to the classic consumer in the same runs)\n")
    print("| workload | records/s | vs classic | broker CPU µs/record | vs classic |\n|---|---|---|---|---|")
    for name, runs in results.items():
        rate, cpu = statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)
        print(f"| {name} | {rate:,.0f} | {rate / classic_rate:.2f} | {cpu:.1f} | {cpu / classic_cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
