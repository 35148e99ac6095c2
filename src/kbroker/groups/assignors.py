"""KIP-848 server-side assignors: `uniform` (Kafka's default) and `range`.

Both take every member's subscribed topics, the partition count of each subscribed topic and the
previous target assignment, and return the new target assignment. They are pure functions of
their input, so every member computes against the same picture and tests need no broker.
"""

from __future__ import annotations

from typing import Callable, Mapping

Assignment = dict[str, set[int]]  # topic -> partitions
Assignor = Callable[[Mapping[str, frozenset[str]], Mapping[str, int], Mapping[str, Assignment]], dict[str, Assignment]]


def uniform(subscriptions: Mapping[str, frozenset[str]], partitions: Mapping[str, int],
            previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Balanced and sticky: members keep what they had while counts differ by at most one.

    Partitions are spread over all topics together (not topic by topic), as Kafka's uniform
    assignor does, so five single-partition topics go to five members rather than one.
    """
    members = sorted(subscriptions)
    result: dict[str, Assignment] = {m: {} for m in members}
    load = dict.fromkeys(members, 0)
    owner: dict[tuple[str, int], str] = {}
    for member in members:
        for topic, parts in sorted(previous.get(member, {}).items()):
            if topic in subscriptions[member] and topic in partitions:
                for p in sorted(parts):
                    if p < partitions[topic]:
                        owner[(topic, p)] = member
                        load[member] += 1
    every = [(t, p) for t in sorted(partitions) for p in range(partitions[t])
             if any(t in subscriptions[m] for m in members)]
    # quota: floor(P/M) each, and P % M members may hold one more (homogeneous case)
    base, extra = divmod(len(every), len(members)) if members else (0, 0)
    allowed_extra = extra
    for member in members:  # shed above quota, keeping the lowest partitions
        mine = sorted(tp for tp, m in owner.items() if m == member)
        quota = base + (1 if allowed_extra and len(mine) > base else 0)
        if quota > base:
            allowed_extra -= 1
        for tp in mine[quota:]:
            del owner[tp]
            load[member] -= 1
    for tp in every:  # unowned partitions go to the least loaded subscriber
        if tp not in owner:
            candidates = [m for m in members if tp[0] in subscriptions[m]]
            chosen = min(candidates, key=lambda m: (load[m], m))
            owner[tp] = chosen
            load[chosen] += 1
    _even_out(owner, load, subscriptions)
    for (topic, p), member in owner.items():
        result[member].setdefault(topic, set()).add(p)
    return result


def _even_out(owner: dict[tuple[str, int], str], load: dict[str, int],
              subscriptions: Mapping[str, frozenset[str]]) -> None:
    """Move partitions from the most to the least loaded subscriber until no move helps."""
    moved = True
    while moved:
        moved = False
        for tp, member in sorted(owner.items()):
            takers = [m for m in load if tp[0] in subscriptions[m] and load[m] < load[member] - 1]
            if takers:
                taker = min(takers, key=lambda m: (load[m], m))
                owner[tp] = taker
                load[member] -= 1
                load[taker] += 1
                moved = True


def range_(subscriptions: Mapping[str, frozenset[str]], partitions: Mapping[str, int],
           previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Per topic, contiguous ranges to the subscribers in member-id order (co-partitioned topics line up)."""
    result: dict[str, Assignment] = {m: {} for m in subscriptions}
    for topic in sorted(partitions):
        subscribers = sorted(m for m, topics in subscriptions.items() if topic in topics)
        if not subscribers:
            continue
        size, extra = divmod(partitions[topic], len(subscribers))
        start = 0
        for i, member in enumerate(subscribers):
            count = size + (1 if i < extra else 0)
            if count:
                result[member][topic] = set(range(start, start + count))
            start += count
    return result


ASSIGNORS: dict[str, Assignor] = {"uniform": uniform, "range": range_}


def assignor_name(config_value: str) -> str:
    """`group.consumer.assignors` lists class names; members and describe use the short names."""
    tail = config_value.rsplit(".", 1)[-1]
    return tail.removesuffix("Assignor").lower() or config_value
