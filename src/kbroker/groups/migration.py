"""Converting a group in use between the classic protocol and KIP-848 (`group.consumer.migration.policy`).

Upgrade: a classic group of consumers (protocol type `consumer`) meets its first KIP-848 member.
It becomes a consumer group at an epoch equal to its generation; every classic member becomes a
member at that epoch, Stable, owning (and targeted with) the partitions of its last assignment, and
keeps its JoinGroup details (session timeout, protocols) so that it goes on speaking the classic
protocol (classic_members.py). Downgrade: the last KIP-848 member of a consumer group leaves while
classic members remain. The group becomes a Stable classic group at the group epoch, each member
holding its target assignment, and a rebalance starts so that a client-side assignor takes over.
Either way, the old group's records are tombstoned and the new one's written, as Kafka does.
"""

from __future__ import annotations

import logging

from kproto import ProtocolError
from kproto.codec import decode, encode
from kproto.messages import ConsumerProtocolAssignment, ConsumerProtocolSubscription

from kbroker.groups.assignors import Assignment
from kbroker.groups.classic import ClassicGroup
from kbroker.groups.config import GroupConfig
from kbroker.groups.consumer import STABLE, ClassicMetadata, ConsumerGroup, ConsumerMember, copy
from kbroker.groups.member import ClassicMember
from kbroker.groups.protocol import CONSUMER_PROTOCOL_TYPE, select_protocol
from kbroker.groups.states import STABLE as CLASSIC_STABLE

log = logging.getLogger("kbroker.groups")
SUBSCRIPTION_VERSIONS = ConsumerProtocolSubscription.SPEC.versions
ASSIGNMENT_VERSIONS = ConsumerProtocolAssignment.SPEC.versions


class Unreadable(Exception):
    """An embedded consumer protocol message that does not parse: the group is not converted."""


def _version(data: bytes, versions: tuple[int, int]) -> int:
    """The message's version, read as the newest we know when newer (later versions only add fields)."""
    if len(data) < 2:
        raise Unreadable("too short")
    return max(versions[0], min(int.from_bytes(data[:2], "big", signed=True), versions[1]))


def read_subscription(data: bytes) -> ConsumerProtocolSubscription:
    try:
        return decode(ConsumerProtocolSubscription, _version(data, SUBSCRIPTION_VERSIONS), bytes(data), 2,
                      allow_trailing=True)
    except ProtocolError as exc:
        raise Unreadable(str(exc)) from None


def read_assignment(data: bytes) -> Assignment:
    if not data:
        return {}
    try:
        body = decode(ConsumerProtocolAssignment, _version(data, ASSIGNMENT_VERSIONS), bytes(data), 2,
                      allow_trailing=True)
    except ProtocolError as exc:
        raise Unreadable(str(exc)) from None
    out: Assignment = {}
    for tp in body.assigned_partitions:
        out.setdefault(tp.topic, set()).update(tp.partitions)
    return out


def write_assignment(assignment: Assignment, metadata: bytes) -> bytes:
    """The assignment in the version of the member's subscription (at most ours), as Kafka answers."""
    version = _version(metadata, ASSIGNMENT_VERSIONS) if len(metadata) >= 2 else 0
    body = ConsumerProtocolAssignment(assigned_partitions=[
        ConsumerProtocolAssignment.TopicPartition(topic=t, partitions=sorted(p))
        for t, p in sorted(assignment.items()) if p])
    return version.to_bytes(2, "big") + encode(body, version)


def owned_partitions(subscription: ConsumerProtocolSubscription) -> Assignment:
    """What a classic member says it still owns (subscription v1+; an eager member owns nothing)."""
    out: Assignment = {}
    for tp in subscription.owned_partitions:
        out.setdefault(tp.topic, set()).update(tp.partitions)
    return out


# -- upgrade

def upgrade_refusal(group: ClassicGroup, config: GroupConfig) -> str | None:
    """Why the classic group may not become a consumer group (Kafka's checks), or None."""
    if not config.upgrade_enabled:
        return "the online upgrade is disabled"
    if group.protocol_type != CONSUMER_PROTOCOL_TYPE:
        return "the group does not use the consumer embedded protocol"
    if len(group.members) > config.consumer_max_size:
        return "the group size exceeds the consumer group maximum size"
    return None


def upgraded(group: ClassicGroup, assignor: str) -> ConsumerGroup:
    """The consumer group a classic group becomes, its members keeping their last assignments."""
    epoch = group.generation
    out = ConsumerGroup(group.group_id, group_epoch=epoch, assignment_epoch=epoch, assignor=assignor)
    for m in group.members.values():
        subscription = read_subscription(m.metadata(group.protocol_name))
        assigned = read_assignment(m.assignment)
        out.members[m.member_id] = ConsumerMember(
            m.member_id, m.group_instance_id, subscription.rack_id, m.client_id, m.client_host,
            m.rebalance_timeout_ms, frozenset(subscription.topics), member_epoch=epoch, previous_member_epoch=epoch,
            state=STABLE, assigned=assigned,
            classic=ClassicMetadata(m.session_timeout_ms, tuple((n, bytes(d)) for n, d in m.protocols)))
        out.target[m.member_id] = copy(assigned)
    return out


# -- downgrade

def downgrades(group: ConsumerGroup, leaving: ConsumerMember | None, config: GroupConfig) -> bool:
    """Whether the group becomes classic when `leaving` goes (None: a classic static member has just
    replaced it): it is the last member not speaking the classic protocol, others remain, and the
    policy and `group.max.size` allow it."""
    others = [m for m in group.members.values() if m is not leaving]
    if (leaving is not None and leaving.classic is not None) or not others or any(m.classic is None for m in others):
        return False
    if not config.downgrade_enabled:
        log.info("cannot downgrade consumer group %s to classic: the online downgrade is disabled", group.group_id)
        return False
    if len(others) > config.max_size:
        log.info("cannot downgrade consumer group %s to classic: it has more members than group.max.size",
                 group.group_id)
        return False
    return True


def downgraded(group: ConsumerGroup, leaving: ConsumerMember | None,
               now_ms: int) -> tuple[ClassicGroup, dict[str, bytes]]:
    """The Stable classic group the consumer group becomes without `leaving`, and each member's
    assignment (its target, in its own subscription's version)."""
    out = ClassicGroup(group.group_id, now_ms, CLASSIC_STABLE)
    out.generation = group.group_epoch
    for m in group.members.values():
        if m is leaving or m.classic is None:
            continue
        out.add(ClassicMember(m.member_id, m.instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                              m.classic.session_timeout_ms, CONSUMER_PROTOCOL_TYPE, list(m.classic.protocols)))
    out.protocol_name = select_protocol(list(out.members.values()))
    out.subscribed_topics = out.compute_subscriptions()
    assignments = {}
    for m in out.members.values():
        m.assignment = write_assignment(group.target.get(m.member_id, {}), m.metadata(out.protocol_name))
        assignments[m.member_id] = m.assignment
    return out, assignments
