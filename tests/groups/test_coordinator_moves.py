"""A cluster's coordinator serves only the offsets partitions it leads: it loads their groups when
elected and forgets them, answering waiting members NOT_COORDINATOR, when it resigns."""

import asyncio

from kproto import ErrorCode as E

from kbroker.groups import GroupCoordinator, MemoryGroupLog, OffsetCommit

from helpers import FAST, join_new, join_request, settle


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def clustered(storage: MemoryGroupLog) -> GroupCoordinator:
    return GroupCoordinator(FAST, storage, clustered=True)


def test_a_broker_that_does_not_lead_the_partition_is_not_the_coordinator() -> None:
    async def scenario():
        coord = clustered(MemoryGroupLog())
        await coord.start()
        assert (await coord.join(join_request())).error == E.NOT_COORDINATOR
        assert coord.heartbeat("g", "m", None, 1) == E.NOT_COORDINATOR
        assert coord.commit_offsets("g", -1, "", None, [OffsetCommit("t", 0, 1)]) == [E.NOT_COORDINATOR]
        assert coord.check_fetch("g", None, -1) == E.NOT_COORDINATOR
        assert coord.describe_group("g").error == E.NOT_COORDINATOR
        assert coord.delete_groups(["g"]) == [("g", E.NOT_COORDINATOR)]
        assert coord.delete_offsets("g", [("t", [0])]) == (E.NOT_COORDINATOR, [])
        assert coord.leave("g", [("m", None)]) == (E.NOT_COORDINATOR, [])
        await coord.stop()
    run(scenario())


def test_the_elected_coordinator_loads_what_the_old_one_wrote() -> None:
    async def scenario():
        storage = MemoryGroupLog()
        old = clustered(storage)
        await old.start()
        old.elected(0)
        assert old.commit_offsets("g", -1, "", None, [OffsetCommit("t", 0, 42)]) == [E.NONE]
        new = clustered(storage)
        await new.start()
        new.elected(0)
        assert new.fetch_offsets("g", [("t", [0])])[0][1][0][1].offset == 42
        assert [g.group_id for g in new.list_groups()] == ["g"]
        await old.stop()
        await new.stop()
    run(scenario())


def test_resigning_forgets_the_groups_and_answers_waiting_joins_not_coordinator() -> None:
    async def scenario():
        coord = clustered(MemoryGroupLog())
        await coord.start()
        coord.elected(0)
        coord.commit_offsets("other", -1, "", None, [OffsetCommit("t", 0, 1)])
        waiting = await join_new(coord)  # its join completes when the initial delay's timer fires
        coord.resigned(0)
        await settle()
        assert (await waiting).error == E.NOT_COORDINATOR
        assert coord.list_groups() == [] and coord.fetch_offsets("other", None) == []
        assert coord.commit_offsets("other", -1, "", None, [OffsetCommit("t", 0, 2)]) == [E.NOT_COORDINATOR]
        await coord.stop()
    run(scenario())
