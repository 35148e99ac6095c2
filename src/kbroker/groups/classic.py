"""A classic group's membership and generation: the data the rebalance protocol works on.

Nothing here waits or writes: the coordinator drives timers and persistence and calls these
methods to change the group, which keep the bookkeeping (leader, static members, awaited joins)
consistent.
"""

from __future__ import annotations

import uuid

from kproto import ErrorCode

from kbroker.groups import protocol as protocols
from kbroker.groups.member import ClassicMember
from kbroker.groups.results import JoinedMember, JoinResult, SyncResult
from kbroker.groups.states import CAN_REBALANCE, COMPLETING_REBALANCE, EMPTY, GroupState, check_transition


class ClassicGroup:
    def __init__(self, group_id: str, now_ms: int, state: GroupState = EMPTY) -> None:
        self.group_id = group_id
        self.state = state
        self.previous_state: GroupState | None = None
        self.state_timestamp = now_ms
        self.generation = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, ClassicMember] = {}  # in join order: the first becomes leader
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id
        #: member ids handed out with MEMBER_ID_REQUIRED, not yet back with a join
        self.pending_members: set[str] = set()
        #: members that got this generation's join answer but have not sent SyncGroup yet
        self.pending_sync: set[str] = set()
        #: during an initial rebalance: someone joined since the delay was last armed
        self.new_member_added = False
        self.subscribed_topics: set[str] | None = None

    def __repr__(self) -> str:
        return f"ClassicGroup({self.group_id!r}, {self.state}, generation {self.generation}, {len(self.members)} members)"

    # -- state

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    def transition(self, target: GroupState, now_ms: int) -> None:
        check_transition(self.state, target)
        self.previous_state, self.state = self.state, target
        self.state_timestamp = now_ms

    @property
    def can_rebalance(self) -> bool:
        return self.state in CAN_REBALANCE

    # -- membership

    def new_member_id(self, client_id: str, group_instance_id: str | None) -> str:
        return f"{group_instance_id if group_instance_id is not None else client_id}-{uuid.uuid4()}"

    def add(self, member: ClassicMember) -> None:
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> ClassicMember | None:
        member = self.members.pop(member_id, None)
        if member is not None and member.group_instance_id is not None:
            if self.static_members.get(member.group_instance_id) == member_id:
                del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_members.discard(member_id)
        self.pending_sync.discard(member_id)
        return member

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> ClassicMember:
        """Hand a static member's place to its new incarnation; the old one is fenced."""
        old = self.members.pop(old_id)
        old.complete_join(JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id=old_id))
        old.complete_sync(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        new = ClassicMember(new_id, instance_id, old.client_id, old.client_host, old.rebalance_timeout_ms,
                            old.session_timeout_ms, old.protocol_type, old.protocols, old.assignment)
        self.members[new_id] = new
        if self.leader_id == old_id:
            self.leader_id = new_id
        self.static_members[instance_id] = new_id
        self.pending_sync.discard(old_id)
        return new

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode:
        """Kafka's checks of who is asking: a stale id of a static member is fenced."""
        if group_instance_id is not None:
            known = self.static_members.get(group_instance_id)
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    # -- joining

    @property
    def awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.awaiting_join)

    def has_all_members_joined(self) -> bool:
        return self.awaiting_join == len(self.members) and not self.pending_members

    def not_yet_rejoined(self) -> list[ClassicMember]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def supports(self, protocol_type: str, protocol_names: list[str]) -> bool:
        members = list(self.members.values())
        return protocols.supports_protocols(members, self.protocol_type if members else None,
                                            protocol_type, protocol_names)

    def elect_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else promote a member that did; False if none did."""
        if self.leader_id is None:
            return False
        if self.members[self.leader_id].awaiting_join:
            return True
        for member in self.members.values():
            if member.awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    def select_protocol(self) -> str:
        return protocols.select_protocol(list(self.members.values()))

    def init_next_generation(self, now_ms: int) -> None:
        self.generation += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscriptions()
            self.transition(COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscriptions()
            self.transition(EMPTY, now_ms)
        self.pending_sync.clear()

    def compute_subscriptions(self) -> set[str] | None:
        return protocols.subscribed_topics(list(self.members.values()), self.protocol_type, self.protocol_name)

    def join_result(self, member: ClassicMember, skip_assignment: bool = False,
                    with_members: bool | None = None) -> JoinResult:
        """The answer for a member of the current generation; the leader gets everyone's metadata."""
        if with_members is None:
            with_members = self.is_leader(member.member_id)
        return JoinResult(
            ErrorCode.NONE, member_id=member.member_id, generation=self.generation,
            protocol_type=self.protocol_type, protocol_name=self.protocol_name, leader=self.leader_id or "",
            skip_assignment=skip_assignment, members=self.member_metadata() if with_members else [],
        )

    def member_metadata(self) -> list[JoinedMember]:
        return [JoinedMember(m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
                for m in self.members.values()]

    # -- offsets' view of the group

    def is_subscribed_to(self, topic: str) -> bool:
        """Whether committed offsets of `topic` are in use (and so neither expire nor delete)."""
        if self.subscribed_topics is not None:
            return topic in self.subscribed_topics
        return self.protocol_type == protocols.CONSUMER_PROTOCOL_TYPE
