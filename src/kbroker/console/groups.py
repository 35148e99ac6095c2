"""What the group pages show: consumer groups with their lag per partition (computed as `kbroker
groups --describe` computes it, by the same code), and share groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kproto.messages import ListGroupsRequest, ShareGroupDescribeRequest

from kbroker.tools.client import Client, check
from kbroker.tools.console import coordinator
from kbroker.tools.group_admin import Group, describe_group
from kbroker.tools.groups import offset_rows

SHARE_TYPE = "Share"


@dataclass
class GroupDetail:
    group: Group
    offsets: list[dict[str, Any]]  # the rows of `kbroker groups --describe --offsets`

    @property
    def total_lag(self) -> int:
        return sum(row["lag"] or 0 for row in self.offsets)


def group_detail(client: Client, group_id: str) -> GroupDetail:
    group = describe_group(client, group_id)
    return GroupDetail(group, offset_rows(client, group) if group.state != "Dead" else [])


def group_lags(client: Client, group_id: str) -> dict[str, int]:
    """`topic-partition` -> lag of each partition the group has committed, for the lag chart."""
    group = describe_group(client, group_id)
    return {f"{row['topic']}-{row['partition']}": row["lag"] for row in offset_rows(client, group)
            if row["lag"] is not None}


@dataclass
class ShareMember:
    member_id: str
    client_id: str
    host: str
    topics: list[str]
    assignment: list[tuple[str, int]]


@dataclass
class ShareGroup:
    group_id: str
    state: str
    epoch: int
    assignor: str
    members: list[ShareMember]


def share_groups(client: Client) -> list[ShareGroup]:
    """Every share group (ListGroups v5 by type), described by its coordinator; none from a broker
    without share groups."""
    versions = client.bootstrap.api_versions()
    if ShareGroupDescribeRequest.API_KEY not in versions or versions.get(ListGroupsRequest.API_KEY, (0, 0))[1] < 5:
        return []
    ids: set[str] = set()
    for node in sorted(b.node_id for b in client.metadata([]).brokers):
        answer = client.send(ListGroupsRequest(types_filter=[SHARE_TYPE]), node=node, min_version=5)
        check(answer.error_code, f"list share groups on broker {node}")
        ids.update(g.group_id for g in answer.groups)
    found = []
    for group_id in sorted(ids):
        described = client.send(ShareGroupDescribeRequest(group_ids=[group_id]),
                                node=coordinator(client, group_id)).groups[0]
        check(described.error_code, f"describe share group {group_id}", described.error_message)
        found.append(ShareGroup(group_id, described.group_state, described.group_epoch, described.assignor_name, [
            ShareMember(m.member_id, m.client_id, m.client_host, sorted(m.subscribed_topic_names or []),
                        sorted((t.topic_name, p) for t in m.assignment.topic_partitions for p in t.partitions)
                        if m.assignment else [])
            for m in described.members]))
    return found
