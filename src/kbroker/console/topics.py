"""What the cluster and topic pages show, asked of the brokers with Metadata, DescribeCluster,
DescribeLogDirs, ListOffsets and DescribeConfigs.

The topic list is paged: Metadata names every topic at once (cheap, even for thousands), but
sizes and record counts are asked only for the topics of the page shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from kproto.messages import DescribeClusterRequest, DescribeLogDirsRequest

from kbroker.tools.admin import EARLIEST, LATEST, TOPIC_RESOURCE, describe_configs, offsets_at
from kbroker.tools.client import Client, check
from kbroker.tools.topic_describe import Partition, partitions_of

PAGE_SIZE = 50  # topics per page: one screen, and a few requests per broker


@dataclass
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass
class Cluster:
    cluster_id: str | None
    controller: int | None
    brokers: list[Broker]
    topics: int
    internal_topics: int
    partitions: int
    apis: int  # how many APIs the bootstrap broker serves
    console_version: str


def cluster(client: Client) -> Cluster:
    """The brokers and controller (DescribeCluster, or Metadata from a broker without it) and totals."""
    meta = client.metadata(None)
    cluster_id, controller = meta.cluster_id, meta.controller_id
    brokers = [Broker(b.node_id, b.host, b.port, b.rack) for b in meta.brokers]
    if DescribeClusterRequest.API_KEY in client.bootstrap.api_versions():
        answer = client.send(DescribeClusterRequest())
        check(answer.error_code, "describe cluster", answer.error_message)
        cluster_id, controller = answer.cluster_id, answer.controller_id
        brokers = [Broker(b.broker_id, b.host, b.port, b.rack) for b in answer.brokers]
    return Cluster(cluster_id, controller if controller >= 0 else None, sorted(brokers, key=lambda b: b.node_id),
                   len(meta.topics), sum(t.is_internal for t in meta.topics),
                   sum(len(t.partitions) for t in meta.topics), len(client.bootstrap.api_versions()), _version())


def _version() -> str:
    try:
        return version("kbroker")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class TopicRow:
    name: str
    internal: bool
    partitions: int
    replication_factor: int
    under_replicated: int
    size: int | None = None  # bytes on the brokers' disks, None when no broker says
    records: int = 0  # end offset less start offset, summed over the partitions


@dataclass
class TopicPage:
    rows: list[TopicRow]
    page: int
    pages: int
    total: int
    query: str


def topic_page(client: Client, page: int, query: str = "") -> TopicPage:
    """One page of the topics whose names contain `query`, in name order, with sizes and counts."""
    meta = client.metadata(None)
    matching = sorted((t for t in meta.topics if query in t.name), key=lambda t: t.name)
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = matching[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    rows = [TopicRow(t.name, t.is_internal, len(t.partitions),
                     len(t.partitions[0].replica_nodes) if t.partitions else 0,
                     sum(len(p.isr_nodes) < len(p.replica_nodes) for p in t.partitions)) for t in shown]
    leaders = {(t.name, p.partition_index): p.leader_id for t in shown for p in t.partitions if p.leader_id >= 0}
    starts, ends = offsets_at(client, leaders, EARLIEST), offsets_at(client, leaders, LATEST)
    sizes = log_sizes(client, {r.name: r.partitions for r in rows})
    for row in rows:
        row.records = sum(ends[tp] - starts[tp] for tp in ends if tp[0] == row.name)
        row.size = sum(n for tp, n in sizes.items() if tp[0] == row.name) if sizes else None
    return TopicPage(rows, page, pages, len(matching), query)


def log_sizes(client: Client, counts: dict[str, int]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> bytes of its logs on every broker (replicas included), by DescribeLogDirs,
    for topics with these partition counts; empty when the brokers do not serve it."""
    if not counts or DescribeLogDirsRequest.API_KEY not in client.bootstrap.api_versions():
        return {}
    request = DescribeLogDirsRequest(topics=[DescribeLogDirsRequest.DescribableLogDirTopic(
        topic=name, partitions=list(range(count))) for name, count in counts.items()])
    sizes: dict[tuple[str, int], int] = {}
    for b in client.metadata([]).brokers:
        for result in client.send(request, node=b.node_id).results:
            for t in result.topics:
                for p in t.partitions:
                    sizes[(t.name, p.partition_index)] = sizes.get((t.name, p.partition_index), 0) + p.partition_size
    return sizes


@dataclass
class PartitionRow:
    partition: Partition
    start: int
    end: int
    size: int | None


@dataclass
class TopicDetail:
    name: str
    topic_id: str
    internal: bool
    partitions: list[PartitionRow]
    configs: list[tuple[str, str | None, bool, bool]]  # name, value, set here (not a default), sensitive
    size: int | None = None
    records: int = field(init=False)

    def __post_init__(self) -> None:
        self.records = sum(p.end - p.start for p in self.partitions)


DEFAULT_CONFIG = 5  # DescribeConfigs config_source of a value nobody set


def topic_detail(client: Client, name: str) -> TopicDetail:
    """A topic's partitions (leader, replicas, ISR, offsets, sizes) and every config with its source."""
    found = client.metadata([name]).topics[0]
    check(found.error_code, f"topic {name}")
    topic_id, partitions = partitions_of(client, [name])[name]
    leaders = {(name, p.partition): p.leader for p in partitions if p.leader is not None}
    starts, ends = offsets_at(client, leaders, EARLIEST), offsets_at(client, leaders, LATEST)
    sizes = log_sizes(client, {name: len(partitions)})
    rows = [PartitionRow(p, starts.get((name, p.partition), 0), ends.get((name, p.partition), 0),
                         sizes.get((name, p.partition))) for p in sorted(partitions, key=lambda p: p.partition)]
    configs = [(c.name, c.value, c.config_source != DEFAULT_CONFIG, c.is_sensitive)
               for c in sorted(describe_configs(client, TOPIC_RESOURCE, name), key=lambda c: c.name)]
    detail = TopicDetail(name, str(topic_id), found.is_internal, rows, configs)
    detail.size = sum(sizes.values()) if sizes else None
    return detail
