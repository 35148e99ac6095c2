"""How soon a KIP-848 member is asked to heartbeat again: the response's heartbeat_interval_ms.

Members learn of revocations and new partitions only from heartbeat responses. A stable member
keeps `group.consumer.heartbeat.interval.ms`; a member whose reconciliation is pending is asked
back sooner, so that a partition moves soon after its release rather than up to a whole interval
later:

- a member waiting for partitions that another member holds, and has not yet been told to give
  up, comes back just after that holder's next heartbeat is due (the holder learns then that it
  must revoke, and acknowledges as soon as it has: librdkafka and Kafka's consumer heartbeat at
  once after reconciling);
- a member waiting for a holder already told to revoke (or overdue), and a member that must
  revoke partitions itself, are asked back after the floor, doubled with every answer since the
  member was last stable.

The doubling bounds the extra heartbeats: with the defaults (5,000 ms, 25 ms floor) a member is
back at the configured interval after eight shorter answers, however long its reconciliation takes, and
never heartbeats more often than the floor. A waiting member's other early heartbeats follow the
expected heartbeats of the members it waits for, one each.
"""

from __future__ import annotations

from kbroker.groups.assignors import Assignment
from kbroker.groups.consumer import STABLE, UNRELEASED_PARTITIONS, ConsumerGroup, ConsumerMember, minus

#: The shortest interval given to a member whose reconciliation is pending (at most 40 heartbeats
#: a second), and the margin a holder gets after its expected heartbeat to revoke and acknowledge:
#: a few milliseconds for librdkafka, whose timers run up to about 10 ms late.
PENDING_FLOOR_MS = 25
#: doublings beyond which the interval is the configured one in any sensible configuration
MAX_DOUBLINGS = 16


def heartbeat_interval(group: ConsumerGroup, member: ConsumerMember, configured_ms: int, now_ms: int) -> int:
    """The interval to answer `member` with, its heartbeat having been reconciled at `now_ms`."""
    if member.state == STABLE:
        return configured_ms
    floor = min(PENDING_FLOOR_MS, configured_ms)
    backoff = floor << min(member.pending_heartbeats, MAX_DOUBLINGS)
    wait = backoff
    if member.state == UNRELEASED_PARTITIONS:
        wanted = minus(group.target.get(member.member_id, {}), member.assigned)
        wait = min((_release_wait(holder, wanted, now_ms, floor, backoff) for holder in group.members.values()
                    if holder is not member and _overlaps(holder.holds(), wanted)), default=backoff)
    return max(floor, min(wait, configured_ms))


def _release_wait(holder: ConsumerMember, wanted: Assignment, now_ms: int, floor: int, backoff: int) -> int:
    """How long until `holder` may have released some of `wanted`."""
    if _overlaps(holder.pending_revocation, wanted) or holder.heartbeat_due_ms <= now_ms:
        return backoff  # told to revoke, or overdue: it lets go whenever it can
    return holder.heartbeat_due_ms - now_ms + floor  # it learns at its next heartbeat


def _overlaps(held: Assignment, wanted: Assignment) -> bool:
    return any(parts & wanted.get(topic, set()) for topic, parts in held.items())
