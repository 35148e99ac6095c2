"""`kbroker topics --describe`: topics and partitions as kafka-topics (Kafka 4) prints them, and
its reports of partitions that are under-replicated, unavailable, or under or at min ISR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import click
from kproto.messages import DescribeTopicPartitionsRequest

from kbroker.log.metadata import uuid_to_str
from kbroker.tools.admin import TOPIC_RESOURCE, describe_configs
from kbroker.tools.client import Client, check
from kbroker.tools.common import print_json

DEFAULT_CONFIG = 5  # DescribeConfigs config_source of a value nobody set
NO_LEADER = -1
ZERO_UUID = UUID(int=0)
REPORTS = ("under_replicated", "unavailable", "under_min_isr", "at_min_isr")


@dataclass(frozen=True)
class Partition:
    partition: int
    leader: int | None
    replicas: list[int]
    isr: list[int]
    elr: list[int] | None  # None: the broker does not say (no DescribeTopicPartitions)
    last_known_elr: list[int] | None


@dataclass(frozen=True)
class Topic:
    name: str
    topic_id: UUID
    partitions: list[Partition]
    configs: dict[str, str]  # the values set somewhere, not Kafka's defaults
    min_isr: int


def partitions_of(client: Client, names: list[str]) -> dict[str, tuple[UUID, list[Partition]]]:
    """Each topic's id and partitions, by DescribeTopicPartitions (with the eligible leader
    replicas), paged as the broker cuts its answer; by Metadata from a broker without it."""
    found: dict[str, tuple[UUID, list[Partition]]] = {}
    if DescribeTopicPartitionsRequest.API_KEY not in client.bootstrap.api_versions():
        for t in client.metadata(names).topics:
            check(t.error_code, f"topic {t.name}")
            found[t.name] = (t.topic_id, [Partition(p.partition_index, leader(p.leader_id), p.replica_nodes,
                                                    p.isr_nodes, None, None) for p in t.partitions])
        return found
    request = DescribeTopicPartitionsRequest(topics=[DescribeTopicPartitionsRequest.TopicRequest(name=n) for n in names])
    while True:
        answer = client.send(request)
        for t in answer.topics:
            check(t.error_code, f"topic {t.name}")
            known = found.setdefault(t.name, (t.topic_id, []))[1]
            known.extend(Partition(p.partition_index, leader(p.leader_id), p.replica_nodes, p.isr_nodes,
                                   p.eligible_leader_replicas, p.last_known_elr) for p in t.partitions)
        if answer.next_cursor is None:
            return found
        request.cursor = DescribeTopicPartitionsRequest.Cursor(topic_name=answer.next_cursor.topic_name,
                                                                partition_index=answer.next_cursor.partition_index)


def leader(node_id: int) -> int | None:
    return None if node_id == NO_LEADER else node_id


def fetch(client: Client, names: list[str]) -> list[Topic]:
    described = partitions_of(client, names) if names else {}
    topics = []
    for name in names:
        topic_id, partitions = described[name]
        configs = describe_configs(client, TOPIC_RESOURCE, name)
        overrides = {c.name: c.value for c in configs if c.config_source != DEFAULT_CONFIG}
        min_isr = next((int(c.value) for c in configs if c.name == "min.insync.replicas"), 1)
        topics.append(Topic(name, topic_id, sorted(partitions, key=lambda p: p.partition), overrides, min_isr))
    return topics


def reported(topic: Topic, p: Partition, live: set[int], reports: frozenset[str]) -> bool:
    """Whether the partition is one of those the reports ask for (any of them), as Kafka judges."""
    return any((
        "under_replicated" in reports and len(p.replicas) > len(p.isr),
        "unavailable" in reports and (p.leader is None or p.leader not in live),
        "under_min_isr" in reports and (p.leader is None or len(p.isr) < topic.min_isr),
        "at_min_isr" in reports and len(p.isr) == topic.min_isr,
    ))


def describe(client: Client, names: list[str], output: str, reports: frozenset[str] = frozenset(),
             with_overrides: bool = False) -> None:
    """A topic line (id, partition count, replication factor, configs set) and a line per partition;
    with reports, only the partitions they pick and no topic lines; with `with_overrides`, only the
    topic lines of topics with a config set."""
    live = {b.node_id for b in client.metadata([]).brokers} if reports else set()
    docs = []
    for topic in fetch(client, names):
        if with_overrides and not topic.configs:
            continue
        partitions = [] if with_overrides else [p for p in topic.partitions
                                                if not reports or reported(topic, p, live, reports)]
        if reports and not partitions:
            continue
        docs.append(topic_doc(topic, partitions))
    if output == "json":
        print_json(docs)
        return
    for doc in docs:
        if not reports:
            click.echo(topic_line(doc))
        for p in doc["partitions"]:
            click.echo(partition_line(doc["topic"], p))


def topic_doc(topic: Topic, partitions: list[Partition]) -> dict[str, Any]:
    return {"topic": topic.name, "topic_id": None if topic.topic_id == ZERO_UUID else uuid_to_str(topic.topic_id),
            "partition_count": len(topic.partitions),
            "replication_factor": len(topic.partitions[0].replicas) if topic.partitions else 0,
            "configs": topic.configs,
            "partitions": [{"partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr,
                            "elr": p.elr, "last_known_elr": p.last_known_elr} for p in partitions]}


def topic_line(doc: dict[str, Any]) -> str:
    topic_id = f"\tTopicId: {doc['topic_id']}" if doc["topic_id"] else ""
    configs = ",".join(f"{k}={v}" for k, v in doc["configs"].items())
    return (f"Topic: {doc['topic']}{topic_id}\tPartitionCount: {doc['partition_count']}\t"
            f"ReplicationFactor: {doc['replication_factor']}\tConfigs: {configs}")


def partition_line(topic: str, p: dict[str, Any]) -> str:
    return (f"\tTopic: {topic}\tPartition: {p['partition']}\tLeader: {'none' if p['leader'] is None else p['leader']}"
            f"\tReplicas: {nodes(p['replicas'])}\tIsr: {nodes(p['isr'])}"
            f"\tElr: {nodes(p['elr'])}\tLastKnownElr: {nodes(p['last_known_elr'])}")


def nodes(ids: list[int] | None) -> str:
    return "N/A" if ids is None else ",".join(map(str, ids))
