"""A broker's view of the cluster, as the controller's UpdateMetadata requests tell it.

Metadata, FindCoordinator, DescribeCluster and the not-leader answers read it: which brokers
are alive and where, which broker is controller, and each partition's leader, epoch, replicas,
ISR and offline replicas. Like Kafka's ZooKeeper-mode metadata cache, updates are merged
partition by partition; a partition whose leader is -2 (Kafka's "leader during delete") is removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

LEADER_DURING_DELETE = -2
NO_LEADER = -1


@dataclass(frozen=True)
class BrokerNode:
    node_id: int
    host: str  # host and port of the inter-broker listener
    port: int
    rack: str | None = None
    endpoints: tuple[tuple[str, str, int], ...] = ()  # (listener, host, port) of every listener

    def address(self, listener: str | None) -> tuple[str, int] | None:
        """(host, port) on `listener` (None: the inter-broker one); None when the broker has no such listener."""
        if listener is None or not self.endpoints:
            return self.host, self.port
        return next(((host, port) for name, host, port in self.endpoints if name == listener), None)


@dataclass
class PartitionView:
    leader: int
    leader_epoch: int
    isr: list[int]
    replicas: list[int]
    offline: list[int] = field(default_factory=list)
    partition_epoch: int = 0


@dataclass
class TopicView:
    topic_id: uuid.UUID
    partitions: dict[int, PartitionView] = field(default_factory=dict)


class ClusterView:
    def __init__(self) -> None:
        self.controller_id = -1
        self.controller_epoch = 0
        self.brokers: dict[int, BrokerNode] = {}
        self.topics: dict[str, TopicView] = {}

    def update(self, controller_id: int, controller_epoch: int, brokers: list[BrokerNode],
               partitions: list[tuple[str, uuid.UUID, int, PartitionView]]) -> list[str]:
        """Merge an UpdateMetadata; returns the topics that vanished with it."""
        self.controller_id, self.controller_epoch = controller_id, controller_epoch
        self.brokers = {b.node_id: b for b in brokers}
        touched = set()
        for topic, topic_id, index, state in partitions:
            touched.add(topic)
            if state.leader == LEADER_DURING_DELETE:
                view = self.topics.get(topic)
                if view is not None:
                    view.partitions.pop(index, None)
                continue
            view = self.topics.get(topic)
            if view is None or (topic_id.int and view.topic_id != topic_id):
                view = self.topics[topic] = TopicView(topic_id)
            view.partitions[index] = state
        gone = [t for t in touched if t in self.topics and not self.topics[t].partitions]
        for topic in gone:
            del self.topics[topic]
        return gone

    def partition(self, topic: str, index: int) -> PartitionView | None:
        view = self.topics.get(topic)
        return view.partitions.get(index) if view else None

    def leader_node(self, topic: str, index: int) -> BrokerNode | None:
        state = self.partition(topic, index)
        return self.brokers.get(state.leader) if state else None
