"""What the share coordinator keeps of one share partition, and how state batches combine.

A share partition's persisted state (Kafka's ShareGroupOffset) is its start offset, its state
epoch (moved on by each initialization), the leader epoch of the broker that last wrote it, and
state batches: offset ranges with a delivery state (0 available, 2 acknowledged, 4 archived) and
a delivery count. A write may carry only the ranges that changed: `combine` lays them over what
is stored, drops what lies below the start offset, and joins neighbours that say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

AVAILABLE, ACKNOWLEDGED, ARCHIVED = 0, 2, 4
UNINITIALIZED_START_OFFSET = -1
NO_DELIVERY_COMPLETE_COUNT = -1  # not known: the state was never written with a count (v1)


class StateBatch(NamedTuple):
    first_offset: int
    last_offset: int
    delivery_state: int
    delivery_count: int


@dataclass(slots=True)
class ShareState:
    snapshot_epoch: int
    state_epoch: int
    leader_epoch: int
    start_offset: int
    batches: list[StateBatch] = field(default_factory=list)
    delivery_complete_count: int = NO_DELIVERY_COMPLETE_COUNT


def combine(stored: Iterable[StateBatch], new: Iterable[StateBatch], start_offset: int) -> list[StateBatch]:
    """`new` laid over `stored` (the newer says what an offset is), from `start_offset` on."""
    out: list[StateBatch] = []
    for batch in sorted(stored, key=lambda b: b.first_offset):
        out = _overlay(out, batch)
    for batch in new:
        out = _overlay(out, batch)
    trimmed = [b._replace(first_offset=max(b.first_offset, start_offset)) for b in out if b.last_offset >= start_offset]
    joined: list[StateBatch] = []
    for batch in trimmed:
        last = joined[-1] if joined else None
        if last and last.last_offset + 1 == batch.first_offset and last[2:] == batch[2:]:
            joined[-1] = last._replace(last_offset=batch.last_offset)
        else:
            joined.append(batch)
    return joined


def _overlay(batches: list[StateBatch], top: StateBatch) -> list[StateBatch]:
    """`batches` (in offset order, not overlapping) with `top` over them."""
    out: list[StateBatch] = []
    for b in batches:
        if b.last_offset < top.first_offset or b.first_offset > top.last_offset:
            out.append(b)
            continue
        if b.first_offset < top.first_offset:
            out.append(b._replace(last_offset=top.first_offset - 1))
        if b.last_offset > top.last_offset:
            out.append(b._replace(first_offset=top.last_offset + 1))
    out.append(top)
    return sorted(out, key=lambda b: b.first_offset)


def delivery_complete(batches: Iterable[StateBatch]) -> int:
    """How many offsets of the batches are settled (acknowledged or archived)."""
    return sum(b.last_offset - b.first_offset + 1 for b in batches if b.delivery_state != AVAILABLE)
