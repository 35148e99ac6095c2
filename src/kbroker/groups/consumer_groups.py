"""ConsumerGroupHeartbeat (KIP-848): joining, heartbeats, leaving, fencing, and target assignments.

A heartbeat carries everything: the member's subscription, what it owns, and its epoch. The group
epoch moves whenever membership, a subscription or a subscribed topic's partition count changes;
the target assignment is then recomputed by the group's assignor, and each member reconciles
towards it (see consumer.py). Errors follow Kafka's coordinator: UNKNOWN_MEMBER_ID for a member it
does not know, FENCED_MEMBER_EPOCH for an epoch it did not give (the member must rejoin with 0),
UNRELEASED_INSTANCE_ID while a static member's old incarnation is still in the group.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from kproto import ErrorCode

from kbroker.groups import consumer_records as records
from kbroker.groups.assignors import ASSIGNORS, Assignment
from kbroker.groups.config import GroupConfig
from kbroker.groups.group_configs import GroupSettings
from kbroker.groups.consumer import (
    LEAVE_EPOCH,
    STABLE,
    STATIC_LEAVE_EPOCH,
    UNREVOKED_PARTITIONS,
    ConsumerGroup,
    ConsumerMember,
    copy,
    minus,
    reconcile,
)
from kbroker.groups.pacing import heartbeat_interval
from kbroker.groups.records import RecordBytes
from kbroker.groups.timers import Timers

log = logging.getLogger("kbroker.groups")
TopicCounts = Callable[[], Mapping[str, int]]  # every topic a consumer may subscribe to -> partitions
Write = Callable[[str, list[RecordBytes]], None]
#: a member's timers: its session, its revocation (KIP-848), its rejoin and its sync (classic members)
TIMERS = ("consumer-session", "consumer-revoke", "consumer-join", "consumer-sync")


class DerivedTopicIds:
    """Topic ids made from names, for coordinators without a broker (tests, benchmarks)."""

    def __init__(self) -> None:
        self.names: dict[uuid.UUID, str] = {}

    def id_of(self, name: str) -> uuid.UUID:
        topic_id = uuid.uuid5(uuid.NAMESPACE_OID, name)
        self.names[topic_id] = name
        return topic_id

    def name_of(self, topic_id: uuid.UUID) -> str | None:
        return self.names.get(topic_id)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topics: list[str] | None = None
    subscribed_regex: str | None = None
    server_assignor: str | None = None
    #: by topic name; None when the heartbeat did not say (unchanged since the last one)
    owned: Assignment | None = None
    client_id: str = ""
    client_host: str = ""


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    error: ErrorCode
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


def find_member(groups: Mapping[str, Any], group_id: str, member_id: str) -> tuple[Any, Any] | HeartbeatResult:
    """The group and member a heartbeat names, or the answer Kafka gives when either is unknown."""
    group = groups.get(group_id)
    if group is None:
        return HeartbeatResult(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
    member = group.members.get(member_id)
    if member is None:
        return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
    return group, member


class ConsumerGroups:
    def __init__(self, config: GroupConfig, timers: Timers, topics: TopicCounts, write: Write,
                 topic_id: records.TopicId, topic_name: records.TopicName, clock: Callable[[], int],
                 settings: Callable[[str], GroupSettings]) -> None:
        self.config = config
        self.settings = settings
        self.clock = clock
        self.timers = timers
        self.topics = topics
        self.write = write
        self.topic_id = topic_id
        self.topic_name = topic_name
        self.groups: dict[str, ConsumerGroup] = {}
        #: called when a member not speaking the classic protocol goes (None: it was replaced by a
        #: classic static member); True when the group was converted to a classic group instead
        #: (the coordinator, which keeps classic groups, sets it)
        self.downgrade: Callable[[ConsumerGroup, ConsumerMember | None], bool] = lambda group, member: False

    def load(self, loader: records.Loader) -> None:
        """Groups as last written; their members' sessions start now, as after a coordinator move."""
        loaded = loader.groups(self.topic_name)
        self.groups.update(loaded)
        for group in loaded.values():
            group.topic_partitions = self.subscribed_counts(group)
            for member in group.members.values():
                self._arm_timers(group, member)

    def heartbeat(self, hb: Heartbeat) -> HeartbeatResult:
        if not hb.group_id:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if hb.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(hb)
        if hb.server_assignor is not None and hb.server_assignor not in self.config.consumer_assignors:
            return HeartbeatResult(ErrorCode.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {hb.server_assignor} is not supported.")
        if hb.member_epoch == 0:
            problem = _first_heartbeat_problem(hb)
            if problem:
                return HeartbeatResult(*problem)
            found = self._join(hb)
        else:
            found = self._known(hb)
        if isinstance(found, HeartbeatResult):
            return found
        group, member, is_new = found
        changed = self.advance(group, member, hb, is_new)
        self._arm_timers(group, member)
        interval = self._pace(group, member)
        full = hb.member_epoch == 0 or (hb.owned is not None and hb.owned != member.assigned)
        return HeartbeatResult(ErrorCode.NONE, None, member.member_id, member.member_epoch, interval,
                               copy(member.assigned) if changed or full else None)

    def advance(self, group: ConsumerGroup, member: ConsumerMember, hb: Heartbeat, is_new: bool,
                metadata_changed: bool = False) -> bool:
        """Take what the member says, move the group epoch and the target assignment as needed, and
        reconcile the member one step, writing what changed; True when its assignment changed."""
        written: list[RecordBytes] = []
        changed_subscription = self._update(member, hb)
        if changed_subscription or is_new or metadata_changed:
            written.append(records.member_metadata(group.group_id, member))
        counts = self.subscribed_counts(group)
        if changed_subscription or is_new or counts != group.topic_partitions:
            group.group_epoch += 1
            written.append(records.group_epoch(group))
        if group.group_epoch != group.assignment_epoch:
            self._assign(group, counts)
            written += records.target(group, self.topic_id)
        changed = reconcile(group, member, hb.owned)
        if changed or hb.member_epoch == 0:
            written.append(records.current(group.group_id, member, self.topic_id))
        self.write(group.group_id, written)
        return changed

    def _pace(self, group: ConsumerGroup, member: ConsumerMember) -> int:
        """The interval to answer with, noting when the member is due back (see pacing.py)."""
        now = self.clock()
        interval = heartbeat_interval(group, member, self.settings(group.group_id).consumer_heartbeat_interval_ms,
                                      now)
        member.pending_heartbeats = 0 if member.state == STABLE else member.pending_heartbeats + 1
        member.heartbeat_due_ms = now + interval
        return interval

    # -- membership

    def _join(self, hb: Heartbeat) -> tuple[ConsumerGroup, ConsumerMember, bool] | HeartbeatResult:
        group = self.groups.get(hb.group_id)
        if group is None:
            group = self.groups[hb.group_id] = ConsumerGroup(hb.group_id, assignor=self.config.consumer_assignors[0])
        member_id = hb.member_id or uuid.uuid4().hex
        existing = group.members.get(member_id)
        if existing is not None:
            return group, existing, False
        if len(group.members) >= self.config.consumer_max_size and hb.instance_id is None:
            return HeartbeatResult(ErrorCode.GROUP_MAX_SIZE_REACHED, f"The consumer group has reached its maximum capacity of {self.config.consumer_max_size} members.")
        member = ConsumerMember(member_id, hb.instance_id, hb.rack_id, hb.client_id, hb.client_host,
                                hb.rebalance_timeout_ms)
        if hb.instance_id is not None:
            old = group.by_instance(hb.instance_id)
            if old is not None:
                if old.member_epoch != STATIC_LEAVE_EPOCH:
                    return HeartbeatResult(ErrorCode.UNRELEASED_INSTANCE_ID,
                                           f"Static member {old.member_id} with instance id {hb.instance_id} "
                                           "is not released yet.")
                self.replace_static(group, old, member, old.previous_member_epoch)
                return group, member, False
        group.members[member_id] = member
        log.info("member %s joined consumer group %s", member_id, group.group_id)
        return group, member, True

    def replace_static(self, group: ConsumerGroup, old: ConsumerMember, member: ConsumerMember, epoch: int) -> None:
        """A returning static member takes its old incarnation's place: same assignment, same epoch."""
        target = group.target.get(old.member_id, {})
        self.drop(group, old, bump=False)
        self.write(group.group_id, [records.member_metadata(group.group_id, member)])
        member.assigned, member.member_epoch = copy(old.assigned), epoch
        member.previous_member_epoch = old.previous_member_epoch
        member.subscribed_topics, member.subscribed_regex = old.subscribed_topics, old.subscribed_regex
        member.server_assignor = old.server_assignor
        group.target[member.member_id] = target
        group.members[member.member_id] = member

    def _known(self, hb: Heartbeat) -> tuple[ConsumerGroup, ConsumerMember, bool] | HeartbeatResult:
        found = find_member(self.groups, hb.group_id, hb.member_id)
        if isinstance(found, HeartbeatResult):
            return found
        group, member = found
        if hb.instance_id is not None and member.instance_id != hb.instance_id:
            return HeartbeatResult(ErrorCode.FENCED_INSTANCE_ID, f"Instance id {hb.instance_id} was fenced.")
        if hb.member_epoch != member.member_epoch:
            # a lost response: the previous epoch is fine while the member owns nothing beyond it
            lost_response = (hb.member_epoch == member.previous_member_epoch and hb.owned is not None
                             and not minus(hb.owned, member.assigned))
            if not lost_response:
                return HeartbeatResult(ErrorCode.FENCED_MEMBER_EPOCH,
                                       f"The consumer group member has a smaller member epoch ({hb.member_epoch})"
                                       f" than the one known by the group coordinator ({member.member_epoch})."
                                       if hb.member_epoch < member.member_epoch else
                                       f"The consumer group member has a greater member epoch ({hb.member_epoch})"
                                       f" than the one known by the group coordinator ({member.member_epoch}).")
        return group, member, False

    def _update(self, member: ConsumerMember, hb: Heartbeat) -> bool:
        """Take what the heartbeat says; True when the subscription (or assignor) changed."""
        before = (member.subscribed_topics, member.subscribed_regex, member.server_assignor)
        if hb.subscribed_topics is not None:
            member.subscribed_topics = frozenset(hb.subscribed_topics)
        if hb.subscribed_regex is not None:
            member.subscribed_regex = hb.subscribed_regex or None
        if hb.server_assignor is not None:
            member.server_assignor = hb.server_assignor
        if hb.rebalance_timeout_ms > 0:
            member.rebalance_timeout_ms = hb.rebalance_timeout_ms
        if hb.rack_id is not None:
            member.rack_id = hb.rack_id
        member.client_id, member.client_host = hb.client_id or member.client_id, hb.client_host or member.client_host
        return (member.subscribed_topics, member.subscribed_regex, member.server_assignor) != before

    def _leave(self, hb: Heartbeat) -> HeartbeatResult:
        group = self.groups.get(hb.group_id)
        member = None
        if group is not None:
            member = group.members.get(hb.member_id)
            if member is None and hb.instance_id is not None:
                member = group.by_instance(hb.instance_id)
        if group is None or member is None:
            return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID,
                                   f"Member {hb.member_id} is not a member of group {hb.group_id}.")
        if hb.member_epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
            # a static member leaving for a while keeps its partitions until its session expires
            member.previous_member_epoch, member.member_epoch = member.member_epoch, STATIC_LEAVE_EPOCH
            self.timers.cancel(("consumer-revoke", group.group_id, member.member_id))
            self.write(group.group_id, [records.current(group.group_id, member, self.topic_id)])
        elif not self.downgrade(group, member):
            self.drop(group, member, bump=True)
            log.info("member %s left consumer group %s", member.member_id, group.group_id)
        return HeartbeatResult(ErrorCode.NONE, None, hb.member_id, hb.member_epoch)

    def drop(self, group: ConsumerGroup, member: ConsumerMember, bump: bool) -> None:
        """Remove the member (and its timers), moving the group epoch when `bump`."""
        group.members.pop(member.member_id, None)
        group.target.pop(member.member_id, None)
        for timer in TIMERS:
            self.timers.cancel((timer, group.group_id, member.member_id))
        written = records.member_tombstones(group.group_id, member.member_id)
        if bump:
            group.group_epoch += 1
            written.append(records.group_epoch(group))
        self.write(group.group_id, written)

    def fence(self, group_id: str, member_id: str, why: str) -> None:
        """Remove a member that went silent; the group may turn classic if it was the last KIP-848 one."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if member is not None:
            log.info("member %s of consumer group %s fenced: %s", member_id, group_id, why)
            if not self.downgrade(group, member):
                self.drop(group, member, bump=True)

    def arm_session(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        """The member's session starts over: the group's session timeout, or a classic member's own."""
        key = (group.group_id, member.member_id)
        classic = member.classic
        timeout = self.settings(group.group_id).consumer_session_timeout_ms if classic is None \
            else classic.session_timeout_ms
        self.timers.schedule(("consumer-session",) + key, timeout, lambda: self.fence(*key, "session timeout"))

    def _arm_timers(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        self.arm_session(group, member)
        key = (group.group_id, member.member_id)
        revoke_key = ("consumer-revoke",) + key
        if member.state != UNREVOKED_PARTITIONS or member.classic is not None:
            self.timers.cancel(revoke_key)
        elif not self.timers.is_scheduled(revoke_key):
            self.timers.schedule(revoke_key, member.rebalance_timeout_ms,
                                 lambda: self.fence(*key, "partitions not revoked within the rebalance timeout"))

    # -- assignment

    def subscribed_counts(self, group: ConsumerGroup) -> dict[str, int]:
        """Partition counts of the existing topics some member subscribes to, by name or regex."""
        every = self.topics()
        wanted: set[str] = group.subscribed_topics() & set(every)
        for regex in {m.subscribed_regex for m in group.members.values() if m.subscribed_regex}:
            wanted.update(t for t in every if _matches(regex, t))
        return {t: every[t] for t in wanted}

    def _assign(self, group: ConsumerGroup, counts: dict[str, int]) -> None:
        votes = Counter(m.server_assignor for m in group.members.values() if m.server_assignor)
        group.assignor = votes.most_common(1)[0][0] if votes else self.config.consumer_assignors[0]
        subscriptions = {
            m.member_id: frozenset(t for t in counts if t in m.subscribed_topics
                                   or (m.subscribed_regex and _matches(m.subscribed_regex, t)))
            for m in group.members.values()
        }
        group.target = ASSIGNORS[group.assignor](subscriptions, counts, group.target)
        group.topic_partitions = counts
        group.assignment_epoch = group.group_epoch

    # -- offsets

    def validate_commit(self, group: ConsumerGroup, member_id: str, member_epoch: int) -> ErrorCode:
        """OffsetCommit v9+ (and OffsetFetch v9) in a consumer group: by a member at its epoch (or the
        one before, while its heartbeat answer is on the way), by a classic member at its generation,
        or by a tool (epoch -1) while the group is empty."""
        if member_epoch < 0 and not member_id:
            return ErrorCode.NONE if not group.members else ErrorCode.UNKNOWN_MEMBER_ID
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member.classic is not None:  # a classic member commits with its generation: the member epoch
            return ErrorCode.NONE if member_epoch == member.member_epoch else ErrorCode.ILLEGAL_GENERATION
        if member_epoch not in (member.member_epoch, member.previous_member_epoch):
            return ErrorCode.STALE_MEMBER_EPOCH
        return ErrorCode.NONE


def _matches(regex: str, topic: str) -> bool:
    try:
        return re.fullmatch(regex, topic) is not None
    except re.error:
        return False


def _first_heartbeat_problem(hb: Heartbeat) -> tuple[ErrorCode, str] | None:
    """Kafka's checks of a joining heartbeat, with its messages."""
    if hb.rebalance_timeout_ms == -1:
        return ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request."
    if hb.owned is None or any(hb.owned.values()):
        return ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining."
    if hb.subscribed_topics is None and hb.subscribed_regex is None:
        return ErrorCode.INVALID_REQUEST, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
    return None
