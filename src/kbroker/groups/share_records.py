"""KIP-932 share groups in `__consumer_offsets`, in Kafka's record formats (key types 10-15).

A share group is its epoch (type 11), each member's metadata (10), the target assignment's epoch
(12) and each member's target (13), each member's current assignment with its epoch (14), and
the share partitions whose state the group has initialized (15, ShareGroupStatePartitionMetadata).
Assignments are stored by topic id, as Kafka stores them. The subscribed-topic metadata of type 9
is not written: the topics are counted again at load, as for consumer groups. Replay is last value
per key, a tombstone deleting the key.
"""

from __future__ import annotations

from kproto.messages import (
    ShareGroupCurrentMemberAssignmentKey,
    ShareGroupCurrentMemberAssignmentValue,
    ShareGroupMemberMetadataKey,
    ShareGroupMemberMetadataValue,
    ShareGroupMetadataKey,
    ShareGroupMetadataValue,
    ShareGroupStatePartitionMetadataKey,
    ShareGroupStatePartitionMetadataValue,
    ShareGroupTargetAssignmentMemberKey,
    ShareGroupTargetAssignmentMemberValue,
    ShareGroupTargetAssignmentMetadataKey,
    ShareGroupTargetAssignmentMetadataValue,
)

from kbroker.groups.records import KeyedReplay, RecordBytes, RecordKinds, TopicId, TopicName, by_topic_id, by_topic_name
from kbroker.groups.share_group import ShareGroup, ShareMember

MEMBER, GROUP, TARGET_EPOCH, TARGET_MEMBER, CURRENT, STATE_PARTITIONS = 10, 11, 12, 13, 14, 15
KINDS = RecordKinds(
    {MEMBER: ShareGroupMemberMetadataKey, GROUP: ShareGroupMetadataKey,
     TARGET_EPOCH: ShareGroupTargetAssignmentMetadataKey, TARGET_MEMBER: ShareGroupTargetAssignmentMemberKey,
     CURRENT: ShareGroupCurrentMemberAssignmentKey, STATE_PARTITIONS: ShareGroupStatePartitionMetadataKey},
    {MEMBER: ShareGroupMemberMetadataValue, GROUP: ShareGroupMetadataValue,
     TARGET_EPOCH: ShareGroupTargetAssignmentMetadataValue, TARGET_MEMBER: ShareGroupTargetAssignmentMemberValue,
     CURRENT: ShareGroupCurrentMemberAssignmentValue, STATE_PARTITIONS: ShareGroupStatePartitionMetadataValue})
STABLE = 0  # Kafka's MemberState byte: a share member has nothing to revoke, so it is always stable


def group_epoch(group: ShareGroup) -> RecordBytes:
    return KINDS.record(GROUP, group.group_id, None, ShareGroupMetadataValue(epoch=group.group_epoch))


def member_metadata(group_id: str, m: ShareMember) -> RecordBytes:
    return KINDS.record(MEMBER, group_id, m.member_id, ShareGroupMemberMetadataValue(
        rack_id=m.rack_id, client_id=m.client_id, client_host=m.client_host,
        subscribed_topic_names=sorted(m.subscribed_topics)))


def target_epoch(group: ShareGroup) -> RecordBytes:
    return KINDS.record(TARGET_EPOCH, group.group_id, None,
                        ShareGroupTargetAssignmentMetadataValue(assignment_epoch=group.assignment_epoch))


def target(group: ShareGroup, topic_id: TopicId) -> list[RecordBytes]:
    """The whole target assignment: each member's part, then the epoch that makes it current."""
    part = ShareGroupTargetAssignmentMemberValue.TopicPartition
    return [KINDS.record(TARGET_MEMBER, group.group_id, m.member_id, ShareGroupTargetAssignmentMemberValue(
        topic_partitions=by_topic_id(group.target_of(m), topic_id, part))) for m in group.members.values()
            ] + [target_epoch(group)]


def current(group_id: str, m: ShareMember, topic_id: TopicId) -> RecordBytes:
    part = ShareGroupCurrentMemberAssignmentValue.TopicPartitions
    return KINDS.record(CURRENT, group_id, m.member_id, ShareGroupCurrentMemberAssignmentValue(
        member_epoch=m.member_epoch, previous_member_epoch=m.previous_member_epoch, state=STABLE,
        assigned_partitions=by_topic_id(m.assigned, topic_id, part)))


def state_partitions(group: ShareGroup, topic_id: TopicId) -> RecordBytes:
    """The share partitions of the group whose state is initialized, by topic id and name."""
    V = ShareGroupStatePartitionMetadataValue
    topics = []
    for name in sorted(group.initialized):
        tid = topic_id(name)
        if tid is not None and group.initialized[name]:
            topics.append(V.TopicPartitionsInfo(topic_id=tid, topic_name=name,
                                                partitions=sorted(group.initialized[name])))
    return KINDS.record(STATE_PARTITIONS, group.group_id, None, V(initialized_topics=topics))


def member_tombstones(group_id: str, member_id: str) -> list[RecordBytes]:
    return [KINDS.tombstone(kind, group_id, member_id) for kind in (CURRENT, TARGET_MEMBER, MEMBER)]


def group_tombstones(group: ShareGroup) -> list[RecordBytes]:
    """Everything of a group, in Kafka's order: current assignments, targets, the target epoch,
    member metadata, the initialized share partitions, the group epoch."""
    ids = list(group.members)
    return ([KINDS.tombstone(CURRENT, group.group_id, m) for m in ids]
            + [KINDS.tombstone(TARGET_MEMBER, group.group_id, m) for m in ids]
            + [KINDS.tombstone(TARGET_EPOCH, group.group_id)]
            + [KINDS.tombstone(MEMBER, group.group_id, m) for m in ids]
            + [KINDS.tombstone(STATE_PARTITIONS, group.group_id), KINDS.tombstone(GROUP, group.group_id)])


class Loader(KeyedReplay):
    """Rebuilds share groups from replayed records (the last value of each key wins)."""

    def __init__(self) -> None:
        super().__init__(KINDS)

    def groups(self, topic_name: TopicName) -> dict[str, ShareGroup]:
        groups = {group_id: ShareGroup(group_id, group_epoch=v.epoch)
                  for (kind, group_id, _), v in self.values.items() if kind == GROUP}
        for (kind, group_id, member_id), v in sorted(self.values.items(), key=lambda item: item[0][0]):
            group = groups.get(group_id)
            if group is None:
                continue
            if kind == MEMBER:
                group.members[member_id] = ShareMember(member_id, v.rack_id, v.client_id, v.client_host,
                                                       frozenset(v.subscribed_topic_names))
            elif kind == TARGET_EPOCH:  # each member's target follows from the topics, counted again
                group.assignment_epoch = v.assignment_epoch
            elif kind == CURRENT and member_id in group.members:
                m = group.members[member_id]
                m.member_epoch, m.previous_member_epoch = v.member_epoch, v.previous_member_epoch
                m.assigned = by_topic_name(v.assigned_partitions, topic_name)
            elif kind == STATE_PARTITIONS:
                group.initialized = by_topic_name(v.initialized_topics, topic_name)
        return groups
