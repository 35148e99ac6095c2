"""The classic rebalance protocol against a coordinator on memory storage, with short timeouts."""

import asyncio

from kproto import ErrorCode as E

from kbroker.groups import GroupConfig
from kbroker.groups.states import COMPLETING_REBALANCE, EMPTY, PREPARING_REBALANCE, STABLE

from helpers import FAST, coordinator, join_new, join_request, settle, subscription


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


async def form_group(coord, count: int, **kwargs):
    """`count` members joined and synced into one generation; returns their join results."""
    pending = [await join_new(coord, **kwargs) for _ in range(count)]
    results = [await f for f in pending]
    leader = next(r for r in results if r.members)
    assignments = {m.member_id: m.member_id.encode() for m in leader.members}
    syncs = [coord.sync("g", r.generation, r.member_id, None, "consumer", r.protocol_name,
                        assignments if r is leader else {}) for r in results]
    for sync, result in zip(syncs, results):
        answer = await sync
        assert answer.error == E.NONE
        assert answer.assignment == result.member_id.encode()
    return results


async def joined_pair(coord):
    """Two members' join answers for generation 1, leader first, before anyone syncs."""
    pending = [await join_new(coord) for _ in range(2)]
    a, b = [await p for p in pending]
    return (a, b) if a.members else (b, a)


def test_first_join_asks_for_a_member_id_then_forms_generation_one() -> None:
    async def scenario():
        coord = coordinator()
        first = coord.join(join_request()).result()
        assert first.error == E.MEMBER_ID_REQUIRED and first.member_id.startswith("client-")
        joined = await coord.join(join_request(member=first.member_id))
        assert (joined.error, joined.generation, joined.leader, joined.protocol_name) == (
            E.NONE, 1, first.member_id, "range")
        assert [m.member_id for m in joined.members] == [first.member_id]
        assert coord.groups["g"].state is COMPLETING_REBALANCE
        sync = await coord.sync("g", 1, joined.member_id, None, "consumer", "range", {joined.member_id: b"a"})
        assert (sync.error, sync.assignment, sync.protocol_type) == (E.NONE, b"a", "consumer")
        assert coord.groups["g"].state is STABLE
        assert coord.heartbeat("g", joined.member_id, None, 1) == E.NONE
        assert coord.heartbeat("g", joined.member_id, None, 0) == E.ILLEGAL_GENERATION
        assert coord.heartbeat("g", "who", None, 1) == E.UNKNOWN_MEMBER_ID
    run(scenario())


def test_old_clients_join_without_a_member_id_round_trip() -> None:
    async def scenario():
        coord = coordinator()
        joined = await coord.join(join_request(require_known=False))
        assert joined.error == E.NONE and joined.generation == 1
    run(scenario())


def test_a_new_member_makes_everyone_rejoin_and_only_the_leader_sees_members() -> None:
    async def scenario():
        coord = coordinator()
        (a,) = await form_group(coord, 1)
        b_pending = await join_new(coord)
        await settle()
        assert not b_pending.done()
        assert coord.groups["g"].state is PREPARING_REBALANCE
        assert coord.heartbeat("g", a.member_id, None, 1) == E.REBALANCE_IN_PROGRESS
        a2 = await coord.join(join_request(member=a.member_id))
        b = await b_pending
        assert a2.generation == b.generation == 2
        assert {m.member_id for m in a2.members} == {a.member_id, b.member_id}
        assert b.members == [] and b.leader == a.member_id
    run(scenario())


def test_a_member_that_stops_heartbeating_is_removed_after_its_session() -> None:
    async def scenario():
        coord = coordinator()
        a, b = await form_group(coord, 2, session_ms=200)
        for _ in range(2):
            await asyncio.sleep(0.08)
            assert coord.heartbeat("g", a.member_id, None, 1) == E.NONE
        await asyncio.sleep(0.1)
        assert b.member_id not in coord.groups["g"].members
        assert coord.heartbeat("g", a.member_id, None, 1) == E.REBALANCE_IN_PROGRESS
        again = await coord.join(join_request(member=a.member_id, session_ms=200))
        assert again.generation == 2 and [m.member_id for m in again.members] == [a.member_id]
    run(scenario())


def test_members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() -> None:
    async def scenario():
        coord = coordinator()
        a, b = await form_group(coord, 2, session_ms=5000, rebalance_ms=300)
        pending = coord.join(join_request(member=a.member_id, session_ms=5000, rebalance_ms=300))
        await asyncio.sleep(0.1)
        assert not pending.done()
        result = await pending
        assert result.generation == 2 and [m.member_id for m in result.members] == [a.member_id]
        assert coord.heartbeat("g", b.member_id, None, 1) == E.UNKNOWN_MEMBER_ID
    run(scenario())


def test_leaving_members_trigger_a_rebalance_and_the_last_one_empties_the_group() -> None:
    async def scenario():
        coord = coordinator()
        a, b = await form_group(coord, 2)
        error, results = coord.leave("g", [(b.member_id, None), ("ghost", None)])
        assert error == E.NONE and [r.error for r in results] == [E.NONE, E.UNKNOWN_MEMBER_ID]
        assert coord.groups["g"].state is PREPARING_REBALANCE
        coord.leave("g", [(a.member_id, None)])
        assert coord.groups["g"].state is EMPTY and coord.groups["g"].generation == 2
        assert coord.leave("nope", [("x", None)])[0] == E.UNKNOWN_MEMBER_ID
    run(scenario())


def test_initial_delay_gathers_members_into_one_generation() -> None:
    async def scenario():
        coord = coordinator(GroupConfig(min_session_timeout_ms=10, initial_rebalance_delay_ms=1000))
        first = await join_new(coord)
        await asyncio.sleep(0.05)
        second = await join_new(coord)
        results = [await first, await second]
        assert {r.generation for r in results} == {1}
        assert sum(1 for r in results if r.members) == 1
    run(scenario())


def test_static_member_rejoins_a_stable_group_without_a_rebalance() -> None:
    async def scenario():
        coord = coordinator()
        pending = [coord.join(join_request(instance=f"i{n}")) for n in range(2)]
        a, b = [await p for p in pending]
        leader = a if a.members else b
        follower = b if leader is a else a
        assignment = {leader.member_id: b"L", follower.member_id: b"F"}
        syncs = [coord.sync("g", 1, r.member_id, i, None, None, assignment if r is leader else {})
                 for r, i in ((a, "i0"), (b, "i1"))]
        [await s for s in syncs]
        instance = "i0" if follower is a else "i1"
        back = await coord.join(join_request(instance=instance))
        assert back.error == E.NONE and back.generation == 1 and back.member_id != follower.member_id
        assert coord.groups["g"].state is STABLE
        sync = await coord.sync("g", 1, back.member_id, instance, None, None, {})
        assert sync.assignment == b"F"
        assert coord.heartbeat("g", follower.member_id, instance, 1) == E.FENCED_INSTANCE_ID
        assert coord.heartbeat("g", leader.member_id, "i0" if leader is a else "i1", 1) == E.NONE
        # and a static member can leave by instance id alone
        error, results = coord.leave("g", [("", instance)])
        assert results[0].error == E.NONE and back.member_id not in coord.groups["g"].members
    run(scenario())


def test_static_leader_rejoining_is_told_to_skip_assignment() -> None:
    async def scenario():
        coord = coordinator()
        first = await coord.join(join_request(instance="solo"))
        await coord.sync("g", 1, first.member_id, "solo", None, None, {first.member_id: b"x"})
        again = await coord.join(join_request(instance="solo"))
        assert again.skip_assignment and again.leader == again.member_id and again.generation == 1
    run(scenario())


def test_group_max_size_refuses_extra_members() -> None:
    async def scenario():
        coord = coordinator(GroupConfig(min_session_timeout_ms=10, initial_rebalance_delay_ms=0, max_size=1))
        await form_group(coord, 1)
        extra = coord.join(join_request(require_known=False))
        assert (await extra).error == E.GROUP_MAX_SIZE_REACHED
    run(scenario())


def test_request_checks_answer_kafkas_errors() -> None:
    async def scenario():
        coord = coordinator()
        assert coord.join(join_request(session_ms=1)).result().error == E.INVALID_SESSION_TIMEOUT
        assert coord.join(join_request(group="")).result().error == E.INVALID_GROUP_ID
        assert coord.join(join_request(member="stranger")).result().error == E.UNKNOWN_MEMBER_ID
        assert coord.sync("none", 1, "m", None, None, None, {}).result().error == E.UNKNOWN_MEMBER_ID
        (a,) = await form_group(coord, 1)
        other = coord.join(join_request(protocols=[("other", b"")], require_known=False)).result()
        assert other.error == E.INCONSISTENT_GROUP_PROTOCOL
        wrong = coord.join(join_request(protocol_type="connect", require_known=False)).result()
        assert wrong.error == E.INCONSISTENT_GROUP_PROTOCOL
        assert coord.sync("g", 1, a.member_id, None, "connect", None, {}).result().error == E.INCONSISTENT_GROUP_PROTOCOL
        assert coord.sync("g", 9, a.member_id, None, None, None, {}).result().error == E.ILLEGAL_GENERATION
    run(scenario())


def test_a_member_without_an_assignment_gets_an_empty_one() -> None:
    async def scenario():
        coord = coordinator()
        leader, follower = await joined_pair(coord)
        waiting = coord.sync("g", 1, follower.member_id, None, None, None, {})
        await coord.sync("g", 1, leader.member_id, None, None, None, {leader.member_id: b"all"})
        answer = await waiting
        assert (answer.error, answer.assignment) == (E.NONE, b"")
    run(scenario())


def test_other_protocol_types_carry_opaque_metadata() -> None:
    async def scenario():
        coord = coordinator()
        joined = await coord.join(join_request(protocol_type="connect", protocols=[("sessioned", b"\xff\x00opaque")],
                                               require_known=False))
        assert joined.members[0].metadata == b"\xff\x00opaque"
        sync = await coord.sync("g", 1, joined.member_id, None, "connect", "sessioned", {joined.member_id: b"\x01"})
        assert sync.assignment == b"\x01"
    run(scenario())


def test_a_rebalance_during_sync_answers_waiting_members_rebalance_in_progress() -> None:
    async def scenario():
        coord = coordinator()
        _, follower = await joined_pair(coord)
        waiting = coord.sync("g", 1, follower.member_id, None, None, None, {})
        newcomer = await join_new(coord)
        assert (await waiting).error == E.REBALANCE_IN_PROGRESS
        newcomer.cancel()
    run(scenario())


def test_fast_config_is_used_by_default() -> None:
    assert FAST.initial_rebalance_delay_ms == 0 and subscription("t")


def test_a_zero_rebalance_timeout_leaves_no_time_to_sync_as_in_kafka() -> None:
    """Kafka's classic coordinator (4.x included) arms the pending-sync timer with the group's
    rebalance timeout, the largest of its members'; at 0 it fires at once, and a member that
    syncs after it is unknown. Another member's longer timeout gives everyone that time."""
    async def scenario():
        coord = coordinator()
        alone = await (await join_new(coord, rebalance_ms=0))
        await settle()
        sync = await coord.sync("g", alone.generation, alone.member_id, None, "consumer", "range", {})
        assert sync.error == E.UNKNOWN_MEMBER_ID
        assert coord.groups["g"].state is EMPTY and not coord.groups["g"].members

        coord = coordinator()
        hasty, patient = [await join_new(coord, rebalance_ms=ms) for ms in (0, 1000)]
        hasty, patient = await hasty, await patient
        await settle()
        syncs = [coord.sync("g", r.generation, r.member_id, None, "consumer", "range", {}) for r in (hasty, patient)]
        assert [(await s).error for s in syncs] == [E.NONE, E.NONE]
    run(scenario())
