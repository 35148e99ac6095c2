"""The group requests behind `kbroker groups`: list, describe, committed offsets, delete groups,
delete offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

from kproto import ErrorCode, ProtocolError
from kproto.codec import decode
from kproto.messages import (
    ConsumerGroupDescribeRequest,
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


@dataclass
class Member:
    member_id: str
    client_id: str
    host: str
    assignment: list[tuple[str, int]]


@dataclass
class Group:
    """What DescribeGroups says of one group, and who coordinates it."""

    group_id: str
    state: str
    protocol_type: str
    protocol: str
    coordinator: tuple[int, str]  # node id, host:port
    members: list[Member] = field(default_factory=list)


def list_groups(client: Client) -> list[tuple[str, str, str]]:
    """(group id, protocol type, state) of every group on every broker."""
    found = {}
    for node in sorted(b.node_id for b in client.metadata([]).brokers):
        answer = client.send(ListGroupsRequest(), node=node, max_version=4)
        check(answer.error_code, f"list groups on broker {node}")
        for group in answer.groups:
            found[group.group_id] = (group.group_id, group.protocol_type, group.group_state or "")
    return [found[g] for g in sorted(found)]


def describe_group(client: Client, group_id: str) -> Group:
    """As Kafka's admin client: ConsumerGroupDescribe first (KIP-848 groups), and DescribeGroups
    for the groups it does not know (classic ones), or when the broker does not offer it."""
    node = coordinator(client, group_id)
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in client.metadata([]).brokers}
    where = (node, brokers.get(node, "?"))
    if ConsumerGroupDescribeRequest.API_KEY in client.node(node).api_versions():
        answer = client.send(ConsumerGroupDescribeRequest(group_ids=[group_id]), node=node)
        described = answer.groups[0]
        if described.error_code != ErrorCode.GROUP_ID_NOT_FOUND:
            check(described.error_code, f"describe group {group_id}", described.error_message)
            return Group(group_id, described.group_state, "consumer", described.assignor_name, where, [
                Member(m.member_id, m.client_id, m.client_host,
                       sorted((t.topic_name, p) for t in m.assignment.topic_partitions for p in t.partitions))
                for m in described.members])
    answer = client.send(DescribeGroupsRequest(groups=[group_id]), node=node, max_version=5)
    described = answer.groups[0]
    check(described.error_code, f"describe group {group_id}")
    group = Group(group_id, described.group_state, described.protocol_type, described.protocol_data, where)
    for member in described.members:
        assignment = decode_assignment(member.member_assignment) if described.protocol_type == "consumer" else []
        group.members.append(Member(member.member_id, member.client_id, member.client_host, assignment))
    return group


def decode_assignment(data: bytes | None) -> list[tuple[str, int]]:
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


def committed_offsets(client: Client, group_id: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> committed offset, for every partition the group has committed."""
    request = OffsetFetchRequest(group_id=group_id)
    request.topics = None  # null: every topic (the constructor would make it an empty list)
    answer = client.send(request, node=coordinator(client, group_id), max_version=7, min_version=2)
    check(answer.error_code, f"committed offsets of group {group_id}")
    return {(t.name, p.partition_index): p.committed_offset
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
