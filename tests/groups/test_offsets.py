"""Committed offsets: commit rules, fetch, delete, expiry, and surviving a restart through the records."""

import asyncio

from kproto import ErrorCode as E

from kbroker.groups import GroupConfig, MemoryGroupLog, OffsetCommit
from kbroker.groups.records import read_record
from kbroker.groups.states import STABLE

from helpers import coordinator, join_request


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_a_tool_commits_to_an_unknown_group_and_fetches_back() -> None:
    coord = coordinator()
    errors = coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 42, 3, "meta"), OffsetCommit("t", 1, 7)])
    assert errors == [E.NONE, E.NONE]
    [(topic, parts)] = coord.fetch_offsets("tool", [("t", [0, 1, 2])])
    assert topic == "t"
    assert [(p, o and (o.offset, o.leader_epoch, o.metadata)) for p, o in parts] == [
        (0, (42, 3, "meta")), (1, (7, -1, "")), (2, None)]
    assert coord.fetch_offsets("tool", None)[0][1][0][1].offset == 42
    assert coord.fetch_offsets("nobody", [("t", [0])]) == [("t", [(0, None)])]


def test_commit_checks_generation_member_and_metadata_size() -> None:
    async def scenario():
        coord = coordinator(GroupConfig(min_session_timeout_ms=10, initial_rebalance_delay_ms=0,
                                        offset_metadata_max_bytes=4))
        assert coord.commit_offsets("gone", 3, "m", None, [OffsetCommit("t", 0, 1)], api_version=8) == [E.ILLEGAL_GENERATION]
        assert coord.commit_offsets("gone", 3, "m", None, [OffsetCommit("t", 0, 1)]) == [E.GROUP_ID_NOT_FOUND]
        joined = await coord.join(join_request(require_known=False))
        m = joined.member_id
        # between the join answer and the sync: rebalance in progress
        assert coord.commit_offsets("g", 1, m, None, [OffsetCommit("t", 0, 1)]) == [E.REBALANCE_IN_PROGRESS]
        await coord.sync("g", 1, m, None, None, None, {m: b""})
        assert coord.commit_offsets("g", 1, m, None, [OffsetCommit("t", 0, 5), OffsetCommit("t", 1, 5, metadata="toolong")]) == [
            E.NONE, E.OFFSET_METADATA_TOO_LARGE]
        assert coord.commit_offsets("g", 0, m, None, [OffsetCommit("t", 0, 1)]) == [E.ILLEGAL_GENERATION]
        assert coord.commit_offsets("g", 1, "x", None, [OffsetCommit("t", 0, 1)]) == [E.UNKNOWN_MEMBER_ID]
        assert coord.commit_offsets("g", -1, "", None, [OffsetCommit("t", 0, 1)]) == [E.UNKNOWN_MEMBER_ID]
    run(scenario())


def test_offset_delete_keeps_subscribed_topics_of_a_live_group() -> None:
    async def scenario():
        coord = coordinator()
        joined = await coord.join(join_request(require_known=False))  # subscribes to topic "t"
        m = joined.member_id
        await coord.sync("g", 1, m, None, None, None, {m: b""})
        coord.commit_offsets("g", 1, m, None, [OffsetCommit("t", 0, 5), OffsetCommit("old", 0, 9)])
        error, results = coord.delete_offsets("g", [("t", [0]), ("old", [0])])
        assert error == E.NONE and results == [("t", [(0, E.GROUP_SUBSCRIBED_TO_TOPIC)]), ("old", [(0, E.NONE)])]
        assert coord.fetch_offsets("g", [("old", [0])]) == [("old", [(0, None)])]
        assert coord.delete_offsets("unknown", [("t", [0])])[0] == E.GROUP_ID_NOT_FOUND
        assert coord.delete_groups(["g", "unknown"]) == [("g", E.NON_EMPTY_GROUP), ("unknown", E.GROUP_ID_NOT_FOUND)]
    run(scenario())


def test_groups_and_offsets_survive_a_restart_through_their_records() -> None:
    async def scenario():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        joined = await coord.join(join_request(require_known=False, session_ms=5000))
        m = joined.member_id
        await coord.sync("g", 1, m, None, None, None, {m: b"assigned"})
        coord.commit_offsets("g", 1, m, None, [OffsetCommit("t", 0, 11, 2, "x")])
        coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 3)])
        await coord.stop()

        again = coordinator(storage=storage)
        await again.start()
        group = again.groups["g"]
        assert (group.state, group.generation, group.leader_id, group.protocol_name) == (STABLE, 1, m, "range")
        assert again.heartbeat("g", m, None, 1) == E.NONE
        assert (await again.sync("g", 1, m, None, None, None, {})).assignment == b"assigned"
        assert again.fetch_offsets("g", [("t", [0])])[0][1][0][1].offset == 11
        assert again.fetch_offsets("tool", None)[0][1][0][1].offset == 3
        assert [d.group_id for d in again.list_groups(["stable"])] == ["g"]
        await again.stop()
    run(scenario())


def test_deleting_a_group_writes_tombstones_that_a_restart_honours() -> None:
    async def scenario():
        storage = MemoryGroupLog()
        coord = coordinator(storage=storage)
        coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 3), OffsetCommit("t", 1, 4)])
        assert coord.delete_groups(["tool"]) == [("tool", E.NONE)]
        tombstones = [read_record(e.key, e.value) for _, e in storage.entries if e.value is None]
        assert len(tombstones) == 3
        again = coordinator(storage=storage)
        await again.start()
        assert "tool" not in again.groups and again.fetch_offsets("tool", None) == []
        await again.stop()
    run(scenario())


def test_offsets_of_an_empty_group_expire_after_retention() -> None:
    now = [1_000_000]
    coord = coordinator(GroupConfig(offsets_retention_ms=60_000), clock=lambda: now[0])
    coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 3)])
    now[0] += 59_000
    coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 1, 3)])
    now[0] += 2_000
    assert coord.expire_offsets() == 1
    assert coord.fetch_offsets("tool", None) == [("t", [(1, coord.offsets.get("tool", "t", 1))])]
    now[0] += 60_000
    assert coord.expire_offsets() == 1
    assert "tool" not in coord.groups


def test_list_and_describe_groups() -> None:
    async def scenario():
        coord = coordinator()
        joined = await coord.join(join_request(require_known=False))
        m = joined.member_id
        await coord.sync("g", 1, m, None, None, None, {m: b"x"})
        coord.commit_offsets("tool", -1, "", None, [OffsetCommit("t", 0, 3)])
        assert {(g.group_id, g.state, g.protocol_type) for g in coord.list_groups()} == {
            ("g", "Stable", "consumer"), ("tool", "Empty", "")}
        assert [g.group_id for g in coord.list_groups(["Empty"], ["CLASSIC"])] == ["tool"]
        assert coord.list_groups(types=["consumer"]) == []
        d = coord.describe_group("g")
        assert (d.state, d.protocol, d.members[0].assignment, d.members[0].client_host) == ("Stable", "range", b"x", "/127.0.0.1")
        assert coord.describe_group("missing").state == "Dead"
        await coord.stop()
    run(scenario())
