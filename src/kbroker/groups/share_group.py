"""A share group (KIP-932) and its members, as the coordinator holds them and its records keep them."""

from __future__ import annotations

from dataclasses import dataclass, field

from kbroker.groups.assignors import Assignment


@dataclass(eq=False)
class ShareMember:
    member_id: str
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topics: frozenset[str] = frozenset()
    member_epoch: int = 0
    previous_member_epoch: int = 0
    assigned: Assignment = field(default_factory=dict)


@dataclass(eq=False)
class ShareGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ShareMember] = field(default_factory=dict)
    topic_partitions: dict[str, int] = field(default_factory=dict)
    #: the share partitions whose state the group has initialized, by topic
    initialized: Assignment = field(default_factory=dict)

    @property
    def state(self) -> str:
        """Kafka's share group states, as ListGroups and ShareGroupDescribe show them."""
        return "Stable" if self.members else "Empty"

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed_topics}

    def target_of(self, member: ShareMember) -> Assignment:
        """Kafka's SimpleAssignor for share groups: every partition of every topic the member
        subscribes to, since a partition's records are shared out record by record."""
        counts = self.topic_partitions
        return {t: set(range(counts[t])) for t in member.subscribed_topics if t in counts}
