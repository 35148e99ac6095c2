"""KIP-848 consumer groups: epochs, reconciliation (revoke before assign), errors, leaving and expiry."""

import asyncio

from kproto import ErrorCode as E

from kbroker.groups import GroupConfig, GroupCoordinator, MemoryGroupLog, OffsetCommit
from kbroker.groups.assignors import range_, uniform
from kbroker.groups.consumer_groups import Heartbeat

from helpers import join_request

TOPICS = {"t": 6}
CONFIG = GroupConfig(consumer_session_timeout_ms=80, consumer_heartbeat_interval_ms=20)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def coordinator(topics=TOPICS) -> GroupCoordinator:
    return GroupCoordinator(CONFIG, MemoryGroupLog(), topics=lambda: topics)


def join(coord, member: str, topics=("t",), instance=None, assignor=None):
    return coord.consumer.heartbeat(Heartbeat("g", member, 0, instance, None, 1000, list(topics), None, assignor, {}))


def beat(coord, member: str, epoch: int, owned=None, instance=None):
    return coord.consumer.heartbeat(Heartbeat("g", member, epoch, instance, owned=owned))


def total(assignment) -> int:
    return sum(len(p) for p in assignment.values())


def test_first_member_gets_everything_at_epoch_one() -> None:
    async def main():
        coord = coordinator()
        r = join(coord, "a")
        assert (r.error, r.member_id, r.member_epoch, r.heartbeat_interval_ms) == (E.NONE, "a", 1, 20)
        assert r.assignment == {"t": set(range(6))}
        assert coord.consumer.groups["g"].state == "Stable"
    run(main())


def test_partitions_move_only_after_the_owner_revokes_them() -> None:
    async def main():
        coord = coordinator()
        a = join(coord, "a")
        b = join(coord, "b")
        assert b.member_epoch == 2 and b.assignment == {}  # a still holds everything
        group = coord.consumer.groups["g"]
        assert group.state == "Reconciling"
        r = beat(coord, "a", 1, owned=a.assignment)  # a is told to give up half, keeping epoch 1
        assert r.member_epoch == 1 and total(r.assignment) == 3
        r2 = beat(coord, "b", 2)  # still nothing: a has not released
        assert r2.assignment in (None, {})
        r = beat(coord, "a", 1, owned=r.assignment)  # a revoked: it moves to epoch 2
        assert r.member_epoch == 2
        r2 = beat(coord, "b", 2, owned={})
        assert total(r2.assignment) == 3 and not set(r2.assignment["t"]) & set(r.assignment["t"] if r.assignment else group.members["a"].assigned["t"])
        assert group.state == "Stable"
    run(main())


def test_epoch_errors_as_kafka_sends_them() -> None:
    async def main():
        coord = coordinator()
        assert beat(coord, "x", 3).error == E.GROUP_ID_NOT_FOUND
        join(coord, "a")
        assert beat(coord, "x", 1).error == E.UNKNOWN_MEMBER_ID
        assert beat(coord, "a", 7).error == E.FENCED_MEMBER_EPOCH
        assert beat(coord, "a", 1).error == E.NONE
        first = coord.consumer.heartbeat(Heartbeat("g", "b", 0, subscribed_topics=["t"], owned={}))
        assert first.error == E.INVALID_REQUEST  # no rebalance timeout
        assert join(coord, "c", assignor="sticky").error == E.UNSUPPORTED_ASSIGNOR
        assert coord.consumer.heartbeat(Heartbeat("g", "a", 1, server_assignor="sticky")).error == E.UNSUPPORTED_ASSIGNOR
    run(main())


def test_static_member_must_be_released_before_it_rejoins() -> None:
    async def main():
        coord = coordinator()
        first = join(coord, "a", instance="i1")
        assert join(coord, "a2", instance="i1").error == E.UNRELEASED_INSTANCE_ID
        assert beat(coord, "a", -2, instance="i1").member_epoch == -2
        back = join(coord, "a2", instance="i1")
        assert back.error == E.NONE and back.member_epoch == first.member_epoch and back.assignment == first.assignment
        assert list(coord.consumer.groups["g"].members) == ["a2"]
    run(main())


def test_leaving_and_expiry_give_partitions_to_the_others() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a")
        join(coord, "b")
        assert beat(coord, "a", -1).member_epoch == -1
        r = beat(coord, "b", 2, owned={})
        assert r.assignment == {"t": set(range(6))} and r.member_epoch == 3
        await asyncio.sleep(0.15)  # b stops heartbeating: fenced after the session timeout
        assert coord.consumer.groups["g"].state == "Empty"
        assert beat(coord, "b", 3).error == E.UNKNOWN_MEMBER_ID
    run(main())


def test_new_partitions_trigger_a_new_target() -> None:
    async def main():
        topics = {"t": 2}
        coord = coordinator(topics)
        join(coord, "a")
        topics["t"] = 4
        r = beat(coord, "a", 1, owned={"t": {0, 1}})
        assert r.member_epoch == 2 and r.assignment == {"t": {0, 1, 2, 3}}
    run(main())


def test_offset_commits_check_member_and_epoch() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a")
        commit = [OffsetCommit("t", 0, 5)]
        assert coord.commit_offsets("g", 1, "a", None, commit) == [E.NONE]
        assert coord.commit_offsets("g", 9, "a", None, commit) == [E.STALE_MEMBER_EPOCH]
        assert coord.commit_offsets("g", 1, "zz", None, commit) == [E.UNKNOWN_MEMBER_ID]
        assert coord.commit_offsets("g", -1, "", None, commit) == [E.UNKNOWN_MEMBER_ID]
        assert [g.group_type for g in coord.list_groups(types=["consumer"])] == ["consumer"]
    run(main())


def test_assignors_balance_and_stick() -> None:
    subs = {m: frozenset({"t", "u"}) for m in "abc"}
    counts = {"t": 4, "u": 3}
    first = uniform(subs, counts, {})
    assert sorted(sum(len(p) for p in a.values()) for a in first.values()) == [2, 2, 3]
    after = uniform({m: subs[m] for m in "ab"}, counts, first)
    for m in "ab":  # survivors keep what they had
        for topic, parts in first[m].items():
            assert parts <= after[m].get(topic, set())
    assert range_(subs, {"t": 4}, {}) == {"a": {"t": {0, 1}}, "b": {"t": {2}}, "c": {"t": {3}}}


def test_groups_come_back_from_their_records() -> None:
    async def main():
        storage = MemoryGroupLog()
        coord = GroupCoordinator(CONFIG, storage, topics=lambda: TOPICS)
        a = join(coord, "a")
        join(coord, "b")
        a = beat(coord, "a", 1, owned=a.assignment)  # revoking half
        await coord.stop()
        again = GroupCoordinator(CONFIG, storage, topics=lambda: TOPICS, topic_ids=(coord.consumer.topic_id,
                                                                                    coord.consumer.topic_name))
        await again.start()
        before, after = coord.consumer.groups["g"], again.consumer.groups["g"]
        assert (after.group_epoch, after.assignment_epoch, after.target) == (
            before.group_epoch, before.assignment_epoch, before.target)
        for member_id, m in before.members.items():
            n = after.members[member_id]
            assert (n.member_epoch, n.state, n.assigned, n.pending_revocation, n.subscribed_topics) == (
                m.member_epoch, m.state, m.assigned, m.pending_revocation, m.subscribed_topics)
        assert beat(again, "b", 2, owned={}).error == E.NONE
        assert again.delete_groups(["g"]) == [("g", E.NON_EMPTY_GROUP)]
        await again.stop()
    run(main())


def test_an_empty_group_gives_way_to_the_other_protocol() -> None:
    async def main():
        coord = coordinator()
        commit = [OffsetCommit("t", 0, 5)]
        assert coord.commit_offsets("g", -1, "", None, commit) == [E.NONE]  # an empty classic group
        assert coord.consumer_heartbeat(Heartbeat("g", "a", 0, None, None, 1000, ["t"], owned={})).error == E.NONE
        assert "g" not in coord.groups and coord.fetch_offsets("g", None)[0][1][0][1].offset == 5
        assert beat(coord, "a", -1).error == E.NONE
        first = await coord.join(join_request(session_ms=6000))  # the empty consumer group gives way
        assert first.error == E.MEMBER_ID_REQUIRED and "g" not in coord.consumer.groups
        assert coord.consumer_heartbeat(Heartbeat("g", "b", 0, None, None, 1000, ["t"], owned={})).error == \
            E.GROUP_ID_NOT_FOUND
    run(main())


def test_describe_groups_answers_a_consumer_group_as_unknown() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a")
        d = coord.describe_group("g")
        assert (d.state, d.protocol_type, d.protocol, d.members, d.error) == ("Dead", "", "", [], E.NONE)
        assert [(g.group_id, g.protocol_type, g.state) for g in coord.list_groups()] == [("g", "consumer", "Stable")]
    run(main())


def test_offset_fetch_by_a_member_checks_its_epoch() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a")
        assert coord.check_fetch("g", "a", 1) == E.NONE
        assert coord.check_fetch("g", None, -1) == E.NONE  # a tool
        assert coord.check_fetch("g", "a", 5) == E.STALE_MEMBER_EPOCH
        assert coord.check_fetch("g", "x", 1) == E.UNKNOWN_MEMBER_ID
    run(main())


def test_offsets_expire_unless_the_group_consumes_their_topic() -> None:
    async def main():
        now = [0]
        coord = GroupCoordinator(GroupConfig(offsets_retention_ms=1000), MemoryGroupLog(), clock=lambda: now[0],
                                 topics=lambda: {"t": 6, "old": 1})
        join(coord, "a")
        assert coord.commit_offsets("g", 1, "a", None, [OffsetCommit("t", 0, 5), OffsetCommit("old", 0, 7)]) == \
            [E.NONE, E.NONE]
        now[0] = 5000
        assert coord.expire_offsets() == 1  # "old" is not subscribed
        assert [topic for topic, _ in coord.fetch_offsets("g", None)] == ["t"]
        assert beat(coord, "a", -1).error == E.NONE
        coord.expire_offsets()  # empty now: "t" goes, and the group with it
        assert "g" not in coord.consumer.groups and coord.fetch_offsets("g", None) == []
        await coord.stop()
    run(main())
