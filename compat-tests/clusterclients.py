"""What cluster tests ask of a running cluster, through stock clients: leaders, ISRs, readiness."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Callable, Iterator

from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from zkcluster import Cluster


def admin(cluster: Cluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": cluster.bootstrap_servers, "socket.timeout.ms": 5000})


def partitions(cluster: Cluster, topic: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """partition -> (leader, replicas, isr) as librdkafka's metadata shows them; asked again for
    a while when the broker that answers does not know the topic or a leader (yet, or any longer:
    a broker just back from a pause still has its old view)."""
    deadline = time.monotonic() + 10
    while True:
        found = admin(cluster).list_topics(topic=topic, timeout=10).topics.get(topic)
        answer = {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in found.partitions.values()} \
            if found is not None else {}
        if (answer and all(leader >= 0 for leader, _, _ in answer.values())) or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # a broker mid-restart; ask again
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_topic(cluster: Cluster, topic: str, partitions_count: int = 1, replication_factor: int = 3,
                 config: dict[str, str] | None = None) -> None:
    """Create a topic and wait until every partition has a leader and a full ISR."""
    client = admin(cluster)  # kept until the answer is in: its handle ends with it
    futures = client.create_topics([NewTopic(topic, partitions_count, replication_factor, config=config or {})])
    futures[topic].result(timeout=15)
    wait_until(lambda: len(partitions(cluster, topic)) == partitions_count and all(
        leader >= 0 and len(isr) == replication_factor for leader, _, isr in partitions(cluster, topic).values()),
        what=f"{topic} to have leaders and full ISRs")


@contextlib.contextmanager
def zookeeper(cluster: Cluster) -> Iterator[KazooClient]:
    """A ZooKeeper session inside the cluster's chroot, to read what the brokers wrote."""
    zk = KazooClient(hosts=cluster.zookeeper_connect)
    zk.start(timeout=10)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def controller_id(cluster: Cluster) -> int:
    with zookeeper(cluster) as zk:
        return json.loads(zk.get("/controller")[0])["brokerid"]


def leader_of(cluster: Cluster, topic: str, partition: int = 0) -> int:
    return partitions(cluster, topic)[partition][0]
