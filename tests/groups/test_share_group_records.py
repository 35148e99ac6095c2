"""Share groups in `__consumer_offsets`: what a coordinator writes, another replays to the same groups."""

import asyncio

from kproto import ErrorCode as E
from kproto.codec import decode

from kbroker.groups import GroupConfig, GroupCoordinator, MemoryGroupLog
from kbroker.groups import share_records
from kbroker.groups.records import VERSION
from kbroker.groups.share_groups import ShareConfig, ShareHeartbeat

TOPICS = {"t": 3, "u": 2}
SHARE = ShareConfig(session_timeout_ms=200, heartbeat_interval_ms=20)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def coordinator(storage: MemoryGroupLog | None = None, like: GroupCoordinator | None = None,
                clustered: bool = False) -> GroupCoordinator:
    """On `storage`, knowing topics by the ids `like` gave them."""
    ids = None if like is None else (like.consumer.topic_id, like.consumer.topic_name)
    return GroupCoordinator(GroupConfig(), storage or MemoryGroupLog(), topics=lambda: TOPICS,
                            topic_ids=ids, clustered=clustered, share_config=SHARE)


async def restarted(coord: GroupCoordinator) -> GroupCoordinator:
    """The coordinator stopped, and another started on its records (and topic ids)."""
    await coord.stop()
    again = coordinator(coord.storage, like=coord)
    await again.start()
    return again


def join(coord: GroupCoordinator, member: str, topics=("t",), rack: str | None = None):
    return coord.share_heartbeat(ShareHeartbeat("g", member, 0, rack, list(topics), "client", "/127.0.0.1"))


def beat(coord: GroupCoordinator, member: str, epoch: int):
    return coord.share_heartbeat(ShareHeartbeat("g", member, epoch))


def kinds(storage: MemoryGroupLog) -> list[tuple[int, bool]]:
    """Each record written: its key type, and whether it is a tombstone."""
    return [(VERSION.unpack_from(e.key)[0], e.value is None) for _, e in storage.entries]


def test_share_groups_come_back_from_their_records() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a", rack="r1")
        join(coord, "b", topics=("t", "u"))
        assert beat(coord, "a", 1).member_epoch == 2
        coord.share.initialized("g", "t", 0)
        coord.share.initialized("g", "u", 1)
        again = await restarted(coord)
        before, after = coord.share.groups["g"], again.share.groups["g"]
        assert (after.group_epoch, after.assignment_epoch, after.topic_partitions, after.initialized) == (
            before.group_epoch, before.assignment_epoch, before.topic_partitions, {"t": {0}, "u": {1}})
        for member_id, m in before.members.items():
            n = after.members[member_id]
            assert (n.member_epoch, n.previous_member_epoch, n.assigned, n.subscribed_topics, n.rack_id,
                    n.client_id, n.client_host) == (m.member_epoch, m.previous_member_epoch, m.assigned,
                                                    m.subscribed_topics, m.rack_id, m.client_id, m.client_host)
        assert [(g.group_id, g.group_type, g.state) for g in again.list_groups()] == [("g", "share", "Stable")]
        answer = beat(again, "a", 2)  # its old id and epoch: it carries on
        assert (answer.error, answer.member_epoch) == (E.NONE, 2)
        assert beat(again, "b", 1).error == E.FENCED_MEMBER_EPOCH
        await again.stop()
    run(main())


def test_members_time_out_after_a_load_and_an_empty_group_stays() -> None:
    async def main():
        coord = coordinator()
        join(coord, "a")
        again = await restarted(coord)
        group = again.share.groups["g"]
        while group.members:  # its session runs out
            await asyncio.sleep(0.02)
        assert (group.members, group.group_epoch, group.state) == ({}, 2, "Empty")
        third = await restarted(again)
        assert (third.share.groups["g"].group_epoch, third.share.groups["g"].members) == (2, {})
        assert beat(third, "a", 1).error == E.UNKNOWN_MEMBER_ID
        await third.stop()
    run(main())


def test_a_deleted_share_group_leaves_tombstones() -> None:
    async def main():
        storage = MemoryGroupLog()
        coord = coordinator(storage)
        join(coord, "a")
        coord.share.initialized("g", "t", 2)
        assert coord.share_heartbeat(ShareHeartbeat("g", "a", -1)).error == E.NONE
        written = len(storage.entries)
        assert coord.delete_groups(["g"]) == [("g", E.NONE)]
        M = share_records
        assert kinds(storage)[written:] == [(M.TARGET_EPOCH, True), (M.STATE_PARTITIONS, True), (M.GROUP, True)]
        again = await restarted(coord)
        assert again.share.groups == {} and again.list_groups() == []
        await again.stop()
    run(main())


def test_records_are_kafkas() -> None:
    """Key types and values as Kafka's group coordinator writes and reads them."""
    async def main():
        storage = MemoryGroupLog()
        coord = coordinator(storage)
        join(coord, "a")
        coord.share.initialized("g", "t", 1)
        M = share_records
        assert kinds(storage) == [(M.MEMBER, False), (M.GROUP, False), (M.TARGET_MEMBER, False),
                                  (M.TARGET_EPOCH, False), (M.CURRENT, False), (M.STATE_PARTITIONS, False)]
        key, value = storage.entries[-1][1].key, storage.entries[-1][1].value
        assert decode(M.KINDS.keys[M.STATE_PARTITIONS], M.STATE_PARTITIONS, key, 2).group_id == "g"
        stored = decode(M.KINDS.values[M.STATE_PARTITIONS], 0, value, 2)
        assert [(t.topic_id, t.topic_name, t.partitions) for t in stored.initialized_topics] == [
            (coord.consumer.topic_id("t"), "t", [1])]
        assert stored.deleting_topics == []
        await coord.stop()
    run(main())


def test_a_cluster_coordinator_loads_share_groups_with_their_partition() -> None:
    """Share APIs are not served in a cluster, but the records are read and forgotten with the
    offsets partition the broker takes over and gives up."""
    async def main():
        storage = MemoryGroupLog()
        coord = coordinator(storage)
        join(coord, "a")
        await coord.stop()
        clustered = coordinator(storage, like=coord, clustered=True)
        await clustered.start()
        assert clustered.share.groups == {}
        clustered.elected(0)
        assert clustered.share.groups["g"].group_epoch == 1
        clustered.resigned(0)
        assert clustered.share.groups == {} and clustered.list_groups() == []
        await clustered.stop()
    run(main())
