"""The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat and LeaveGroup, with their timers.

A rebalance gathers every known member in JoinGroup (PreparingRebalance), picks a protocol and a
leader, answers the joins with a new generation (CompletingRebalance), waits for the leader's
SyncGroup with the assignment and hands each member its part (Stable). Members that do not rejoin
within the rebalance timeout are dropped; members that stop heartbeating for their session timeout
are removed and start a new rebalance. Answers that must wait are futures, completed by later
requests or by timers on the event loop. The rules, error codes and their order follow Kafka's
classic group coordinator.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from kproto import ErrorCode

from kbroker.groups import records
from kbroker.groups.classic import ClassicGroup
from kbroker.groups.config import GroupConfig
from kbroker.groups.member import ClassicMember, Protocols
from kbroker.groups.records import RecordBytes
from kbroker.groups.results import JoinResult, MemberLeave, SyncResult
from kbroker.groups.states import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE
from kbroker.groups.timers import Timers

log = logging.getLogger("kbroker.groups")


@dataclass(frozen=True, slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: Protocols
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str
    #: JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id
    require_known_member_id: bool = True
    #: JoinGroup v9+: a static leader rejoining a stable group is told not to reassign
    supports_skip_assignment: bool = True


def join_problem(req: JoinRequest, config: GroupConfig) -> ErrorCode:
    """What any JoinGroup is refused for before its group is looked at (NONE when fine)."""
    if not req.group_id:
        return ErrorCode.INVALID_GROUP_ID
    if not config.min_session_timeout_ms <= req.session_timeout_ms <= config.max_session_timeout_ms:
        return ErrorCode.INVALID_SESSION_TIMEOUT
    return ErrorCode.NONE


def settled(result: object) -> asyncio.Future:
    """A future that already holds its answer."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


class Rebalancer:
    def __init__(self, groups: dict[str, ClassicGroup], config: GroupConfig, timers: Timers,
                 write: Callable[[str, list[RecordBytes]], None], now_ms: Callable[[], int]) -> None:
        self.groups = groups
        self.config = config
        self.timers = timers
        self.write = write
        self.now_ms = now_ms

    # -- JoinGroup

    def join(self, req: JoinRequest) -> asyncio.Future:
        """The JoinGroup answer: already done for errors, pending while the group rebalances."""
        error = join_problem(req, self.config)
        if error:
            return settled(JoinResult(error, member_id=req.member_id))
        unknown = req.member_id == ""
        group = self.groups.get(req.group_id)
        if group is None:
            if not unknown:
                return settled(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=req.member_id))
            group = self.groups[req.group_id] = ClassicGroup(req.group_id, self.now_ms())
        future = asyncio.get_running_loop().create_future()
        if not self._accepts_joining_member(group, req.member_id):
            group.remove(req.member_id)
            future.set_result(JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED))
        elif unknown:
            self._join_new_member(group, req, future)
        else:
            self._join_existing_member(group, req, future)
        return future

    def _accepts_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        """`group.max.size`: members already in (or rejoining) always get back in."""
        limit = self.config.max_size
        if group.is_in(EMPTY, DEAD):
            return True
        member = group.members.get(member_id)
        if group.is_in(PREPARING_REBALANCE):
            return (member is not None and member.awaiting_join) or group.awaiting_join < limit
        return member is not None or len(group.members) < limit

    def _join_new_member(self, group: ClassicGroup, req: JoinRequest, future: asyncio.Future) -> None:
        if group.is_in(DEAD):
            future.set_result(JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports(req.protocol_type, [name for name, _ in req.protocols]):
            future.set_result(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        new_id = group.new_member_id(req.client_id, req.group_instance_id)
        if req.group_instance_id is not None:
            existing = group.static_members.get(req.group_instance_id)
            if existing is not None:
                self._rejoin_static_member(group, req, existing, new_id, future)
            else:
                self._add_member_and_rebalance(group, req, new_id, future)
        elif req.require_known_member_id:
            group.pending_members.add(new_id)
            self._arm_session(group, new_id, req.session_timeout_ms)
            future.set_result(JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id=new_id))
        else:
            self._add_member_and_rebalance(group, req, new_id, future)

    def _join_existing_member(self, group: ClassicGroup, req: JoinRequest, future: asyncio.Future) -> None:
        member_id = req.member_id
        if group.is_in(DEAD):
            future.set_result(JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=member_id))
            return
        if not group.supports(req.protocol_type, [name for name, _ in req.protocols]):
            future.set_result(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=member_id))
            return
        if member_id in group.pending_members:
            self._add_member_and_rebalance(group, req, member_id, future)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error:
            future.set_result(JoinResult(error, member_id=member_id))
            return
        member = group.members[member_id]
        if group.is_in(PREPARING_REBALANCE):
            self._update_member(member, req, future)
            self._rebalance_or_complete_join(group, f"member {member_id} rejoined")
        elif group.is_in(COMPLETING_REBALANCE):
            if member.matches(req.protocols):
                # it probably missed this generation's answer: give it again
                future.set_result(group.join_result(member))
            else:
                self._update_member(member, req, future)
                self._rebalance_or_complete_join(group, f"member {member_id} changed its metadata")
        elif group.is_in(STABLE):
            if group.is_leader(member_id) or not member.matches(req.protocols):
                self._update_member(member, req, future)
                self._rebalance_or_complete_join(group, f"member {member_id} rejoined a stable group")
            else:
                future.set_result(group.join_result(member, with_members=False))
        else:
            future.set_result(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))

    def _add_member_and_rebalance(self, group: ClassicGroup, req: JoinRequest, member_id: str,
                                  future: asyncio.Future) -> None:
        member = ClassicMember(member_id, req.group_instance_id, req.client_id, req.client_host,
                               req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                               list(req.protocols), is_new=True, join_waiter=future)
        if group.is_in(PREPARING_REBALANCE) and group.previous_state is EMPTY:
            group.new_member_added = True
        group.add(member)
        self._arm_session(group, member_id, self.config.new_member_join_timeout_ms)
        self._rebalance_or_complete_join(group, f"new member {member_id} joined")

    def _rejoin_static_member(self, group: ClassicGroup, req: JoinRequest, old_id: str, new_id: str,
                              future: asyncio.Future) -> None:
        """A static member came back with no member id: it takes its old place, fencing the old id.

        In a stable group whose protocol would not change, nobody else notices: the member keeps
        its assignment and no rebalance starts.
        """
        old_leader = group.leader_id
        self.timers.cancel(("session", group.group_id, old_id))
        member = group.replace_static_member(req.group_instance_id, old_id, new_id)
        self._arm_session(group, new_id, member.session_timeout_ms)
        self._update_member(member, req, future)
        if group.is_in(STABLE):
            if group.protocol_name == group.select_protocol():
                self._store(group, {m.member_id: m.assignment for m in group.members.values()})
                if req.supports_skip_assignment:
                    leader = group.is_leader(new_id)
                    result = group.join_result(member, skip_assignment=leader)
                else:
                    result = JoinResult(ErrorCode.NONE, member_id=new_id, generation=group.generation,
                                        protocol_type=group.protocol_type, protocol_name=group.protocol_name,
                                        leader=old_leader or "")
                member.complete_join(result)
            else:
                self._rebalance_or_complete_join(group, f"static member {new_id} changed the group's protocol")
        elif group.is_in(COMPLETING_REBALANCE):
            # the leader may be assigning to the old id: only a new generation gets this member a share
            self.prepare_rebalance(group, f"static member {new_id} replaced {old_id} during a sync")
        else:
            self._maybe_complete_join(group)

    def _update_member(self, member: ClassicMember, req: JoinRequest, future: asyncio.Future) -> None:
        member.protocols = list(req.protocols)
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        if member.join_waiter is not None and member.join_waiter is not future:
            member.complete_join(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member_id=member.member_id))
        member.join_waiter = future

    # -- the join phase

    def _rebalance_or_complete_join(self, group: ClassicGroup, reason: str) -> None:
        if group.can_rebalance:
            self.prepare_rebalance(group, reason)
        else:
            self._maybe_complete_join(group)

    def prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(COMPLETING_REBALANCE):
            self._reset_assignment(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._cancel_pending_sync(group)
        initial = group.is_in(EMPTY)
        group.transition(PREPARING_REBALANCE, self.now_ms())
        log.info("group %s rebalancing (generation %d): %s", group.group_id, group.generation, reason)
        if initial:
            # an empty group waits a little for more members, so a starting fleet rebalances once
            delay = self.config.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self._schedule_initial_join(group.group_id, delay, remaining)
        elif group.has_all_members_joined():
            self._complete_join(group)
        else:
            gid = group.group_id
            self.timers.schedule(("join", gid), group.rebalance_timeout_ms(), lambda: self._complete_join_of(gid))

    def _schedule_initial_join(self, group_id: str, delay_ms: int, remaining_ms: int) -> None:
        self.timers.schedule(("join", group_id), delay_ms,
                             lambda: self._end_initial_delay(group_id, delay_ms, remaining_ms))

    def _end_initial_delay(self, group_id: str, delay_ms: int, remaining_ms: int) -> None:
        """Wait again while members keep arriving, up to the rebalance timeout in all."""
        group = self.groups.get(group_id)
        if group is None:
            return
        if group.new_member_added and remaining_ms != 0:
            group.new_member_added = False
            next_delay = min(self.config.initial_rebalance_delay_ms, remaining_ms)
            self._schedule_initial_join(group_id, next_delay, max(remaining_ms - delay_ms, 0))
        else:
            self._complete_join(group)

    def _maybe_complete_join(self, group: ClassicGroup) -> None:
        """End the join phase early once every member is back (never during the initial delay)."""
        if (group.is_in(PREPARING_REBALANCE) and group.previous_state is not EMPTY
                and group.has_all_members_joined()):
            self._complete_join(group)

    def _complete_join_of(self, group_id: str) -> None:
        group = self.groups.get(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        gid = group.group_id
        self.timers.cancel(("join", gid))
        for member in group.not_yet_rejoined():
            if not member.is_static:  # a static member keeps its place until its session expires
                group.remove(member.member_id)
                self.timers.cancel(("session", gid, member.member_id))
        if group.is_in(DEAD):
            return
        if group.members and not group.elect_joined_leader():
            self.timers.schedule(("join", gid), group.rebalance_timeout_ms(), lambda: self._complete_join_of(gid))
            return
        group.init_next_generation(self.now_ms())
        if group.is_in(EMPTY):
            log.info("group %s is empty (generation %d)", gid, group.generation)
            self._store(group, {})
            return
        log.info("group %s formed generation %d with %d members, protocol %s", gid, group.generation,
                 len(group.members), group.protocol_name)
        for member in group.members.values():
            member.complete_join(group.join_result(member))
            self._arm_session(group, member.member_id, member.session_timeout_ms)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        generation = group.generation
        self.timers.schedule(("sync", gid), group.rebalance_timeout_ms(),
                             lambda: self._expire_pending_sync(gid, generation))

    # -- SyncGroup

    def sync(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None,
             protocol_type: str | None, protocol_name: str | None,
             assignments: dict[str, bytes]) -> asyncio.Future:
        if not group_id:
            return settled(SyncResult(ErrorCode.INVALID_GROUP_ID))
        group = self.groups.get(group_id)
        if group is None or group.is_in(EMPTY):
            return settled(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        error = self._check_sync(group, generation, member_id, group_instance_id, protocol_type, protocol_name)
        if error:
            return settled(SyncResult(error))
        if group.is_in(PREPARING_REBALANCE):
            return settled(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        if group.is_in(STABLE):
            self._remove_pending_sync(group, member_id)
            return settled(SyncResult(ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name))
        future = asyncio.get_running_loop().create_future()
        if member.sync_waiter is not None:
            member.complete_sync(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_waiter = future
        self._remove_pending_sync(group, member_id)
        if group.is_leader(member_id):
            assignment = {m: assignments.get(m, b"") for m in group.members}
            self._store(group, assignment)
            for m in group.members.values():
                m.assignment = assignment[m.member_id]
            self._propagate_assignment(group, ErrorCode.NONE)
            group.transition(STABLE, self.now_ms())
        return future

    @staticmethod
    def _check_sync(group: ClassicGroup, generation: int, member_id: str, instance_id: str | None,
                    protocol_type: str | None, protocol_name: str | None) -> ErrorCode:
        error = _check_member(group, generation, member_id, instance_id)
        if error:
            return error
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(protocol_name, group.protocol_name):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return ErrorCode.NONE

    def _reset_assignment(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error == ErrorCode.NONE
        for member in group.members.values():
            result = SyncResult(error, member.assignment, group.protocol_type if ok else None,
                                group.protocol_name if ok else None)
            if member.complete_sync(result):
                self._arm_session(group, member.member_id, member.session_timeout_ms)

    def _remove_pending_sync(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            self.timers.cancel(("sync", group.group_id))

    def _cancel_pending_sync(self, group: ClassicGroup) -> None:
        group.pending_sync.clear()
        self.timers.cancel(("sync", group.group_id))

    def _expire_pending_sync(self, group_id: str, generation: int) -> None:
        """Members that got their join answer but never synced within the rebalance timeout leave."""
        group = self.groups.get(group_id)
        if group is None or group.generation != generation or not group.is_in(COMPLETING_REBALANCE, STABLE):
            return
        if group.pending_sync:
            missing = sorted(group.pending_sync)
            for member_id in missing:
                member = group.remove(member_id)
                if member is not None:
                    member.complete_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID))
                self.timers.cancel(("session", group_id, member_id))
            self.prepare_rebalance(group, f"members {missing} did not sync in time")

    # -- Heartbeat

    def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None, generation: int) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        error = _check_member(group, generation, member_id, group_instance_id)
        if error:
            return error
        if group.is_in(EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self.touch(group, member_id)
        return ErrorCode.REBALANCE_IN_PROGRESS if group.is_in(PREPARING_REBALANCE) else ErrorCode.NONE

    def touch(self, group: ClassicGroup, member_id: str) -> None:
        """A sign of life from a member (heartbeat, offset commit): its session starts over."""
        member = group.members.get(member_id)
        if member is not None:
            self._arm_session(group, member_id, member.session_timeout_ms)

    def _arm_session(self, group: ClassicGroup, member_id: str, timeout_ms: int) -> None:
        gid = group.group_id
        self.timers.schedule(("session", gid, member_id), timeout_ms, lambda: self._expire_session(gid, member_id))

    def _expire_session(self, group_id: str, member_id: str) -> None:
        group = self.groups.get(group_id)
        if group is None or group.is_in(DEAD):
            return
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self._maybe_complete_join(group)
            return
        member = group.members.get(member_id)
        if member is None:
            return
        if member.survives_expiry():
            self._arm_session(group, member_id, member.session_timeout_ms)
            return
        log.info("group %s: member %s session expired", group_id, member_id)
        self._remove_member(group, member)
        self._after_removal(group)

    # -- LeaveGroup

    def leave(self, group_id: str, leaving: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[MemberLeave]]:
        """Remove members (by member id, or by group.instance.id with an empty member id)."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, []
        if group.is_in(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results = []
        for member_id, instance_id in leaving:
            if member_id == "":
                known = group.static_members.get(instance_id) if instance_id is not None else None
                if known is None:
                    results.append(MemberLeave(member_id, instance_id, ErrorCode.UNKNOWN_MEMBER_ID))
                    continue
                self._remove_member(group, group.members[known])
            elif member_id in group.pending_members:
                group.remove(member_id)
                self.timers.cancel(("session", group_id, member_id))
            else:
                error = group.validate_member(member_id, instance_id)
                if error:
                    results.append(MemberLeave(member_id, instance_id, error))
                    continue
                self._remove_member(group, group.members[member_id])
            results.append(MemberLeave(member_id, instance_id))
        if any(r.error == ErrorCode.NONE for r in results):
            self._after_removal(group)
        return ErrorCode.NONE, results

    def _remove_member(self, group: ClassicGroup, member: ClassicMember) -> None:
        self.timers.cancel(("session", group.group_id, member.member_id))
        member.complete_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID))
        member.complete_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)

    def _after_removal(self, group: ClassicGroup) -> None:
        if group.is_in(STABLE, COMPLETING_REBALANCE):
            self._rebalance_or_complete_join(group, "a member left")
        elif group.is_in(PREPARING_REBALANCE) and group.has_all_members_joined():
            self._complete_join(group)

    # -- shutdown

    def abandon(self, group: ClassicGroup, error: ErrorCode) -> None:
        """Answer every parked request of a group the coordinator stops serving."""
        for member in group.members.values():
            member.complete_join(JoinResult(error, member_id=member.member_id))
            member.complete_sync(SyncResult(error))

    # -- persistence

    def _store(self, group: ClassicGroup, assignment: dict[str, bytes]) -> None:
        self.write(group.group_id, [records.group_metadata_record(group, assignment)])


def _check_member(group: ClassicGroup, generation: int, member_id: str, instance_id: str | None) -> ErrorCode:
    """Who is asking, and for which generation: the checks SyncGroup and Heartbeat share."""
    if group.is_in(DEAD):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    error = group.validate_member(member_id, instance_id)
    if error:
        return error
    return ErrorCode.ILLEGAL_GENERATION if generation != group.generation else ErrorCode.NONE


def _inconsistent(asked: str | None, actual: str | None) -> bool:
    return asked is not None and actual is not None and asked != actual
