"""The operator tools against three brokers on ZooKeeper: `kbroker topics --describe` and its
partition reports with a broker killed, and DescribeLogDirs for the replicas each broker holds."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest
from confluent_kafka import Producer
from kproto.messages import DescribeLogDirsRequest

from clusterclients import create_topic
from kbroker.tools.client import Connection, split_address
from zkcluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("tools")) as running:
        yield running


def topics_tool(cluster: Cluster, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "kbroker", "topics", "--bootstrap-server", cluster.bootstrap_servers,
                           "--describe", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def log_dirs(cluster: Cluster, broker_id: int) -> dict[tuple[str, int], int]:
    """(topic, partition) -> size of every partition the broker holds, as DescribeLogDirs v4 reports it."""
    every_topic = DescribeLogDirsRequest()
    every_topic.topics = None
    with Connection(*split_address(cluster.brokers[broker_id].bootstrap_server)) as connection:
        answer = connection.request(every_topic, 4)
    return {(t.name, p.partition_index): p.partition_size
            for d in answer.results for t in d.topics for p in t.partitions}


def test_describe_log_dirs_lists_follower_replicas_too(cluster: Cluster) -> None:
    create_topic(cluster, "spread", 3, replication_factor=2)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
    for partition in range(3):
        producer.produce("spread", b"x" * 100, partition=partition)
    assert producer.flush(15) == 0
    lines = topics_tool(cluster, "--topic", "spread")[1:]
    replicas = {int(line.split("\tPartition: ")[1].split("\t")[0]): line.split("\tReplicas: ")[1].split("\t")[0]
                for line in lines}
    held = {b: log_dirs(cluster, b) for b in cluster.brokers}
    for partition, ids in replicas.items():
        holders = [int(i) for i in ids.split(",")]
        assert sorted(b for b in held if ("spread", partition) in held[b]) == sorted(holders)
        sizes = {held[b][("spread", partition)] for b in holders}
        assert len(sizes) == 1 and sizes.pop() > 100  # leader and follower hold the same replicated batch


def test_reports_with_a_broker_killed(cluster: Cluster) -> None:
    create_topic(cluster, "everywhere", 3, replication_factor=3)
    create_topic(cluster, "single", 3, replication_factor=1)  # one partition on each broker
    single = {int(line.split("\tPartition: ")[1].split("\t")[0]): line
              for line in topics_tool(cluster, "--topic", "single")[1:]}
    killed = 2
    lost = next(p for p, line in single.items() if f"\tReplicas: {killed}\t" in line)
    cluster.kill(killed)
    try:
        under = topics_tool(cluster, "--topic", "everywhere|single", "--under-replicated-partitions")
        assert [line.split("\tPartition: ")[1].split("\t")[0] for line in under] == ["0", "1", "2"]
        for line in under:
            assert line.startswith("\tTopic: everywhere\tPartition: ")
            isr = line.split("\tIsr: ")[1].split("\t")[0]
            assert sorted(map(int, isr.split(","))) == [1, 3]
        assert topics_tool(cluster, "--topic", "everywhere|single", "--unavailable-partitions") == [
            f"\tTopic: single\tPartition: {lost}\tLeader: none\tReplicas: {killed}\tIsr: {killed}"
            "\tElr: \tLastKnownElr: "]
        assert topics_tool(cluster, "--topic", "everywhere|single", "--under-min-isr-partitions") == [
            f"\tTopic: single\tPartition: {lost}\tLeader: none\tReplicas: {killed}\tIsr: {killed}"
            "\tElr: \tLastKnownElr: "]
    finally:
        cluster.start(killed)
