"""Who leads a partition: Kafka's leader election rules, as pure functions of the partition's state.

- Offline partition (its leader died): the first replica in assignment order that is alive and in
  the ISR; with unclean election allowed and no such replica, the first live replica.
- Preferred replica: the first replica in the assignment leads again, if it is alive and in sync.
- Controlled shutdown: the first live in-sync replica other than the brokers stopping.
Brokers in a controlled shutdown are never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from kproto import ErrorCode

NO_LEADER = -1


@dataclass(frozen=True)
class Choice:
    """The outcome of an election: a leader (or NO_LEADER) and the ISR that goes with it."""

    leader: int
    isr: list[int]
    unclean: bool = False


def offline(replicas: list[int], isr: list[int], live: Collection[int], stopping: Collection[int],
            unclean_allowed: bool) -> Choice:
    in_sync = [r for r in isr if r in live]
    leader = next((r for r in replicas if r in in_sync and r not in stopping), NO_LEADER)
    if leader != NO_LEADER:
        return Choice(leader, in_sync)
    if unclean_allowed:
        leader = next((r for r in replicas if r in live and r not in stopping), NO_LEADER)
        if leader != NO_LEADER:
            return Choice(leader, [leader], unclean=True)
    return Choice(NO_LEADER, list(isr))  # kept, so that a returning in-sync replica can lead again


def preferred(replicas: list[int], leader: int, isr: list[int], live: Collection[int],
              stopping: Collection[int]) -> tuple[ErrorCode, int]:
    """ELECTION_NOT_NEEDED when the preferred replica leads already, PREFERRED_LEADER_NOT_AVAILABLE
    when it cannot, else NONE and the preferred replica."""
    first = replicas[0]
    if leader == first:
        return ErrorCode.ELECTION_NOT_NEEDED, leader
    if first not in live or first not in isr or first in stopping:
        return ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, leader
    return ErrorCode.NONE, first


def out_of_balance(partitions: Collection[tuple[list[int], int]], threshold_percent: int) -> set[int]:
    """Brokers that lead fewer of the partitions they are preferred for than they should: more
    than `leader.imbalance.per.broker.percentage` of them are led elsewhere. `partitions` holds
    (replicas, leader) pairs."""
    preferred_for: dict[int, int] = {}
    led_elsewhere: dict[int, int] = {}
    for replicas, leader in partitions:
        first = replicas[0]
        preferred_for[first] = preferred_for.get(first, 0) + 1
        if leader != first:
            led_elsewhere[first] = led_elsewhere.get(first, 0) + 1
    return {b for b, count in preferred_for.items() if led_elsewhere.get(b, 0) * 100 > threshold_percent * count}
