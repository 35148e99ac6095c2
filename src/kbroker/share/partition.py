"""One share partition: the records of a topic partition in flight to one share group (KIP-932).

A record between the share-partition start offset (SPSO) and the next offset to fetch is in one
of four states. AVAILABLE records may be acquired by any member; an acquisition locks them to
that member for the lock duration and counts one delivery. The member then accepts them
(ACKNOWLEDGED), rejects them (ARCHIVED), or releases them, as does the lock running out or the
member leaving; a released record is AVAILABLE again unless it has been delivered
`delivery_limit` times, when it is ARCHIVED instead. Acknowledged and archived records are final:
they are dropped from the table at once, and the SPSO is the lowest offset still tracked; what
they became is kept aside while they are inside the window, for the state written to the share
coordinator (`persisted`, and `restore` after a restart).

The window from the SPSO to the next offset to fetch holds at most `max_locks` offsets
(`group.share.partition.max.record.locks`); new records are acquired only while it has room.
Acquisition takes whole batches as the log holds them, so `max_records` is a soft limit, as in
Kafka. Offsets inside the window that no batch holds (removed by compaction) count as archived.

The class is plain state: the caller gives it the time and the batch offsets it read, and runs
the lock timers (see manager.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from kproto import ErrorCode


class RecordState(enum.IntEnum):
    """Kafka's ids for the states, as its share state records store them."""

    AVAILABLE = 0
    ACQUIRED = 1
    ACKNOWLEDGED = 2
    ARCHIVED = 4


class AckType(enum.IntEnum):
    GAP = 0  # an offset the batch does not hold (compacted away, or a control record)
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3
    RENEW = 4  # ShareFetch / ShareAcknowledge v2 (KIP-1222): the member keeps it, under a fresh lock


V1_ACK_TYPES = frozenset({AckType.GAP, AckType.ACCEPT, AckType.RELEASE, AckType.REJECT})
V2_ACK_TYPES = V1_ACK_TYPES | {AckType.RENEW}

@dataclass(slots=True)
class InFlight:
    state: RecordState
    delivery_count: int
    member_id: str | None = None
    deadline_ms: int = 0  # when the acquisition lock runs out


@dataclass(frozen=True, slots=True)
class Acquired:
    """A run of offsets acquired in one go with the same delivery count, as ShareFetch names them."""

    first_offset: int
    last_offset: int
    delivery_count: int


@dataclass(frozen=True, slots=True)
class AckBatch:
    first_offset: int
    last_offset: int
    types: tuple[int, ...]  # one type for the whole range, or one per offset


class SharePartition:
    def __init__(self, start_offset: int, *, lock_duration_ms: int, delivery_limit: int, max_locks: int) -> None:
        self.lock_duration_ms = lock_duration_ms
        self.delivery_limit = delivery_limit
        self.max_locks = max_locks
        #: offsets at or past the SPSO that are not final, in offset order (insertion order)
        self.records: dict[int, InFlight] = {}
        #: offsets in the window made final, with their final state and delivery count: what the
        #: persisted state says of them until the SPSO passes them
        self.settled: dict[int, tuple[RecordState, int]] = {}
        self.next_offset = start_offset  # the share-partition end offset plus one
        self.log_start = start_offset
        self.available = 0

    def restore(self, start_offset: int, batches: Iterable[tuple[int, int, int, int]]) -> None:
        """Take up persisted state: (first offset, last offset, delivery state, delivery count)
        batches from `start_offset` on. What was available or acquired is available again, unless
        it was delivered `delivery_limit` times already: then it is archived, as its lock running
        out would have made it."""
        self.next_offset = self.log_start = start_offset
        for first, last, state, count in batches:
            for offset in range(max(first, start_offset), last + 1):
                if state == RecordState.AVAILABLE and count < self.delivery_limit:
                    self.records[offset] = InFlight(RecordState.AVAILABLE, count)
                    self.available += 1
                else:
                    final = RecordState.ACKNOWLEDGED if state == RecordState.ACKNOWLEDGED else RecordState.ARCHIVED
                    self.settled[offset] = (final, count)
            self.next_offset = max(self.next_offset, last + 1)

    def persisted(self) -> tuple[int, list[tuple[int, int, int, int]]]:
        """The SPSO and the window as state batches (first, last, delivery state, delivery count):
        acquired records are written as available, with the deliveries they have had; offsets no
        batch held (gaps, transaction markers) as archived."""
        start = self.start_offset
        for offset in [o for o in self.settled if o < start]:
            del self.settled[offset]
        out: list[tuple[int, int, int, int]] = []
        for offset in range(start, self.next_offset):
            record = self.records.get(offset)
            if record is not None:
                state, count = RecordState.AVAILABLE, record.delivery_count
            else:
                state, count = self.settled.get(offset, (RecordState.ARCHIVED, 0))
            if out and out[-1][2:] == (state, count):  # the same as the offset before: one batch
                out[-1] = (out[-1][0], offset, int(state), count)
            else:
                out.append((offset, offset, int(state), count))
        return start, out

    # -- the window

    @property
    def start_offset(self) -> int:
        """The SPSO: the lowest offset not yet acknowledged or archived."""
        return next(iter(self.records), self.next_offset)

    @property
    def end_offset(self) -> int:
        """The SPEO: the last offset fetched into the window."""
        return self.next_offset - 1

    def fetch_offset(self) -> int:
        """Where the next read starts: the first available record, else past the window."""
        if self.available:
            return next(o for o, r in self.records.items() if r.state is RecordState.AVAILABLE)
        return self.next_offset

    def room(self) -> int:
        """How many new offsets the window may still take."""
        return self.max_locks - (self.next_offset - self.start_offset)

    def can_acquire(self) -> bool:
        return self.available > 0 or self.room() > 0

    def in_flight(self) -> int:
        """Records delivered or waiting for redelivery: what the group has not finished with."""
        return len(self.records)

    # -- acquiring

    def acquire(self, member_id: str, batches: Iterable[tuple[int, int, bool]], max_records: int,
                now_ms: int, strict: bool = False) -> list[Acquired]:
        """Acquire for `member_id` from the batches read at `fetch_offset()`, given as (base
        offset, last offset, is a control batch): available records first, then new ones past
        the window. Control batches (transaction markers) are no one's to consume: the window
        passes over them as over a gap. `max_records` is met with whole batches, unless `strict`
        (KIP-1206's record_limit acquire mode), when no more records than that are taken."""
        deadline = now_ms + self.lock_duration_ms
        taken: list[tuple[int, int]] = []  # (offset, delivery count)
        for base, last, control in batches:
            if len(taken) >= max_records:
                break
            if control:
                if last >= self.next_offset and self.room() > 0:
                    self.next_offset = last + 1
                continue
            for offset in range(max(base, self.log_start), min(last, self.next_offset - 1) + 1):
                record = self.records.get(offset)
                if strict and len(taken) >= max_records:
                    break
                if record is not None and record.state is RecordState.AVAILABLE:
                    record.state, record.member_id, record.deadline_ms = RecordState.ACQUIRED, member_id, deadline
                    record.delivery_count += 1
                    self.available -= 1
                    taken.append((offset, record.delivery_count))
            if last < self.next_offset:
                continue
            if self.room() <= 0 or (strict and len(taken) >= max_records):
                break
            self.next_offset = max(self.next_offset, base)  # offsets before the batch are gaps
            if strict:
                last = min(last, self.next_offset + max_records - len(taken) - 1)
            for offset in range(self.next_offset, last + 1):
                self.records[offset] = InFlight(RecordState.ACQUIRED, 1, member_id, deadline)
                taken.append((offset, 1))
            self.next_offset = last + 1
        return _runs(taken)

    # -- acknowledging

    def acknowledge(self, member_id: str, batches: list[AckBatch], now_ms: int = 0,
                    allowed: frozenset[int] = V1_ACK_TYPES) -> ErrorCode:
        """Apply a member's acknowledgements to this partition, all of them or none; a RENEW
        (when `allowed`) locks the record to the member again from `now_ms`.

        INVALID_REQUEST for a malformed batch (bad range or type, or offsets never fetched);
        INVALID_RECORD_STATE for a record this member does not hold.
        """
        changes: list[tuple[int, int]] = []
        previous_last = -1
        for batch in batches:
            first, last, types = batch.first_offset, batch.last_offset, batch.types
            if first > last or first <= previous_last or len(types) not in (1, last - first + 1):
                return ErrorCode.INVALID_REQUEST
            if any(t not in allowed for t in types):
                return ErrorCode.INVALID_REQUEST
            previous_last = last
            if last >= self.next_offset:
                return ErrorCode.INVALID_REQUEST
            for offset in range(first, last + 1):
                record = self.records.get(offset)
                if record is None:
                    if offset >= self.start_offset:
                        return ErrorCode.INVALID_RECORD_STATE  # final already, or never acquired
                    continue  # below the SPSO: settled before this arrived
                if record.state is not RecordState.ACQUIRED or record.member_id != member_id:
                    return ErrorCode.INVALID_RECORD_STATE
                changes.append((offset, types[0] if len(types) == 1 else types[offset - first]))
        for offset, ack in changes:
            record = self.records[offset]
            if ack == AckType.ACCEPT:
                self._settle(offset, RecordState.ACKNOWLEDGED)
            elif ack == AckType.RELEASE:
                self._release(offset, record)
            elif ack == AckType.RENEW:
                record.deadline_ms = now_ms + self.lock_duration_ms
            else:  # GAP, REJECT
                self._settle(offset, RecordState.ARCHIVED)
        return ErrorCode.NONE

    # -- giving records back

    def release_member(self, member_id: str) -> bool:
        """Everything the member holds goes back to the group; True when anything became available."""
        before = self.available
        for offset, record in list(self.records.items()):
            if record.state is RecordState.ACQUIRED and record.member_id == member_id:
                self._release(offset, record)
        return self.available > before

    def expire(self, now_ms: int) -> bool:
        """Release the records whose locks have run out; True when anything became available."""
        before = self.available
        for offset, record in list(self.records.items()):
            if record.state is RecordState.ACQUIRED and record.deadline_ms <= now_ms:
                self._release(offset, record)
        return self.available > before

    def next_deadline(self) -> int | None:
        """When the earliest lock runs out, or None when nothing is acquired."""
        deadlines = [r.deadline_ms for r in self.records.values() if r.state is RecordState.ACQUIRED]
        return min(deadlines) if deadlines else None

    def _release(self, offset: int, record: InFlight) -> None:
        if record.delivery_count >= self.delivery_limit or offset < self.log_start:
            self._settle(offset, RecordState.ARCHIVED)  # delivered often enough, or gone from the log
            return
        record.state, record.member_id, record.deadline_ms = RecordState.AVAILABLE, None, 0
        self.available += 1

    def _settle(self, offset: int, state: RecordState) -> None:
        """The record is final: out of the table, into `settled` while the window holds it."""
        self.settled[offset] = (state, self.records.pop(offset).delivery_count)

    # -- the log moving under the window

    def move_log_start(self, log_start: int) -> None:
        """Records the log no longer holds (retention, DeleteRecords) are archived unless a member
        holds them now; the next fetch starts no earlier than the log."""
        if log_start <= self.log_start:
            return
        self.log_start = log_start
        for offset, record in list(self.records.items()):
            if offset >= log_start:
                break
            if record.state is RecordState.AVAILABLE:
                self._settle(offset, RecordState.ARCHIVED)
                self.available -= 1
        self.next_offset = max(self.next_offset, log_start)


def _runs(taken: list[tuple[int, int]]) -> list[Acquired]:
    """Consecutive offsets with the same delivery count, as single ranges."""
    out: list[Acquired] = []
    for offset, count in taken:
        if out and out[-1].last_offset == offset - 1 and out[-1].delivery_count == count:
            out[-1] = Acquired(out[-1].first_offset, offset, count)
        else:
            out.append(Acquired(offset, offset, count))
    return out
