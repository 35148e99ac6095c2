"""A KIP-848 consumer group: members with epochs, the target assignment, and reconciliation.

The coordinator computes a target assignment per group epoch; each member then moves towards
its target one heartbeat at a time, as Kafka's CurrentAssignmentBuilder does: it first gives up
(revokes) what the target takes away, keeping its epoch, and only once its heartbeat shows those
partitions released does it get the new epoch and the new partitions; a partition still held by
another member (assigned or pending revocation there) is withheld until that member lets go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kbroker.groups.assignors import Assignment

STABLE = "STABLE"
UNREVOKED_PARTITIONS = "UNREVOKED_PARTITIONS"
UNRELEASED_PARTITIONS = "UNRELEASED_PARTITIONS"
#: member epochs a heartbeat sends to leave: -1 for good, -2 for a static member coming back
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2


def copy(assignment: Assignment) -> Assignment:
    return {t: set(p) for t, p in assignment.items() if p}


def minus(a: Assignment, b: Assignment) -> Assignment:
    return {t: p - b.get(t, set()) for t, p in a.items() if p - b.get(t, set())}


def intersect(a: Assignment, b: Assignment) -> Assignment:
    return {t: p & b.get(t, set()) for t, p in a.items() if p & b.get(t, set())}


def count(a: Assignment) -> int:
    return sum(len(p) for p in a.values())


@dataclass(frozen=True, slots=True)
class ClassicMetadata:
    """What a member speaking the classic protocol inside a consumer group sent in its JoinGroup
    (Kafka's ClassicMemberMetadata): its session timeout and its protocols, in its preference order."""
    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]

    @property
    def protocol_name(self) -> str:
        """The protocol its JoinGroup and SyncGroup answers name: its favourite."""
        return self.protocols[0][0]


@dataclass(eq=False)
class ConsumerMember:
    member_id: str
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    subscribed_topics: frozenset[str] = frozenset()
    subscribed_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: str = STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    #: when the member's next heartbeat is expected (its last one plus the interval it was given)
    heartbeat_due_ms: int = 0
    #: answers since it was last stable (pacing.py doubles its interval with each)
    pending_heartbeats: int = 0
    #: set for a member that speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat)
    classic: ClassicMetadata | None = None

    def holds(self) -> Assignment:
        """What the member may still be consuming: its assignment and what it has yet to revoke."""
        held = copy(self.assigned)
        for topic, parts in self.pending_revocation.items():
            held.setdefault(topic, set()).update(parts)
        return held


@dataclass(eq=False)
class ConsumerGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor: str = "uniform"
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    #: partition counts of the subscribed topics the target was computed from
    topic_partitions: dict[str, int] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """Kafka's consumer group states, as ListGroups and ConsumerGroupDescribe show them."""
        if not self.members:
            return "Empty"
        if self.assignment_epoch != self.group_epoch:
            return "Assigning"
        if any(m.member_epoch != self.assignment_epoch or m.state != STABLE for m in self.members.values()):
            return "Reconciling"
        return "Stable"

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed_topics}

    def by_instance(self, instance_id: str) -> ConsumerMember | None:
        return next((m for m in self.members.values() if m.instance_id == instance_id), None)

    def owners(self, excluding: str) -> set[tuple[str, int]]:
        """Partitions another member still holds, which `excluding` must wait for."""
        return {(t, p) for m in self.members.values() if m.member_id != excluding
                for t, parts in m.holds().items() for p in parts}


def reconcile(group: ConsumerGroup, member: ConsumerMember, owned: Assignment | None) -> bool:
    """Move `member` one step towards its target; True when its assignment changed.

    `owned` is what the heartbeat says the member holds (None when it did not say).
    """
    target = group.target.get(member.member_id, {})
    if member.state == UNREVOKED_PARTITIONS:
        if owned is None or minus(owned, member.assigned):
            return False  # still holding what it must give up
        member.pending_revocation = {}
    elif member.state == STABLE and member.member_epoch == group.assignment_epoch:
        return False
    before = (copy(member.assigned), member.member_epoch, member.state)
    revoke = minus(member.assigned, target)
    if revoke:
        member.assigned = intersect(member.assigned, target)
        member.pending_revocation = revoke
        member.state = UNREVOKED_PARTITIONS
    else:
        busy = group.owners(member.member_id)
        wanted = minus(target, member.assigned)
        free = {t: {p for p in parts if (t, p) not in busy} for t, parts in wanted.items()}
        for topic, parts in free.items():
            if parts:
                member.assigned.setdefault(topic, set()).update(parts)
        member.state = UNRELEASED_PARTITIONS if count(free) < count(wanted) else STABLE
        if member.member_epoch != group.assignment_epoch:
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = group.assignment_epoch
    return (copy(member.assigned), member.member_epoch, member.state) != before
