"""Offsets sent in a transaction: pending until the transaction's marker, on the live path and on replay."""

import asyncio

from kproto import ErrorCode as E

from kbroker.groups import GroupConfig, MemoryGroupLog, OffsetCommit
from kbroker.groups.storage import Producer, StoredRecord

from helpers import coordinator, join_request

PRODUCER = Producer(producer_id=7, epoch=0)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def committed(coord, group: str = "g", topic: str = "t", partition: int = 0) -> int | None:
    offset = coord.fetch_offsets(group, [(topic, [partition])])[0][1][0][1]
    return None if offset is None else offset.offset


def end(storage: MemoryGroupLog, coord, commit: bool, producer: Producer = PRODUCER) -> None:
    """What the broker does with a marker in the group's partition."""
    storage.end_transaction(producer.producer_id, commit)
    coord.complete_transaction(producer.producer_id, commit, 0)


def test_offsets_wait_for_the_commit_marker_and_an_abort_drops_them() -> None:
    storage = MemoryGroupLog()
    coord = coordinator(storage=storage)
    assert coord.commit_transactional_offsets("g", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 5)]) == [E.NONE]
    assert committed(coord) is None and coord.has_pending_offset("g", "t", 0)
    end(storage, coord, commit=False)
    assert committed(coord) is None and not coord.has_pending_offset("g", "t", 0)
    coord.commit_transactional_offsets("g", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 9)])
    end(storage, coord, commit=True)
    assert committed(coord) == 9 and not coord.has_pending_offset("g", "t", 0)
    written = [e for _, e in storage.entries if isinstance(e, StoredRecord) and e.producer_id == PRODUCER.producer_id]
    assert len(written) == 2  # each written at once, in the producer's transactional batch


def test_replay_keeps_offsets_pending_until_their_marker() -> None:
    async def scenario():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        coord.commit_offsets("g", -1, "", None, [OffsetCommit("t", 0, 1)])
        coord.commit_transactional_offsets("g", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 5)])
        other = Producer(8, 0)
        coord.commit_transactional_offsets("g", other, -1, "", None, [OffsetCommit("t", 1, 6)])
        end(storage, coord, commit=False, producer=other)

        again = coordinator(storage=storage)  # the broker restarted before the transaction ended
        await again.start()
        assert committed(again) == 1 and again.has_pending_offset("g", "t", 0)
        assert committed(again, partition=1) is None and not again.has_pending_offset("g", "t", 1)
        end(storage, again, commit=True)
        assert committed(again) == 5
        await again.stop()

        third = coordinator(storage=storage)  # and the marker is replayed too
        await third.start()
        assert committed(third) == 5 and not third.has_pending_offset("g", "t", 0)
        await third.stop()
    run(scenario())


def test_a_later_plain_commit_wins_over_an_earlier_transactional_one() -> None:
    async def scenario():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        coord.commit_transactional_offsets("g", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 5), OffsetCommit("t", 1, 5)])
        coord.commit_offsets("g", -1, "", None, [OffsetCommit("t", 0, 3)])
        end(storage, coord, commit=True)
        assert (committed(coord), committed(coord, partition=1)) == (3, 5)
        again = coordinator(storage=storage)
        await again.start()
        assert (committed(again), committed(again, partition=1)) == (3, 5)
        await again.stop()
    run(scenario())


def test_transactional_commits_follow_kafkas_member_rules() -> None:
    async def scenario():
        coord = coordinator()
        assert coord.commit_transactional_offsets("new", PRODUCER, 1, "m", None, [OffsetCommit("t", 0, 1)]) == [
            E.ILLEGAL_GENERATION]
        joined = await coord.join(join_request(require_known=False, session_ms=5000))
        m = joined.member_id
        # a producer older than TxnOffsetCommit v3 sends no generation: accepted while the group is in use
        assert coord.commit_transactional_offsets("g", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 1)]) == [E.NONE]
        assert coord.commit_transactional_offsets("g", PRODUCER, 2, m, None, [OffsetCommit("t", 0, 1)]) == [
            E.ILLEGAL_GENERATION]
        assert coord.commit_transactional_offsets("g", PRODUCER, 1, "stranger", None, [OffsetCommit("t", 0, 1)]) == [
            E.UNKNOWN_MEMBER_ID]
        too_long = "x" * (GroupConfig().offset_metadata_max_bytes + 1)
        assert coord.commit_transactional_offsets("g", PRODUCER, 1, m, None, [
            OffsetCommit("t", 0, 1), OffsetCommit("t", 1, 1, metadata=too_long)]) == [E.NONE, E.OFFSET_METADATA_TOO_LARGE]
        await coord.stop()
    run(scenario())


def test_deleting_offsets_drops_pending_ones_and_expiry_waits_for_them() -> None:
    now = [1_000_000]
    storage = MemoryGroupLog()
    coord = coordinator(GroupConfig(offsets_retention_ms=60_000), storage=storage, clock=lambda: now[0])
    coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 3)])
    coord.commit_transactional_offsets("tool", PRODUCER, -1, "", None, [OffsetCommit("t", 0, 4)])
    now[0] += 61_000
    assert coord.expire_offsets() == 0 and "tool" in coord.groups
    assert coord.delete_offsets("tool", [("t", [0])]) == (E.NONE, [("t", [(0, E.NONE)])])
    assert not coord.has_pending_offset("tool", "t", 0)
    end(storage, coord, commit=True)
    assert committed(coord, "tool") is None
