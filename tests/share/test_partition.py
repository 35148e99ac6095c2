"""The share-partition state machine: acquisition, acknowledgement, locks, delivery counts, the window."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kproto import ErrorCode

from kbroker.share.partition import V2_ACK_TYPES, AckBatch, AckType, Acquired, RecordState, SharePartition

LOCK_MS = 1000


def partition(start: int = 0, *, limit: int = 3, max_locks: int = 100) -> SharePartition:
    return SharePartition(start, lock_duration_ms=LOCK_MS, delivery_limit=limit, max_locks=max_locks)


def ack(first: int, last: int, *types: AckType) -> AckBatch:
    return AckBatch(first, last, tuple(int(t) for t in types))


def test_new_records_are_acquired_whole_batches_at_a_time() -> None:
    p = partition()
    got = p.acquire("a", [(0, 4, False), (5, 9, False)], max_records=3, now_ms=0)
    assert got == [Acquired(0, 4, 1)]  # the soft limit: the first batch whole, not the second
    assert (p.start_offset, p.end_offset, p.fetch_offset()) == (0, 4, 5)


def test_the_record_limit_mode_takes_no_more_than_max_records() -> None:
    """KIP-1206: a batch is split; the next fetch takes up where the last stopped, released records first."""
    p = partition()
    assert p.acquire("a", [(0, 4, False), (5, 9, False)], max_records=3, now_ms=0, strict=True) == [Acquired(0, 2, 1)]
    assert p.fetch_offset() == 3
    assert p.acquire("b", [(0, 4, False), (5, 9, False)], max_records=3, now_ms=0, strict=True) == [Acquired(3, 5, 1)]
    assert p.acknowledge("a", [ack(0, 2, AckType.RELEASE)]) == ErrorCode.NONE
    assert p.acquire("b", [(0, 4, False), (5, 9, False)], max_records=4, now_ms=0, strict=True) == \
        [Acquired(0, 2, 2), Acquired(6, 6, 1)]


def test_renew_keeps_the_record_under_a_fresh_lock() -> None:
    p = partition()
    p.acquire("a", [(0, 1, False)], 10, now_ms=0)
    assert p.acknowledge("a", [ack(0, 1, AckType.RENEW)], now_ms=500) == ErrorCode.INVALID_REQUEST  # v1's types
    assert p.acknowledge("a", [ack(0, 1, AckType.RENEW)], now_ms=500, allowed=V2_ACK_TYPES) == ErrorCode.NONE
    assert not p.expire(LOCK_MS)
    assert p.next_deadline() == 500 + LOCK_MS
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT)]) == ErrorCode.NONE
    assert p.in_flight() == 0


def test_a_released_record_is_redelivered_with_its_delivery_count() -> None:
    p = partition()
    p.acquire("a", [(0, 2, False)], 10, now_ms=0)
    assert p.acknowledge("a", [ack(0, 2, AckType.ACCEPT, AckType.RELEASE, AckType.ACCEPT)]) == ErrorCode.NONE
    assert (p.start_offset, p.fetch_offset()) == (1, 1)
    assert p.acquire("b", [(0, 2, False)], 10, now_ms=2) == [Acquired(1, 1, 2)]


def test_release_at_the_delivery_limit_archives() -> None:
    p = partition(limit=2)
    for delivery in (1, 2):
        assert p.acquire("a", [(0, 0, False)], 10, now_ms=0) == [Acquired(0, 0, delivery)]
        assert p.acknowledge("a", [ack(0, 0, AckType.RELEASE)]) == ErrorCode.NONE
    assert (p.start_offset, p.in_flight(), p.fetch_offset()) == (1, 0, 1)
    assert p.acquire("a", [(0, 0, False)], 10, now_ms=0) == []


def test_reject_and_gap_archive_and_accept_acknowledges() -> None:
    p = partition()
    p.acquire("a", [(0, 2, False)], 10, now_ms=0)
    assert p.acknowledge("a", [ack(0, 2, AckType.REJECT, AckType.GAP, AckType.ACCEPT)]) == ErrorCode.NONE
    assert (p.start_offset, p.in_flight()) == (3, 0)
    assert p.acquire("b", [(0, 2, False)], 10, now_ms=0) == []


def test_an_expired_lock_makes_records_available_to_anyone() -> None:
    p = partition()
    p.acquire("a", [(0, 1, False)], 10, now_ms=0)
    assert p.next_deadline() == LOCK_MS
    assert not p.expire(LOCK_MS - 1)
    assert p.expire(LOCK_MS)
    assert p.next_deadline() is None
    assert p.acquire("b", [(0, 1, False)], 10, now_ms=LOCK_MS) == [Acquired(0, 1, 2)]
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT)]) == ErrorCode.INVALID_RECORD_STATE


def test_acknowledgements_of_records_the_member_does_not_hold_change_nothing() -> None:
    p = partition()
    p.acquire("a", [(0, 1, False)], 10, now_ms=0)
    p.acquire("b", [(2, 3, False)], 10, now_ms=0)
    # one good batch and one of b's records: all or nothing
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT), ack(2, 2, AckType.ACCEPT)]) == ErrorCode.INVALID_RECORD_STATE
    assert [r.state for r in p.records.values()] == [RecordState.ACQUIRED] * 4
    assert p.acknowledge("a", [ack(4, 4, AckType.ACCEPT)]) == ErrorCode.INVALID_REQUEST  # never fetched
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT, AckType.ACCEPT, AckType.ACCEPT)]) == ErrorCode.INVALID_REQUEST
    assert p.acknowledge("a", [AckBatch(0, 0, (4,))]) == ErrorCode.INVALID_REQUEST  # RENEW: v2 only
    assert p.acknowledge("a", [ack(1, 1, AckType.ACCEPT), ack(0, 0, AckType.ACCEPT)]) == ErrorCode.INVALID_REQUEST


def test_acknowledging_again_below_the_start_is_harmless() -> None:
    p = partition()
    p.acquire("a", [(0, 1, False)], 10, now_ms=0)
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT)]) == ErrorCode.NONE
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT)]) == ErrorCode.NONE


def test_a_leaving_member_gives_back_what_it_holds() -> None:
    p = partition()
    p.acquire("a", [(0, 1, False)], 10, now_ms=0)
    p.acquire("b", [(2, 2, False)], 10, now_ms=0)
    assert p.release_member("a")
    assert p.fetch_offset() == 0
    assert p.acquire("c", [(0, 2, False)], 10, now_ms=0) == [Acquired(0, 1, 2)]


def test_the_window_holds_at_most_max_locks_offsets() -> None:
    p = partition(max_locks=100)
    assert p.acquire("a", [(0, 59, False), (60, 119, False), (120, 129, False)], 1000, now_ms=0) == [Acquired(0, 119, 1)]
    assert not p.can_acquire() and p.room() == -20
    assert p.acknowledge("a", [ack(0, 29, AckType.ACCEPT)]) == ErrorCode.NONE
    assert p.can_acquire() and p.room() == 10


def test_control_batches_and_compacted_gaps_are_passed_over() -> None:
    p = partition()
    got = p.acquire("a", [(0, 1, False), (2, 2, True), (5, 6, False)], 10, now_ms=0)
    assert got == [Acquired(0, 1, 1), Acquired(5, 6, 1)]
    assert p.acknowledge("a", [ack(0, 1, AckType.ACCEPT)]) == ErrorCode.NONE
    assert p.start_offset == 5  # the marker at 2 and the gap at 3-4 hold nothing up
    assert p.acquire("a", [(7, 7, True)], 10, now_ms=0) == [] and p.fetch_offset() == 8


def test_records_gone_from_the_log_are_archived_unless_held() -> None:
    p = partition()
    p.acquire("a", [(0, 3, False)], 10, now_ms=0)
    p.acknowledge("a", [ack(0, 1, AckType.RELEASE)])
    p.move_log_start(3)
    assert p.start_offset == 2 and p.fetch_offset() == 4  # 0-1 were available: archived; 2 is held
    p.release_member("a")
    assert p.start_offset == 3  # 2 is no longer in the log: released into the archive
    p.move_log_start(10)
    assert (p.start_offset, p.fetch_offset()) == (10, 10)


class SharePartitionMachine(RuleBasedStateMachine):
    """Random fetches, acknowledgements, expiries and departures against the invariants of KIP-932's
    record states, with a model of which offsets are settled for good."""

    MEMBERS = ("a", "b", "c")

    def __init__(self) -> None:
        super().__init__()
        self.p = partition(limit=3, max_locks=40)
        self.now = 0
        self.log_end = 0
        self.settled: set[int] = set()  # accepted or rejected: never to be delivered again
        self.deliveries: dict[int, int] = {}

    @rule(count=st.integers(1, 8))
    def produce(self, count: int) -> None:
        self.log_end += count

    @rule(member=st.sampled_from(MEMBERS), max_records=st.integers(1, 20), batch=st.integers(1, 5))
    def fetch(self, member: str, max_records: int, batch: int) -> None:
        start = self.p.fetch_offset()
        batches = [(o, min(o + batch, self.log_end) - 1, False) for o in range(start, self.log_end, batch)]
        for run in self.p.acquire(member, batches, max_records, self.now):
            for offset in range(run.first_offset, run.last_offset + 1):
                assert offset not in self.settled
                self.deliveries[offset] = self.deliveries.get(offset, 0) + 1
                assert run.delivery_count == self.deliveries[offset] <= self.p.delivery_limit

    @rule(member=st.sampled_from(MEMBERS), kind=st.sampled_from([AckType.ACCEPT, AckType.RELEASE, AckType.REJECT]),
          data=st.data())
    def acknowledge(self, member: str, kind: AckType, data: st.DataObject) -> None:
        held = [o for o, r in self.p.records.items() if r.state is RecordState.ACQUIRED and r.member_id == member]
        if not held:
            return
        offset = data.draw(st.sampled_from(held))
        assert self.p.acknowledge(member, [ack(offset, offset, kind)]) == ErrorCode.NONE
        if kind != AckType.RELEASE or self.deliveries[offset] >= self.p.delivery_limit:
            self.settled.add(offset)

    @rule(member=st.sampled_from(MEMBERS), data=st.data())
    def steal(self, member: str, data: st.DataObject) -> None:
        others = [o for o, r in self.p.records.items() if r.state is RecordState.ACQUIRED and r.member_id != member]
        if others:
            offset = data.draw(st.sampled_from(others))
            before = {o: (r.state, r.member_id) for o, r in self.p.records.items()}
            assert self.p.acknowledge(member, [ack(offset, offset, AckType.ACCEPT)]) == \
                ErrorCode.INVALID_RECORD_STATE
            assert {o: (r.state, r.member_id) for o, r in self.p.records.items()} == before

    @rule(ms=st.integers(0, 2 * LOCK_MS))
    def time_passes(self, ms: int) -> None:
        self.now += ms
        self.p.expire(self.now)

    @rule(member=st.sampled_from(MEMBERS))
    def leave(self, member: str) -> None:
        self.p.release_member(member)

    @invariant()
    def records_are_consistent(self) -> None:
        p = self.p
        offsets = list(p.records)
        assert offsets == sorted(offsets)
        assert all(p.start_offset <= o < p.next_offset for o in offsets)
        assert p.available == sum(r.state is RecordState.AVAILABLE for r in p.records.values())
        for offset, record in p.records.items():
            assert record.state in (RecordState.AVAILABLE, RecordState.ACQUIRED)
            assert (record.member_id is not None) == (record.state is RecordState.ACQUIRED)
            assert record.delivery_count == self.deliveries[offset] <= p.delivery_limit
            assert offset not in self.settled
            if record.state is RecordState.ACQUIRED:
                assert record.deadline_ms > self.now

    @invariant()
    def every_fetched_record_is_settled_or_in_flight(self) -> None:
        settled_or_tracked = self.settled | set(self.p.records)
        limit_reached = {o for o, n in self.deliveries.items() if n >= self.p.delivery_limit}
        assert set(self.deliveries) <= settled_or_tracked | limit_reached


SharePartitionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_share_partition_machine = SharePartitionMachine.TestCase
