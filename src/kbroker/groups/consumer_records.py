"""KIP-848 groups in `__consumer_offsets`, in Kafka's record formats (key types 3 and 5-8).

A group is its epoch (type 3), each member's metadata (5), the target assignment's epoch (6) and
each member's target (7), and each member's current assignment with its epoch and state (8).
Assignments are stored by topic id, as Kafka stores them. Kafka 4.1 stopped writing the
subscribed-topic metadata (type 4), keeping a hash instead; we write neither and recount the
topics at load. Replay is last value per key, a tombstone deleting the key.
"""

from __future__ import annotations

from kproto.messages import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
)

from kbroker.groups.consumer import (
    STABLE,
    UNRELEASED_PARTITIONS,
    UNREVOKED_PARTITIONS,
    ClassicMetadata,
    ConsumerGroup,
    ConsumerMember,
)
from kbroker.groups.records import (
    KeyedReplay,
    RecordBytes,
    RecordKinds,
    TopicId,
    TopicName,
    by_topic_id as _by_id,
    by_topic_name as _by_name,
)

GROUP, MEMBER, TARGET_EPOCH, TARGET_MEMBER, CURRENT = 3, 5, 6, 7, 8
KEYS = {
    GROUP: ConsumerGroupMetadataKey, MEMBER: ConsumerGroupMemberMetadataKey,
    TARGET_EPOCH: ConsumerGroupTargetAssignmentMetadataKey, TARGET_MEMBER: ConsumerGroupTargetAssignmentMemberKey,
    CURRENT: ConsumerGroupCurrentMemberAssignmentKey,
}
VALUES = {
    GROUP: ConsumerGroupMetadataValue, MEMBER: ConsumerGroupMemberMetadataValue,
    TARGET_EPOCH: ConsumerGroupTargetAssignmentMetadataValue, TARGET_MEMBER: ConsumerGroupTargetAssignmentMemberValue,
    CURRENT: ConsumerGroupCurrentMemberAssignmentValue,
}
#: Kafka's MemberState byte values
STATE_CODES = {STABLE: 0, UNREVOKED_PARTITIONS: 1, UNRELEASED_PARTITIONS: 2}
KINDS = RecordKinds(KEYS, VALUES)
_key, _record = KINDS.key, KINDS.record


def group_epoch(group: ConsumerGroup) -> RecordBytes:
    return _record(GROUP, group.group_id, None, ConsumerGroupMetadataValue(epoch=group.group_epoch))


def member_metadata(group_id: str, m: ConsumerMember) -> RecordBytes:
    V = ConsumerGroupMemberMetadataValue
    classic = None if m.classic is None else V.ClassicMemberMetadata(
        session_timeout_ms=m.classic.session_timeout_ms,
        supported_protocols=[V.ClassicProtocol(name=n, metadata=d) for n, d in m.classic.protocols])
    return _record(MEMBER, group_id, m.member_id, V(
        instance_id=m.instance_id, rack_id=m.rack_id, client_id=m.client_id, client_host=m.client_host,
        subscribed_topic_names=sorted(m.subscribed_topics), subscribed_topic_regex=m.subscribed_regex,
        rebalance_timeout_ms=m.rebalance_timeout_ms, server_assignor=m.server_assignor,
        classic_member_metadata=classic))


def group_records(group: ConsumerGroup, topic_id: TopicId) -> list[RecordBytes]:
    """A whole group, as Kafka writes one converted from a classic group: every member's metadata,
    the group epoch, the target assignment with its epoch, every member's current assignment."""
    out = [member_metadata(group.group_id, m) for m in group.members.values()]
    out.append(group_epoch(group))
    out += target(group, topic_id)
    out += [current(group.group_id, m, topic_id) for m in group.members.values()]
    return out


def target(group: ConsumerGroup, topic_id: TopicId) -> list[RecordBytes]:
    """The whole target assignment: each member's part, then the epoch that makes it current."""
    out = [_record(TARGET_MEMBER, group.group_id, member_id, ConsumerGroupTargetAssignmentMemberValue(
        topic_partitions=_by_id(parts, topic_id, ConsumerGroupTargetAssignmentMemberValue.TopicPartition)))
        for member_id, parts in group.target.items()]
    out.append(_record(TARGET_EPOCH, group.group_id, None,
                       ConsumerGroupTargetAssignmentMetadataValue(assignment_epoch=group.assignment_epoch)))
    return out


def current(group_id: str, m: ConsumerMember, topic_id: TopicId) -> RecordBytes:
    tp = ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions
    return _record(CURRENT, group_id, m.member_id, ConsumerGroupCurrentMemberAssignmentValue(
        member_epoch=m.member_epoch, previous_member_epoch=m.previous_member_epoch, state=STATE_CODES[m.state],
        assigned_partitions=_by_id(m.assigned, topic_id, tp),
        partitions_pending_revocation=_by_id(m.pending_revocation, topic_id, tp)))


def member_tombstones(group_id: str, member_id: str) -> list[RecordBytes]:
    return [(_key(kind, group_id, member_id), None) for kind in (CURRENT, TARGET_MEMBER, MEMBER)]


def group_tombstones(group: ConsumerGroup) -> list[RecordBytes]:
    """Everything of a group (its members too, when a conversion removes it), in Kafka's order:
    current assignments, targets, the target epoch, member metadata, the group epoch."""
    ids = list(group.members)
    return ([(_key(CURRENT, group.group_id, m), None) for m in ids]
            + [(_key(TARGET_MEMBER, group.group_id, m), None) for m in ids]
            + [(_key(TARGET_EPOCH, group.group_id), None)]
            + [(_key(MEMBER, group.group_id, m), None) for m in ids]
            + [(_key(GROUP, group.group_id), None)])


class Loader(KeyedReplay):
    """Rebuilds KIP-848 groups from replayed records (the last value of each key wins)."""

    def __init__(self) -> None:
        super().__init__(KINDS)

    def groups(self, topic_name: TopicName) -> dict[str, ConsumerGroup]:
        groups: dict[str, ConsumerGroup] = {}
        states = {code: name for name, code in STATE_CODES.items()}
        for (kind, group_id, _), v in self.values.items():
            if kind == GROUP:
                groups[group_id] = ConsumerGroup(group_id, group_epoch=v.epoch)
        for (kind, group_id, member_id), v in sorted(self.values.items(), key=lambda item: item[0][0]):
            group = groups.get(group_id)
            if group is None:
                continue
            if kind == MEMBER:
                classic = v.classic_member_metadata
                group.members[member_id] = ConsumerMember(
                    member_id, v.instance_id, v.rack_id, v.client_id, v.client_host, v.rebalance_timeout_ms,
                    frozenset(v.subscribed_topic_names), v.subscribed_topic_regex, v.server_assignor,
                    classic=None if classic is None else ClassicMetadata(
                        classic.session_timeout_ms,
                        tuple((p.name, bytes(p.metadata)) for p in classic.supported_protocols)))
            elif kind == TARGET_EPOCH:
                group.assignment_epoch = v.assignment_epoch
            elif kind == TARGET_MEMBER and member_id in group.members:
                group.target[member_id] = _by_name(v.topic_partitions, topic_name)
            elif kind == CURRENT and member_id in group.members:
                m = group.members[member_id]
                m.member_epoch, m.previous_member_epoch = v.member_epoch, v.previous_member_epoch
                m.state = states.get(v.state, STABLE)
                m.assigned = _by_name(v.assigned_partitions, topic_name)
                m.pending_revocation = _by_name(v.partitions_pending_revocation, topic_name)
        return groups
