"""The group requests behind `kbroker groups`: list, describe, committed offsets, delete groups,
delete offsets. Consumer groups only, as kafka-consumer-groups sees them: protocol type
`consumer` (or none), described with ConsumerGroupDescribe where the broker has it (KIP-848
groups) and with DescribeGroups otherwise (classic groups)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from kproto import ErrorCode, ProtocolError
from kproto.codec import decode
from kproto.messages import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    ConsumerProtocolAssignment,
    DeleteGroupsRequest,
    DescribeGroupsRequest,
    ListGroupsRequest,
    OffsetDeleteRequest,
    OffsetFetchRequest,
)

from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.console import coordinator

ASSIGNMENT_VERSIONS = ConsumerProtocolAssignment.SPEC.versions
INACTIVE_STATES = ("Empty", "Dead")  # Dead: the coordinator knows no such group
REBALANCING_STATES = ("PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling")
CONSUMER_PROTOCOL = "consumer"
NO_LEADER_EPOCH = -1

TopicPartitions = list[tuple[str, int]]


@dataclass
class Member:
    member_id: str
    client_id: str
    host: str
    assignment: TopicPartitions
    instance_id: str | None = None
    member_epoch: int | None = None  # the epochs and the target: KIP-848 groups only
    target_assignment: TopicPartitions | None = None


@dataclass
class Group:
    """What the coordinator says of one group, and who it is."""

    group_id: str
    state: str
    protocol_type: str
    protocol: str  # the assignment strategy: the classic protocol name or the KIP-848 assignor
    coordinator: tuple[int, str]  # node id, host:port
    members: list[Member] = field(default_factory=list)
    group_type: str = "Classic"
    group_epoch: int | None = None
    target_assignment_epoch: int | None = None


@dataclass(frozen=True)
class Listing:
    """One group as ListGroups lists it; empty state or type when the broker is too old to say."""

    group_id: str
    protocol_type: str
    state: str
    group_type: str


@dataclass(frozen=True)
class Committed:
    offset: int
    leader_epoch: int | None


def list_groups(client: Client, states: Iterable[str] = (), types: Iterable[str] = (),
                protocol_types: tuple[str, ...] = (CONSUMER_PROTOCOL, "")) -> list[Listing]:
    """The groups of these protocol types (consumer groups by default) on every broker, in these
    states and of these types (any when empty); the filters go to the broker, which needs
    ListGroups v4 for states and v5 for types."""
    states, types = sorted(states), sorted(types)
    found = {}
    for node in sorted(b.node_id for b in client.metadata([]).brokers):
        request = ListGroupsRequest(states_filter=states, types_filter=types)
        answer = client.send(request, node=node, max_version=5, min_version=5 if types else 4 if states else 0)
        check(answer.error_code, f"list groups on broker {node}")
        for group in answer.groups:
            if group.protocol_type in protocol_types:
                found[group.group_id] = Listing(group.group_id, group.protocol_type, group.group_state or "",
                                                group.group_type or "")
    return [found[g] for g in sorted(found)]


def describe_group(client: Client, group_id: str) -> Group:
    """The group as Kafka's admin client describes it: ConsumerGroupDescribe first, DescribeGroups
    for a group that is not a KIP-848 group or a broker without that API."""
    node = coordinator(client, group_id)
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in client.metadata([]).brokers}
    where = (node, brokers.get(node, "?"))
    if ConsumerGroupDescribeRequest.API_KEY in client.node(node).api_versions():
        group = describe_consumer_group(client, group_id, where)
        if group is not None:
            return group
    return describe_classic_group(client, group_id, where)


def describe_consumer_group(client: Client, group_id: str, where: tuple[int, str]) -> Group | None:
    """A KIP-848 group, or None when the coordinator has no such group (it may be classic)."""
    answer = client.send(ConsumerGroupDescribeRequest(group_ids=[group_id]), node=where[0])
    described = answer.groups[0]
    if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return None
    check(described.error_code, f"describe group {group_id}", described.error_message)
    group = Group(group_id, described.group_state, CONSUMER_PROTOCOL, described.assignor_name, where,
                  group_type="Consumer", group_epoch=described.group_epoch,
                  target_assignment_epoch=described.assignment_epoch)
    for m in described.members:
        group.members.append(Member(m.member_id, m.client_id, m.client_host, topic_partitions(m.assignment),
                                    m.instance_id, m.member_epoch, topic_partitions(m.target_assignment)))
    return group


def topic_partitions(assignment: ConsumerGroupDescribeResponse.Assignment) -> TopicPartitions:
    return sorted((t.topic_name, p) for t in assignment.topic_partitions for p in t.partitions)


def describe_classic_group(client: Client, group_id: str, where: tuple[int, str]) -> Group:
    answer = client.send(DescribeGroupsRequest(groups=[group_id]), node=where[0], max_version=5)
    described = answer.groups[0]
    if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:  # newer brokers say so rather than Dead
        return Group(group_id, "Dead", "", "", where)
    check(described.error_code, f"describe group {group_id}")
    if described.protocol_type not in (CONSUMER_PROTOCOL, ""):
        raise ToolError(f"GroupId {group_id} is not a consumer group ({described.protocol_type}).")
    group = Group(group_id, described.group_state, described.protocol_type, described.protocol_data, where)
    for member in described.members:
        group.members.append(Member(member.member_id, member.client_id, member.client_host,
                                    decode_assignment(member.member_assignment), member.group_instance_id))
    return group


def decode_assignment(data: bytes | None) -> TopicPartitions:
    """The (topic, partition) pairs of a consumer's assignment: a version int16, then the body;
    a newer version than ours is read as ours, ignoring what follows (as Kafka's clients do)."""
    if not data or len(data) < 2:
        return []
    version = min(int.from_bytes(data[:2], "big", signed=True), ASSIGNMENT_VERSIONS[1])
    try:
        body = decode(ConsumerProtocolAssignment, version, data, 2, allow_trailing=True)
    except ProtocolError as exc:
        raise ToolError(f"unreadable consumer assignment: {exc}") from None
    return sorted((t.topic, p) for t in body.assigned_partitions for p in t.partitions)


def committed_offsets(client: Client, group_id: str) -> dict[tuple[str, int], Committed]:
    """(topic, partition) -> committed offset and the leader epoch committed with it (OffsetFetch
    v5+; None without one), for every partition the group has committed."""
    request = OffsetFetchRequest(group_id=group_id)
    request.topics = None  # null: every topic (the constructor would make it an empty list)
    answer = client.send(request, node=coordinator(client, group_id), max_version=7, min_version=2)
    check(answer.error_code, f"committed offsets of group {group_id}")
    return {(t.name, p.partition_index): Committed(
                p.committed_offset, None if p.committed_leader_epoch == NO_LEADER_EPOCH else p.committed_leader_epoch)
            for t in answer.topics for p in t.partitions if p.committed_offset >= 0}


def delete_groups(client: Client, group_ids: list[str]) -> dict[str, int]:
    """group id -> error code of its deletion."""
    results = {}
    for group_id in group_ids:
        answer = client.send(DeleteGroupsRequest(groups_names=[group_id]), node=coordinator(client, group_id))
        results.update({r.group_id: r.error_code for r in answer.results})
    return results


def delete_offsets(client: Client, group_id: str, specs: dict[str, list[int] | None]
                   ) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
    """OffsetDelete for the partitions named (all of a topic's for None): the group-level error and
    each partition's. A topic that does not exist is partition -1 with its metadata error, as
    kafka-consumer-groups reports it, and is not sent."""
    statuses: dict[tuple[str, int], ErrorCode] = {}
    wanted: dict[str, list[int]] = {}
    for topic, partitions in specs.items():
        if partitions is not None:
            wanted[topic] = partitions
            continue
        found = client.metadata([topic]).topics[0]
        if found.error_code:
            statuses[(topic, -1)] = ErrorCode(found.error_code)
        else:
            wanted[topic] = sorted(p.partition_index for p in found.partitions)
    request = OffsetDeleteRequest(group_id=group_id, topics=[
        OffsetDeleteRequest.OffsetDeleteRequestTopic(name=t, partitions=[
            OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=p) for p in partitions])
        for t, partitions in wanted.items()])
    answer = client.send(request, node=coordinator(client, group_id))
    for topic in answer.topics:
        for partition in topic.partitions:
            statuses[(topic.name, partition.partition_index)] = ErrorCode(partition.error_code)
    return ErrorCode(answer.error_code), statuses
