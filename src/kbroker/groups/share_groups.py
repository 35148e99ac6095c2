"""Share groups (KIP-932): membership by ShareGroupHeartbeat and the server-side assignment.

A member joins with epoch 0 and its subscription, and is given a member id (if it brought none)
and the group's epoch. The group epoch moves when membership, a subscription, or a subscribed
topic's partition count changes; the assignment is then recomputed as Kafka's SimpleAssignor does
for share groups: every member gets every partition of every topic it subscribes to, since the
records of one partition are shared out record by record, not partition by partition. With
nothing to revoke, a member takes the new epoch and assignment on its next heartbeat.

A member that stops heartbeating for `group.share.session.timeout.ms`, or leaves with epoch -1,
is removed. What it holds is the share partitions' business, not the group's: as in Kafka, its
share session's final epoch gives its records back, or their locks run out. Groups live in
memory only (their share partitions' state is the share coordinator's, and survives): after a
restart, a member of a group that had share-partition state is told UNKNOWN_MEMBER_ID, which
makes it rejoin; Kafka, which keeps its share groups in `__consumer_offsets`, would know it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping

from kproto import ErrorCode

from kbroker.groups.assignors import Assignment
from kbroker.groups.consumer_groups import HeartbeatResult, TopicCounts, find_member
from kbroker.groups.group_configs import GroupSettings
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


@dataclass(eq=False)
class ShareMember:
    member_id: str
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topics: frozenset[str] = frozenset()
    member_epoch: int = 0
    assigned: Assignment = field(default_factory=dict)


@dataclass(eq=False)
class ShareGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ShareMember] = field(default_factory=dict)
    topic_partitions: dict[str, int] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """Kafka's share group states, as ListGroups and ShareGroupDescribe show them."""
        return "Stable" if self.members else "Empty"

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed_topics}


@dataclass(frozen=True, slots=True)
class ShareHeartbeat:
    group_id: str
    member_id: str
    member_epoch: int
    rack_id: str | None = None
    subscribed_topics: list[str] | None = None
    client_id: str = ""
    client_host: str = ""


class ShareGroups:
    def __init__(self, config: ShareConfig, timers: Timers, topics: TopicCounts,
                 settings: Callable[[str], GroupSettings]) -> None:
        self.config = config
        self.settings = settings
        self.timers = timers
        self.topics = topics
        self.groups: dict[str, ShareGroup] = {}
        #: whether a group id not in memory had share groups' state before a restart
        self.known_before: Callable[[str], bool] = lambda group_id: False

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
        changed = hb.subscribed_topics is not None and frozenset(hb.subscribed_topics) != member.subscribed_topics
        if hb.subscribed_topics is not None:
            member.subscribed_topics = frozenset(hb.subscribed_topics)
        if hb.rack_id is not None:
            member.rack_id = hb.rack_id
        counts = self._subscribed_counts(group)
        if changed or hb.member_epoch == 0 or counts != group.topic_partitions:
            group.group_epoch += 1
            group.topic_partitions = counts
            group.assignment_epoch = group.group_epoch
        self._arm_timer(group, member)
        new_epoch = member.member_epoch != group.assignment_epoch
        if new_epoch:
            member.member_epoch = group.assignment_epoch
            member.assigned = {t: set(range(counts[t])) for t in member.subscribed_topics if t in counts}
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
            if hb.group_id not in self.groups and self.known_before(hb.group_id):
                return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID,
                                       f"Member {hb.member_id} is not a member of group {hb.group_id}.")
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
        log.info("member %s of share group %s %s", member_id, group.group_id, why)

    def _arm_timer(self, group: ShareGroup, member: ShareMember) -> None:
        self.timers.schedule(("share-session", group.group_id, member.member_id),
                             self.settings(group.group_id).share_session_timeout_ms,
                             lambda: self._drop(group, member.member_id, "fenced: session timeout"))

    def _subscribed_counts(self, group: ShareGroup) -> dict[str, int]:
        every = self.topics()
        return {t: every[t] for t in group.subscribed_topics() if t in every}
