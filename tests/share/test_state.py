"""Persisted share-partition state: combining state batches, and a share partition written out and taken up again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kbroker.share.partition import AckBatch, AckType, Acquired, SharePartition
from kbroker.share.state import ACKNOWLEDGED, ARCHIVED, AVAILABLE, StateBatch, combine

LOCK_MS = 1000


def partition(start: int = 0, limit: int = 3) -> SharePartition:
    return SharePartition(start, lock_duration_ms=LOCK_MS, delivery_limit=limit, max_locks=100)


def test_newer_batches_win_and_neighbours_that_agree_join() -> None:
    stored = [StateBatch(0, 9, AVAILABLE, 1)]
    new = [StateBatch(3, 4, ACKNOWLEDGED, 1), StateBatch(5, 9, AVAILABLE, 1)]
    assert combine(stored, new, 0) == [StateBatch(0, 2, AVAILABLE, 1), StateBatch(3, 4, ACKNOWLEDGED, 1),
                                       StateBatch(5, 9, AVAILABLE, 1)]
    assert combine(stored, [StateBatch(3, 4, AVAILABLE, 1)], 0) == stored


def test_what_lies_below_the_start_offset_is_dropped() -> None:
    assert combine([StateBatch(0, 4, ARCHIVED, 2), StateBatch(5, 9, AVAILABLE, 1)], [], 3) == \
        [StateBatch(3, 4, ARCHIVED, 2), StateBatch(5, 9, AVAILABLE, 1)]


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5), st.sampled_from([AVAILABLE, ACKNOWLEDGED, ARCHIVED]),
                          st.integers(1, 3)), max_size=8),
       st.integers(0, 20))
def test_combining_says_what_the_last_write_of_each_offset_said(writes, start) -> None:
    batches: list[StateBatch] = []
    latest: dict[int, tuple[int, int]] = {}
    for first, length, state, count in writes:
        batch = StateBatch(first, first + length, state, count)
        batches = combine(batches, [batch], 0)
        latest.update({o: (state, count) for o in range(first, first + length + 1)})
    trimmed = combine(batches, [], start)
    assert {o: (b.delivery_state, b.delivery_count) for b in trimmed
            for o in range(b.first_offset, b.last_offset + 1)} == {o: v for o, v in latest.items() if o >= start}
    assert all(a.last_offset < b.first_offset for a, b in zip(trimmed, trimmed[1:]))


def test_a_partition_taken_up_again_keeps_settled_records_and_counts() -> None:
    p = partition()
    p.acquire("a", [(0, 4, False)], 10, now_ms=0)
    p.acknowledge("a", [AckBatch(0, 2, (AckType.ACCEPT, AckType.REJECT, AckType.RELEASE))])
    start, batches = p.persisted()
    # offset 3 and 4 are still acquired: written as available, with the delivery they had
    assert (start, batches) == (2, [(2, 4, AVAILABLE, 1)])
    restored = partition()
    restored.restore(start, batches)
    assert restored.acquire("b", [(0, 4, False)], 10, now_ms=0) == [Acquired(2, 4, 2)]


def test_settled_records_inside_the_window_are_written_as_such() -> None:
    p = partition()
    p.acquire("a", [(0, 3, False)], 10, now_ms=0)
    p.acknowledge("a", [AckBatch(1, 2, (AckType.ACCEPT, AckType.REJECT))])
    assert p.persisted() == (0, [(0, 0, AVAILABLE, 1), (1, 1, ACKNOWLEDGED, 1), (2, 2, ARCHIVED, 1),
                                 (3, 3, AVAILABLE, 1)])
    restored = partition()
    restored.restore(*p.persisted())
    assert (restored.start_offset, restored.fetch_offset()) == (0, 0)
    assert restored.acquire("b", [(0, 3, False)], 10, now_ms=0) == [Acquired(0, 0, 2), Acquired(3, 3, 2)]


def test_a_record_held_at_its_last_delivery_is_archived_when_taken_up() -> None:
    """Its lock would have run out at the limit: the restart archives it instead of a fourth delivery."""
    restored = partition(limit=3)
    restored.restore(5, [(5, 5, AVAILABLE, 3), (6, 6, AVAILABLE, 2)])
    assert restored.start_offset == 6
    assert restored.acquire("b", [(5, 6, False)], 10, now_ms=0) == [Acquired(6, 6, 3)]
