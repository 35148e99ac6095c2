"""Share groups (KIP-932): membership by ShareGroupHeartbeat and the server-side assignment.

A member joins with epoch 0 and its subscription, and is given a member id (if it brought none)
and the group's epoch. The group epoch moves when membership, a subscription, or a subscribed
topic's partition count changes; the assignment is then recomputed as Kafka's SimpleAssignor does
for share groups: every member gets every partition of every topic it subscribes to, since the
records of one partition are shared out record by record, not partition by partition. With
nothing to revoke, a member takes the new epoch and assignment on its next heartbeat.

A member that stops heartbeating for `group.share.session.timeout.ms`, or leaves with epoch -1,
is removed. What it holds is the share partitions' business, not the group's: as in Kafka, its
share session's final epoch gives its records back, or their locks run out.

Every change is written to `__consumer_offsets` as Kafka writes it (share_records.py), with the
share partitions whose state the group has initialized: after a restart the group is known with
its epoch, and its members carry on with their ids and epochs until their sessions time out.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

from kproto import ErrorCode

from kbroker.groups import share_records as records
from kbroker.groups.consumer_groups import HeartbeatResult, TopicCounts, find_member
from kbroker.groups.group_configs import GroupSettings
from kbroker.groups.records import RecordBytes, TopicId, TopicName
from kbroker.groups.share_group import ShareGroup, ShareMember
from kbroker.groups.timers import Timers

log = logging.getLogger("kbroker.groups")
LEAVE_EPOCH = -1
ASSIGNOR = "simple"


@dataclass(frozen=True, slots=True)
class ShareConfig:
    """The broker's share group settings (Kafka's `group.share.*` keys)."""

    session_timeout_ms: int = 45000
    heartbeat_interval_ms: int = 5000
    max_size: int = 200
    record_lock_duration_ms: int = 30000
    delivery_count_limit: int = 5
    partition_max_record_locks: int = 2000

    @classmethod
    def from_broker(cls, config: Mapping) -> ShareConfig:
        return cls(
            session_timeout_ms=config["group.share.session.timeout.ms"],
            heartbeat_interval_ms=config["group.share.heartbeat.interval.ms"],
            max_size=config["group.share.max.size"],
            record_lock_duration_ms=config["group.share.record.lock.duration.ms"],
            delivery_count_limit=config["group.share.delivery.count.limit"],
            partition_max_record_locks=config["group.share.partition.max.record.locks"],
        )


@dataclass(frozen=True, slots=True)
class ShareHeartbeat:
    group_id: str
    member_id: str
    member_epoch: int
    rack_id: str | None = None
    subscribed_topics: list[str] | None = None
    client_id: str = ""
    client_host: str = ""


Write = Callable[[str, list[RecordBytes]], object]


class ShareGroups:
    def __init__(self, config: ShareConfig, timers: Timers, topics: TopicCounts,
                 settings: Callable[[str], GroupSettings], write: Write, topic_id: TopicId,
                 topic_name: TopicName) -> None:
        self.config = config
        self.settings = settings
        self.timers = timers
        self.topics = topics
        self.write = write
        self.topic_id = topic_id
        self.topic_name = topic_name
        self.groups: dict[str, ShareGroup] = {}

    def load(self, loader: records.Loader) -> None:
        """Groups as last written; their members' sessions start now, as in Kafka after a load."""
        loaded = loader.groups(self.topic_name)
        self.groups.update(loaded)
        for group in loaded.values():
            group.topic_partitions = self._subscribed_counts(group)
            for member in group.members.values():
                self._arm_timer(group, member)

    def delete(self, group_id: str) -> None:
        """DeleteGroups of an empty share group: tombstones for all it wrote."""
        group = self.groups.pop(group_id)
        self.write(group_id, records.group_tombstones(group))
        log.info("deleted share group %s", group_id)

    def initialized(self, group_id: str, topic: str, index: int) -> None:
        """The state of the group's share partition was initialized (ShareGroupStatePartitionMetadata)."""
        group = self.groups.get(group_id)
        if group is not None and index not in group.initialized.get(topic, ()):
            group.initialized.setdefault(topic, set()).add(index)
            self.write(group_id, [records.state_partitions(group, self.topic_id)])

    def deleted(self, group_id: str, topic: str, index: int) -> None:
        """The state of the group's share partition was deleted (DeleteShareGroupOffsets)."""
        group = self.groups.get(group_id)
        if group is not None and index in group.initialized.get(topic, ()):
            group.initialized[topic].discard(index)
            if not group.initialized[topic]:
                del group.initialized[topic]
            self.write(group_id, [records.state_partitions(group, self.topic_id)])

    def heartbeat(self, hb: ShareHeartbeat) -> HeartbeatResult:
        if not hb.group_id:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if hb.member_epoch == LEAVE_EPOCH:
            return self._leave(hb)
        if hb.member_epoch == 0:
            if hb.subscribed_topics is None:
                return HeartbeatResult(ErrorCode.INVALID_REQUEST,
                                       "SubscribedTopicNames must be set in first request.")
            found = self._join(hb)
        else:
            found = self._known(hb)
        if isinstance(found, HeartbeatResult):
            return found
        group, member = found
        written: list[RecordBytes] = []
        changed = hb.subscribed_topics is not None and frozenset(hb.subscribed_topics) != member.subscribed_topics
        if hb.subscribed_topics is not None:
            member.subscribed_topics = frozenset(hb.subscribed_topics)
        moved_rack = hb.rack_id is not None and hb.rack_id != member.rack_id
        if moved_rack:
            member.rack_id = hb.rack_id
        if changed or moved_rack or hb.member_epoch == 0:
            written.append(records.member_metadata(group.group_id, member))
        counts = self._subscribed_counts(group)
        if changed or hb.member_epoch == 0 or counts != group.topic_partitions:
            group.group_epoch += 1
            group.topic_partitions = counts
            group.assignment_epoch = group.group_epoch
            written += [records.group_epoch(group), *records.target(group, self.topic_id)]
        self._arm_timer(group, member)
        new_epoch = member.member_epoch != group.assignment_epoch
        if new_epoch:
            member.previous_member_epoch, member.member_epoch = member.member_epoch, group.assignment_epoch
            member.assigned = group.target_of(member)
            written.append(records.current(group.group_id, member, self.topic_id))
        self.write(group.group_id, written)
        return HeartbeatResult(ErrorCode.NONE, None, member.member_id, member.member_epoch,
                               self.settings(group.group_id).share_heartbeat_interval_ms,
                               {t: set(p) for t, p in member.assigned.items()} if new_epoch else None)

    def _join(self, hb: ShareHeartbeat) -> tuple[ShareGroup, ShareMember] | HeartbeatResult:
        group = self.groups.get(hb.group_id)
        if group is None:
            group = self.groups[hb.group_id] = ShareGroup(hb.group_id)
        member_id = hb.member_id or str(uuid.uuid4())
        member = group.members.get(member_id)
        if member is None:
            if len(group.members) >= self.config.max_size:
                return HeartbeatResult(ErrorCode.GROUP_MAX_SIZE_REACHED,
                                       f"The share group has reached its maximum capacity of "
                                       f"{self.config.max_size} members.")
            member = group.members[member_id] = ShareMember(member_id, hb.rack_id, hb.client_id, hb.client_host)
            log.info("member %s joined share group %s", member_id, group.group_id)
        return group, member

    def _known(self, hb: ShareHeartbeat) -> tuple[ShareGroup, ShareMember] | HeartbeatResult:
        found = find_member(self.groups, hb.group_id, hb.member_id)
        if isinstance(found, HeartbeatResult):
            return found
        group, member = found
        if hb.member_epoch != member.member_epoch:
            which = "smaller" if hb.member_epoch < member.member_epoch else "greater"
            return HeartbeatResult(ErrorCode.FENCED_MEMBER_EPOCH,
                                   f"The share group member has a {which} member epoch ({hb.member_epoch}) than"
                                   f" the one known by the group coordinator ({member.member_epoch}). The member"
                                   " must abandon all its partitions and rejoin.")
        return group, member

    def _leave(self, hb: ShareHeartbeat) -> HeartbeatResult:
        group = self.groups.get(hb.group_id)
        if group is None or hb.member_id not in group.members:
            return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID,
                                   f"Member {hb.member_id} is not a member of group {hb.group_id}.")
        self._drop(group, hb.member_id, "left")
        return HeartbeatResult(ErrorCode.NONE, None, hb.member_id, LEAVE_EPOCH)

    def _drop(self, group: ShareGroup, member_id: str, why: str) -> None:
        if group.members.pop(member_id, None) is None:
            return
        self.timers.cancel(("share-session", group.group_id, member_id))
        group.group_epoch += 1
        group.assignment_epoch = group.group_epoch
        self.write(group.group_id, [*records.member_tombstones(group.group_id, member_id),
                                    records.group_epoch(group), records.target_epoch(group)])
        log.info("member %s of share group %s %s", member_id, group.group_id, why)

    def _arm_timer(self, group: ShareGroup, member: ShareMember) -> None:
        self.timers.schedule(("share-session", group.group_id, member.member_id),
                             self.settings(group.group_id).share_session_timeout_ms,
                             lambda: self._drop(group, member.member_id, "fenced: session timeout"))

    def _subscribed_counts(self, group: ShareGroup) -> dict[str, int]:
        every = self.topics()
        return {t: every[t] for t in group.subscribed_topics() if t in every}
