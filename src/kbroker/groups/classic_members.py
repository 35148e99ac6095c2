"""Classic-protocol members of a consumer group: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
answered from the consumer group's state, as Kafka's coordinator serves a group in migration.

A classic member is a consumer group member like the others: the broker's assignor picks its
partitions and it reconciles towards them with revocation first, but it learns of changes only by
rejoining. A JoinGroup is answered at once (no waiting for other members): it carries the member's
subscription and owned partitions like a heartbeat, its generation is the member epoch, and no
member is leader (the broker has assigned). SyncGroup hands over the member's current assignment.
Heartbeat answers REBALANCE_IN_PROGRESS when the member must rejoin to catch up: the group moved to
a newer epoch, it has partitions to give up, or partitions it waits for are free now. A member told
to rejoin must do so within its rebalance timeout, and a joined member must sync within it, or it
is fenced; its session is its own JoinGroup session timeout.
"""

from __future__ import annotations

import logging
import uuid

from kproto import ErrorCode

from kbroker.groups import consumer_records as records
from kbroker.groups.consumer import (
    UNRELEASED_PARTITIONS,
    UNREVOKED_PARTITIONS,
    ClassicMetadata,
    ConsumerGroup,
    ConsumerMember,
    minus,
)
from kbroker.groups.consumer_groups import ConsumerGroups, Heartbeat
from kbroker.groups.migration import Unreadable, owned_partitions, read_subscription, write_assignment
from kbroker.groups.protocol import CONSUMER_PROTOCOL_TYPE
from kbroker.groups.rebalance import JoinRequest
from kbroker.groups.results import JoinResult, MemberLeave, SyncResult

log = logging.getLogger("kbroker.groups")


class ClassicMembers:
    def __init__(self, groups: ConsumerGroups) -> None:
        self.groups = groups

    # -- JoinGroup

    def join(self, group: ConsumerGroup, req: JoinRequest) -> JoinResult:
        unknown = req.member_id == ""
        member_id = str(uuid.uuid4()) if unknown else req.member_id
        config = self.groups.config
        if len(group.members) >= config.consumer_max_size and member_id not in group.members:
            return JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED, member_id=req.member_id)
        if not _supports(group, req):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id)
        if unknown and req.require_known_member_id and req.group_instance_id is None:
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id=member_id)
        try:
            subscription = read_subscription(req.protocols[0][1])
        except Unreadable:  # Kafka fails such a join with an unexpected (server) error
            return JoinResult(ErrorCode.UNKNOWN_SERVER_ERROR, member_id=req.member_id)
        found = self._member(group, req, member_id, unknown)
        if isinstance(found, ErrorCode):
            return JoinResult(found, member_id=req.member_id)
        member, is_new, replaced_kip848 = found
        classic = ClassicMetadata(req.session_timeout_ms, tuple((n, bytes(d)) for n, d in req.protocols))
        metadata_changed, member.classic = member.classic != classic, classic
        self.groups.advance(group, member, Heartbeat(
            group.group_id, member.member_id, 0 if is_new else member.member_epoch, req.group_instance_id,
            subscription.rack_id, req.rebalance_timeout_ms, list(subscription.topics),
            owned=owned_partitions(subscription), client_id=req.client_id, client_host=req.client_host),
            is_new, metadata_changed)
        answer = JoinResult(ErrorCode.NONE, member.member_id, member.member_epoch, CONSUMER_PROTOCOL_TYPE,
                            classic.protocol_name)
        if replaced_kip848 and self.groups.downgrade(group, None):
            return answer  # the group is a classic one now, holding this member with its partitions
        timers, key = self.groups.timers, (group.group_id, member.member_id)
        timers.cancel(("consumer-join",) + key)
        self.groups.arm_session(group, member)
        timers.schedule(("consumer-sync",) + key, member.rebalance_timeout_ms,
                        lambda: self.groups.fence(*key, "the member failed to sync within its rebalance timeout"))
        return answer

    def _member(self, group: ConsumerGroup, req: JoinRequest, member_id: str,
                unknown: bool) -> tuple[ConsumerMember, bool, bool] | ErrorCode:
        """The joining member, whether it is new, and whether it replaced a KIP-848 member: a static
        member coming back under a new member id takes its old incarnation's place (of either
        protocol), and a stale member id of an instance is fenced."""
        member = group.members.get(member_id)
        instance = req.group_instance_id
        old = group.by_instance(instance) if instance is not None else None
        if instance is not None and not unknown and old is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if old is not None and old is not member:
            if not unknown:
                return ErrorCode.FENCED_INSTANCE_ID
            member = ConsumerMember(member_id, instance, old.rack_id, req.client_id, req.client_host,
                                    req.rebalance_timeout_ms)
            self.groups.replace_static(group, old, member, 0)  # it reconciles from epoch 0, as in Kafka
            return member, False, old.classic is None
        if member is not None:
            return member, False, False
        member = ConsumerMember(member_id, instance, None, req.client_id, req.client_host, req.rebalance_timeout_ms)
        group.members[member_id] = member
        log.info("classic member %s joined consumer group %s", member_id, group.group_id)
        return member, True, False

    # -- SyncGroup and Heartbeat

    def sync(self, group: ConsumerGroup, generation: int, member_id: str, instance_id: str | None,
             protocol_type: str | None, protocol_name: str | None) -> SyncResult:
        member = _classic_member(group, member_id, instance_id)
        if isinstance(member, ErrorCode):
            return SyncResult(member)
        if generation != member.member_epoch:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if ((protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE)
                or (protocol_name is not None and protocol_name != member.classic.protocol_name)):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.group_epoch > member.member_epoch and member.state != UNREVOKED_PARTITIONS:
            self._expect_rejoin(group, member)
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        self.groups.timers.cancel(("consumer-sync", group.group_id, member.member_id))
        self.groups.arm_session(group, member)
        return SyncResult(ErrorCode.NONE, write_assignment(member.assigned, member.classic.protocols[0][1]),
                          protocol_type, protocol_name)

    def heartbeat(self, group: ConsumerGroup, member_id: str, instance_id: str | None, generation: int) -> ErrorCode:
        member = _classic_member(group, member_id, instance_id)
        if isinstance(member, ErrorCode):
            return member
        if generation != member.member_epoch:
            return ErrorCode.ILLEGAL_GENERATION
        self.groups.arm_session(group, member)
        if (member.member_epoch < group.group_epoch or member.state == UNREVOKED_PARTITIONS
                or (member.state == UNRELEASED_PARTITIONS and not _waiting_on_others(group, member))):
            self._expect_rejoin(group, member)
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def _expect_rejoin(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        """The member was told to rejoin: it must within its rebalance timeout (kept, if already set)."""
        key = ("consumer-join", group.group_id, member.member_id)
        if not self.groups.timers.is_scheduled(key):
            gid, mid = group.group_id, member.member_id
            self.groups.timers.schedule(key, member.rebalance_timeout_ms,
                                        lambda: self.groups.fence(gid, mid, "the classic member failed to rejoin "
                                                                            "within its rebalance timeout"))

    # -- LeaveGroup

    def leave(self, group: ConsumerGroup, leaving: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[MemberLeave]]:
        """Classic members leave (by member id, or by group.instance.id); the group epoch moves once."""
        results, left = [], False
        for member_id, instance_id in leaving:
            member = _classic_member(group, member_id, instance_id, by_tool=member_id == "")
            if isinstance(member, ErrorCode):
                results.append(MemberLeave(member_id, instance_id, member))
                continue
            self.groups.drop(group, member, bump=False)
            log.info("classic member %s left consumer group %s", member.member_id, group.group_id)
            results.append(MemberLeave(member.member_id, instance_id))
            left = True
        if left:
            group.group_epoch += 1
            self.groups.write(group.group_id, [records.group_epoch(group)])
        return ErrorCode.NONE, results


def _supports(group: ConsumerGroup, req: JoinRequest) -> bool:
    """The consumer protocol type, with a protocol every classic member supports (any, when none)."""
    if req.protocol_type != CONSUMER_PROTOCOL_TYPE or not req.protocols:
        return False
    classic = [m.classic for m in group.members.values() if m.classic is not None]
    return any(all(name in {n for n, _ in c.protocols} for c in classic) for name, _ in req.protocols)


def _classic_member(group: ConsumerGroup, member_id: str, instance_id: str | None,
                    by_tool: bool = False) -> ConsumerMember | ErrorCode:
    """The classic member a request names (Kafka's checks): by instance id when given, whose member
    id must match unless a tool names only the instance; a KIP-848 member is unknown here."""
    if instance_id is None:
        member = group.members.get(member_id)
    else:
        member = group.by_instance(instance_id)
        if member is not None and not by_tool and member.member_id != member_id:
            return ErrorCode.FENCED_INSTANCE_ID
    if member is None or member.classic is None:
        return ErrorCode.UNKNOWN_MEMBER_ID
    return member


def _waiting_on_others(group: ConsumerGroup, member: ConsumerMember) -> bool:
    """Whether a partition of its target that it lacks is still held by another member."""
    busy = group.owners(member.member_id)
    wanted = minus(group.target.get(member.member_id, {}), member.assigned)
    return any((t, p) in busy for t, parts in wanted.items() for p in parts)
