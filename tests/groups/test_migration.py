"""A group in use moving between the classic protocol and KIP-848 (group.consumer.migration.policy)."""

import asyncio
from dataclasses import replace

from kproto import ErrorCode as E

from kbroker.groups import GroupConfig, GroupCoordinator, MemoryGroupLog, OffsetCommit
from kbroker.groups.consumer_groups import Heartbeat
from kbroker.groups.migration import read_assignment, write_assignment
from kbroker.groups.results import MemberLeave
from kbroker.groups.states import PREPARING_REBALANCE, STABLE

from helpers import join_request, settle, subscription

TOPICS = {"t": 6}
CONFIG = GroupConfig(min_session_timeout_ms=10, initial_rebalance_delay_ms=0, consumer_session_timeout_ms=5000,
                     consumer_heartbeat_interval_ms=20)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def coordinator(config: GroupConfig = CONFIG, storage: MemoryGroupLog | None = None,
                before: GroupCoordinator | None = None) -> GroupCoordinator:
    """A coordinator; one restarted from `before`'s records knows the same topic ids."""
    ids = (before.consumer.topic_id, before.consumer.topic_name) if before is not None else None
    return GroupCoordinator(config, storage or MemoryGroupLog(), topics=lambda: TOPICS, topic_ids=ids)


async def classic_group(coord: GroupCoordinator) -> dict[str, int]:
    """Two classic members, Stable, three partitions each: member id -> generation."""
    futures = [coord.join(join_request(require_known=False, session_ms=5000, rebalance_ms=5000)) for _ in range(2)]
    await settle()
    joined = [f.result() for f in futures]
    leader = next(j for j in joined if j.leader == j.member_id)
    halves = dict(zip([j.member_id for j in joined], ({"t": {0, 1, 2}}, {"t": {3, 4, 5}})))
    assignments = {m: write_assignment(a, subscription("t")) for m, a in halves.items()}
    for j in joined:
        answer = await coord.sync("g", j.generation, j.member_id, None, "consumer", "range",
                                  assignments if j is leader else {})
        assert answer.error == E.NONE
    return {j.member_id: j.generation for j in joined}


def kip848_join(coord: GroupCoordinator, member: str = "new"):
    return coord.consumer_heartbeat(Heartbeat("g", member, 0, None, None, 5000, ["t"], owned={}))


async def classic_rejoin(coord: GroupCoordinator, member: str, owned: bytes | None = None):
    """A classic member rejoining and syncing (an eager one: it owns nothing when it rejoins)."""
    joined = await coord.join(join_request(member=member, session_ms=5000, rebalance_ms=5000,
                                           protocols=[("range", owned or subscription("t"))]))
    assert joined.error == E.NONE, joined
    synced = await coord.sync("g", joined.generation, member, None, "consumer", joined.protocol_name, {})
    return joined, synced


def test_a_kip848_member_upgrades_a_classic_group_in_use() -> None:
    async def main():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        generations = await classic_group(coord)
        generation = next(iter(generations.values()))
        assert kip848_join(coord).error == E.NONE
        assert "g" not in coord.groups
        group = coord.consumer.groups["g"]
        assert group.group_epoch == generation + 1 and group.state == "Reconciling"
        kept = {m: group.members[m].assigned for m in generations}
        assert sorted(p for a in kept.values() for p in a["t"]) == list(range(6))  # their last assignment
        # the classic members are told to rejoin, and get a share of the new target
        for member in generations:
            assert coord.heartbeat("g", member, None, generation) == E.REBALANCE_IN_PROGRESS
            joined, synced = await classic_rejoin(coord, member)
            assert (joined.protocol_type, joined.protocol_name, joined.leader, joined.members) == (
                "consumer", "range", "", [])
            assert synced.error == E.NONE
            assert read_assignment(synced.assignment) == group.members[member].assigned
        # an eager member gave everything up when it rejoined: on its next rejoin it gets its target
        for member in generations:
            if coord.heartbeat("g", member, None, group.members[member].member_epoch) == E.REBALANCE_IN_PROGRESS:
                await classic_rejoin(coord, member)
        assert all(group.members[m].member_epoch == group.group_epoch for m in generations)
        assert [(g.group_id, g.protocol_type, g.group_type) for g in coord.list_groups()] == [
            ("g", "consumer", "consumer")]
        await coord.stop()

        again = coordinator(storage=storage, before=coord)
        await again.start()
        copy = again.consumer.groups["g"]
        assert "g" not in again.groups
        assert {m: (x.member_epoch, x.assigned, x.classic) for m, x in copy.members.items()} == {
            m: (x.member_epoch, x.assigned, x.classic) for m, x in group.members.items()}
        member = next(iter(generations))
        assert again.heartbeat("g", member, None, copy.members[member].member_epoch) == E.NONE
        await again.stop()
    run(main())


def test_classic_members_commit_with_their_generation() -> None:
    async def main():
        coord = coordinator()
        generations = await classic_group(coord)
        member, generation = next(iter(generations.items()))
        kip848_join(coord)
        commit = [OffsetCommit("t", 0, 5)]
        assert coord.commit_offsets("g", generation, member, None, commit, api_version=8) == [E.NONE]
        assert coord.commit_offsets("g", generation + 1, member, None, commit, api_version=8) == [
            E.ILLEGAL_GENERATION]
        assert coord.heartbeat("g", member, None, generation + 1) == E.ILLEGAL_GENERATION
        assert coord.heartbeat("g", "nobody", None, generation) == E.UNKNOWN_MEMBER_ID
        assert (await coord.sync("g", generation, "new", None, "consumer", "range", {})).error == E.UNKNOWN_MEMBER_ID
        await coord.stop()
    run(main())


def test_the_last_kip848_member_leaving_downgrades_the_group() -> None:
    async def main():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        generations = await classic_group(coord)
        first = kip848_join(coord)
        epoch = coord.consumer.groups["g"].group_epoch
        left = coord.consumer_heartbeat(Heartbeat("g", first.member_id, -1))
        assert left.error == E.NONE
        assert "g" not in coord.consumer.groups
        group = coord.groups["g"]
        assert group.state == PREPARING_REBALANCE and group.generation == epoch
        assert set(group.members) == set(generations) and group.protocol_name == "range"
        # the classic members rejoin a classic rebalance, whose leader assigns again
        futures = [coord.join(join_request(member=m, session_ms=5000, rebalance_ms=5000)) for m in generations]
        await settle()
        joined = [f.result() for f in futures]
        assert {j.error for j in joined} == {E.NONE} and joined[0].generation == epoch + 1
        await coord.stop()

        again = coordinator(storage=storage, before=coord)
        await again.start()
        assert "g" not in again.consumer.groups and set(again.groups["g"].members) == set(generations)
        await again.stop()
    run(main())


def test_the_migration_policy_decides_which_way_a_group_may_go() -> None:
    async def main():
        coord = coordinator(replace(CONFIG, migration_policy="downgrade"))
        await classic_group(coord)
        refused = kip848_join(coord)
        assert refused.error == E.GROUP_ID_NOT_FOUND and "g" not in coord.consumer.groups
        assert coord.groups["g"].state == STABLE
        await coord.stop()

        coord = coordinator(replace(CONFIG, migration_policy="upgrade"))
        generations = await classic_group(coord)
        first = kip848_join(coord)
        assert first.error == E.NONE
        coord.consumer_heartbeat(Heartbeat("g", first.member_id, -1))
        group = coord.consumer.groups["g"]  # it stays a consumer group, of classic members only
        assert set(group.members) == set(generations) and "g" not in coord.groups
        await coord.stop()
    run(main())


def test_classic_joins_and_leaves_in_a_consumer_group() -> None:
    async def main():
        coord = coordinator()
        first = kip848_join(coord, "a")
        assert first.error == E.NONE and "g" in coord.consumer.groups
        asked = await coord.join(join_request(session_ms=5000))
        assert asked.error == E.MEMBER_ID_REQUIRED  # JoinGroup v4+, as from a classic group
        other = await coord.join(join_request(member=asked.member_id, protocol_type="connect"))
        assert other.error == E.INCONSISTENT_GROUP_PROTOCOL
        joined, synced = await classic_rejoin(coord, asked.member_id)
        assert (joined.error, synced.error) == (E.NONE, E.NONE)
        group = coord.consumer.groups["g"]
        assert group.members[asked.member_id].classic is not None and len(group.members) == 2
        unknown = await coord.join(join_request(member="x", protocols=[("roundrobin", subscription("t"))]))
        assert unknown.error == E.INCONSISTENT_GROUP_PROTOCOL  # the classic members all speak range only
        epoch = group.group_epoch
        assert coord.leave("g", [("a", None)]) == (E.NONE, [MemberLeave("a", None, E.UNKNOWN_MEMBER_ID)])
        assert coord.leave("g", [(asked.member_id, None)]) == (E.NONE, [MemberLeave(asked.member_id, None)])
        assert list(group.members) == ["a"] and group.group_epoch == epoch + 1
        await coord.stop()
    run(main())


def test_a_classic_member_that_does_not_rejoin_when_told_is_fenced() -> None:
    async def main():
        coord = coordinator()
        generations = await classic_group(coord)
        kip848_join(coord)
        member, generation = next(iter(generations.items()))
        coord.consumer.groups["g"].members[member].rebalance_timeout_ms = 30
        assert coord.heartbeat("g", member, None, generation) == E.REBALANCE_IN_PROGRESS
        await asyncio.sleep(0.1)
        assert member not in coord.consumer.groups["g"].members
        await coord.stop()
    run(main())


def test_a_classic_static_member_replacing_the_last_kip848_one_downgrades_without_a_rebalance() -> None:
    async def main():
        coord = coordinator()
        generations = await classic_group(coord)
        assert coord.consumer_heartbeat(Heartbeat("g", "new", 0, "i1", None, 5000, ["t"], owned={})).error == E.NONE
        target = coord.consumer.groups["g"].target["new"]
        joined = await coord.join(join_request(instance="i1", session_ms=5000, rebalance_ms=5000))
        assert joined.error == E.NONE and joined.member_id != "new"
        assert "g" not in coord.consumer.groups
        group = coord.groups["g"]
        assert group.state == STABLE and set(group.members) == set(generations) | {joined.member_id}
        assert group.static_members == {"i1": joined.member_id}
        assert read_assignment(group.members[joined.member_id].assignment) == target
        await coord.stop()
    run(main())
