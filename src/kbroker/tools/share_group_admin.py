"""The share group requests behind `kbroker share-groups`: list, describe (ShareGroupDescribe),
start offsets and lag (DescribeShareGroupOffsets v1), alter and delete them (KIP-932). Groups are
the `Group` and `Member` of group_admin, so both tools print them with the same helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from kproto import ErrorCode
from kproto.messages import (
    AlterShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsRequest,
    ShareGroupDescribeRequest,
)

from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.console import coordinator
from kbroker.tools.group_admin import Group, Listing, Member, list_groups

SHARE_PROTOCOL = "share"
NO_OFFSET = -1


@dataclass(frozen=True)
class ShareOffset:
    start_offset: int | None  # None: the group has not started the partition
    leader_epoch: int | None
    lag: int | None


def list_share_groups(client: Client, states: Iterable[str] = ()) -> list[Listing]:
    return list_groups(client, states, ["Share"], protocol_types=(SHARE_PROTOCOL,))


def describe_share_group(client: Client, group_id: str) -> Group:
    """The group as ShareGroupDescribe gives it; state Dead when there is no such share group."""
    node = coordinator(client, group_id)
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in client.metadata([]).brokers}
    where = (node, brokers.get(node, "?"))
    described = client.send(ShareGroupDescribeRequest(group_ids=[group_id]), node=node).groups[0]
    if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return Group(group_id, "Dead", SHARE_PROTOCOL, "", where, group_type="Share")
    check(described.error_code, f"describe share group {group_id}", described.error_message)
    group = Group(group_id, described.group_state, SHARE_PROTOCOL, described.assignor_name, where,
                  group_type="Share", group_epoch=described.group_epoch,
                  target_assignment_epoch=described.assignment_epoch)
    for m in described.members:
        assigned = sorted((t.topic_name, p) for t in m.assignment.topic_partitions for p in t.partitions)
        group.members.append(Member(m.member_id, m.client_id, m.client_host, assigned, member_epoch=m.member_epoch))
    return group


def share_offsets(client: Client, group_id: str) -> dict[tuple[str, int], ShareOffset]:
    """(topic, partition) -> start offset, leader epoch and lag of every partition the group has started."""
    R = DescribeShareGroupOffsetsRequest
    wanted = R.DescribeShareGroupOffsetsRequestGroup(group_id=group_id)
    wanted.topics = None  # null: every topic (the constructor would make it an empty list)
    request = R(groups=[wanted])
    [group] = client.send(request, node=coordinator(client, group_id)).groups
    check(group.error_code, f"offsets of share group {group_id}", group.error_message)
    found = {}
    for topic in group.topics:
        for p in topic.partitions:
            check(p.error_code, f"offsets of {topic.topic_name}-{p.partition_index}", p.error_message)
            started = p.start_offset != NO_OFFSET
            found[(topic.topic_name, p.partition_index)] = ShareOffset(
                p.start_offset if started else None, p.leader_epoch if p.leader_epoch >= 0 else None,
                p.lag if started and p.lag >= 0 else None)
    return found


def alter_share_offsets(client: Client, group_id: str, plan: dict[tuple[str, int], int]) -> None:
    """AlterShareGroupOffsets: each partition starts again at its planned offset."""
    A = AlterShareGroupOffsetsRequest
    by_topic: dict[str, list[A.AlterShareGroupOffsetsRequestPartition]] = {}
    for (topic, partition), offset in sorted(plan.items()):
        by_topic.setdefault(topic, []).append(A.AlterShareGroupOffsetsRequestPartition(partition_index=partition,
                                                                                      start_offset=offset))
    answer = client.send(A(group_id=group_id, topics=[A.AlterShareGroupOffsetsRequestTopic(topic_name=t, partitions=ps)
                                                      for t, ps in by_topic.items()]),
                         node=coordinator(client, group_id))
    if answer.error_code:
        raise ToolError(answer.error_message or ErrorCode(answer.error_code).name)
    for topic in answer.responses:
        for p in topic.partitions:
            check(p.error_code, f"reset {topic.topic_name}-{p.partition_index}", p.error_message)


def delete_share_offsets(client: Client, group_id: str, topics: list[str]) -> dict[str, str | None]:
    """DeleteShareGroupOffsets: topic -> None when deleted, else the broker's message; a ToolError
    for a group-level refusal (not found, not empty)."""
    D = DeleteShareGroupOffsetsRequest
    answer = client.send(D(group_id=group_id, topics=[D.DeleteShareGroupOffsetsRequestTopic(topic_name=t)
                                                      for t in topics]), node=coordinator(client, group_id))
    if answer.error_code:
        raise ToolError(answer.error_message or ErrorCode(answer.error_code).name)
    return {t.topic_name: (t.error_message or ErrorCode(t.error_code).description) if t.error_code else None
            for t in answer.responses}
