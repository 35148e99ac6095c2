"""`python -m bench.console`: how long the web console's pages take with many topics.

Brokers with --topics topics of --partitions partitions each (1,000 x 10 by default: 10,000
partitions, one replica each), a little data and an inactive consumer group, and a `kbroker
console` beside them. --brokers defaults to 3 on ZooKeeper: a broker keeps three files open per
partition, and one broker would need 30,000 for 10,000 partitions, more than the 20,000 this
machine allows a process; --brokers 1 runs a single node for smaller counts. Each
page is asked --runs times; the table gives the median and its ratio to one Metadata request for
every topic sent straight to the broker in the same run: the floor any page that lists topics
pays. Absolute times depend on the machine; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable

from kproto.messages import CreateTopicsRequest

from kbroker.testing.cluster import KBrokerCluster
from kbroker.tools.client import Client, check
from kbroker.tools.console import commit, produce

from brokerproc import BrokerProcess
from consoleproc import ConsoleProcess

CREATE_BATCH = 100  # topics per CreateTopics request
READY_TIMEOUT_S = 600  # for every partition to have a leader once created
GROUP = "bench-group"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.split("\n\n")[0])
    p.add_argument("--topics", type=int, default=1000)
    p.add_argument("--partitions", type=int, default=10, help="per topic (default 10)")
    p.add_argument("--brokers", type=int, default=3, help="1: a single node; more: a cluster on ZooKeeper (default 3)")
    p.add_argument("--runs", type=int, default=5, help="requests per page; the median is reported (default 5)")
    return p.parse_args(argv)


def fill(client: Client, topics: int, partitions: int) -> list[str]:
    """Create the topics, a few records in the first one, and a group that has read some of them."""
    names = [f"bench-{i:05d}" for i in range(topics)]
    for start in range(0, topics, CREATE_BATCH):
        request = CreateTopicsRequest(timeout_ms=120_000, topics=[CreateTopicsRequest.CreatableTopic(
            name=n, num_partitions=partitions, replication_factor=1) for n in names[start:start + CREATE_BATCH]])
        for result in client.send(request).topics:
            check(result.error_code, f"create {result.name}", result.error_message)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready(client, names, partitions):
        if time.monotonic() > deadline:
            raise SystemExit(f"partitions without a leader after {READY_TIMEOUT_S} s")
        time.sleep(1)
    leaders = client.partitions(names[0])
    for p in leaders:
        produce(client, names[0], leaders, p, [(None, b"x" * 100, [])] * 20, -1)
    commit(client, GROUP, names[0], {p: 10 for p in leaders})
    return names


def ready(client: Client, names: list[str], partitions: int) -> bool:
    """Whether the metadata shows every topic with every partition led."""
    led = {t.name: sum(p.leader_id >= 0 for p in t.partitions) for t in client.metadata(None).topics}
    return all(led.get(name) == partitions for name in names)


def start_brokers(count: int, workdir: Path) -> BrokerProcess | KBrokerCluster:
    config = {"offsets.topic.num.partitions": "1"}
    if count == 1:
        return BrokerProcess(workdir / "broker", config).start()
    return KBrokerCluster(brokers=count, config={**config, "offsets.topic.replication.factor": "1"},
                          data_dir=workdir / "cluster").start()


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as response:
        assert response.status == 200, url
        response.read()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as workdir:
        broker = start_brokers(args.brokers, Path(workdir))
        console = None
        try:
            with Client(broker.bootstrap_server, timeout=120) as client:
                started = time.perf_counter()
                names = fill(client, args.topics, args.partitions)
                print(f"{args.topics} topics, {args.topics * args.partitions} partitions made in "
                      f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
                console = ConsoleProcess.for_broker(broker.bootstrap_server, Path(workdir) / "console").start()
                pages = {"start page": "", "cluster": "cluster", "topics, first page": "topics",
                         "topics, last page": f"topics?page={args.topics}", "topic": f"topic?name={names[0]}",
                         "records": f"records?topic={names[0]}", "consumer groups": "groups",
                         "consumer group": f"group?id={GROUP}", "ACLs and users": "security"}
                rows = {}
                references = []
                for label, path in pages.items():
                    get(console.url + path)  # warm: the pool's connections
                    rows[label] = median_ms(lambda: get(console.url + path), args.runs)
                    references.append(median_ms(lambda: client.metadata(None), args.runs))
                reference = statistics.median(references)  # taken between the pages, as busy as they were
            print(f"| page | median ms | ratio to Metadata for all topics ({reference:.1f} ms) |")
            print("| --- | ---: | ---: |")
            for label, ms in rows.items():
                print(f"| {label} | {ms:.1f} | {ms / reference:.2f} |")
        finally:
            if console is not None:
                console.stop()
            broker.stop()


if __name__ == "__main__":
    main()
