"""Share groups (KIP-932) with librdkafka's share consumer (confluent-kafka's `ShareConsumer`).

Records go to one member at a time under an acquisition lock; a released record comes back with a
higher delivery count, a record whose lock runs out goes to whoever fetches next, and a rejected
record, or one delivered `group.share.delivery.count.limit` times, is archived: the share-partition
start offset (DescribeShareGroupOffsets) moves past it and it is never delivered again.

A new share partition starts at the latest offset (`share.auto.offset.reset`), so each test first
waits until its group has fetched the partition, then produces.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable, Iterator

import pytest
from confluent_kafka import AcknowledgeType, Message, Producer, ShareConsumer

from kproto import ErrorCode
from kproto.messages import (
    ConsumerGroupHeartbeatRequest,
    DescribeShareGroupOffsetsRequest,
    JoinGroupRequest,
    ListGroupsRequest,
    MetadataRequest,
    OffsetCommitRequest,
    ShareAcknowledgeRequest,
    ShareFetchRequest,
    ShareGroupDescribeRequest,
    ShareGroupHeartbeatRequest,
)

from rawclient import RawClient

LOCK_MS = 2000
pytestmark = pytest.mark.broker_config({
    "group.share.min.record.lock.duration.ms": "1000",
    "group.share.record.lock.duration.ms": str(LOCK_MS),
    "group.share.delivery.count.limit": "3",
})
WAIT_S = 30  # how long any one expected thing may take before the test gives up


@pytest.fixture
def group() -> str:
    return f"share-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory()


NewMember = Callable[[], ShareConsumer]


@pytest.fixture
def consumer(bootstrap: str, group: str, topic: str) -> Iterator[NewMember]:
    """Makes members of `group` reading `topic` (explicit acknowledgement), closed at teardown."""
    made: list[ShareConsumer] = []

    def make() -> ShareConsumer:
        c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                           "share.acknowledgement.mode": "explicit"})
        c.subscribe([topic])
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def start_offset(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(share-partition start offset, lag) of partition 0, as DescribeShareGroupOffsets v1 gives them."""
    R = DescribeShareGroupOffsetsRequest
    with RawClient(bootstrap) as client:
        [answer] = client.request(R(groups=[R.DescribeShareGroupOffsetsRequestGroup(group_id=group, topics=[
            R.DescribeShareGroupOffsetsRequestTopic(topic_name=topic, partitions=[0])])]), 1).groups
    if answer.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return -1, -1
    [part] = answer.topics[0].partitions
    return part.start_offset, part.lag


def until(what: str, step: Callable[[], bool]) -> None:
    """Run `step` until it says done; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not step():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"


def started(bootstrap: str, group: str, topic: str, c: ShareConsumer) -> None:
    """Poll until the group has fetched the partition: from then on, produced records are its."""
    def step() -> bool:
        assert not c.poll(0.2)
        return start_offset(bootstrap, group, topic)[0] >= 0
    until(f"{group} fetching {topic}", step)


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """One batch of `values`. The flush sends at once whatever the linger: the long linger only keeps
    the first value from going alone when the test is held up between two produce calls (a loaded
    machine), which split them over two batches, so that a share poll could hand over one."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 30_000})
    for v in values:
        p.produce(topic, v, partition=0)
    assert p.flush(WAIT_S) == 0


def take(c: ShareConsumer, count: int) -> list[Message]:
    """Poll until `count` records came (more is a failure)."""
    got: list[Message] = []

    def step() -> bool:
        for m in c.poll(0.5) or []:
            assert m.error() is None, m.error()
            got.append(m)
        return len(got) >= count
    until(f"{count} records", step)
    assert len(got) == count, [m.value() for m in got]
    return got


def settle(c: ShareConsumer, messages: list[Message], kind: AcknowledgeType = AcknowledgeType.ACCEPT) -> None:
    for m in messages:
        c.acknowledge(m, kind)
    c.commit_sync(WAIT_S)


def values(messages: list[Message]) -> list[bytes]:
    return [m.value() for m in messages]


def test_members_sharing_a_partition_each_get_different_records(bootstrap: str, group: str, topic: str,
                                                                consumer: NewMember) -> None:
    """b joins while a holds the first records: it gets the next ones. (b joins late because a
    consumer keeps a fetch waiting at the broker between polls, which takes whatever comes.)"""
    a = consumer()
    started(bootstrap, group, topic, a)
    first = [b"a%d" % i for i in range(5)]
    produce(bootstrap, topic, first)
    held_by_a = take(a, 5)  # a holds these until it acknowledges them
    second = [b"b%d" % i for i in range(5)]
    produce(bootstrap, topic, second)
    b = consumer()
    got_by_b = take(b, 5)
    assert (values(held_by_a), values(got_by_b)) == (first, second)
    assert {m.delivery_count() for m in held_by_a + got_by_b} == {1}
    settle(a, held_by_a)
    settle(b, got_by_b)
    until("every record acknowledged", lambda: start_offset(bootstrap, group, topic) == (10, 0))


def test_a_released_record_is_delivered_again_with_a_higher_count(bootstrap: str, group: str, topic: str,
                                                                  consumer: NewMember) -> None:
    c = consumer()
    started(bootstrap, group, topic, c)
    produce(bootstrap, topic, [b"keep", b"again", b"keep too"])
    first = take(c, 3)
    c.acknowledge(first[0], AcknowledgeType.ACCEPT)
    c.acknowledge(first[1], AcknowledgeType.RELEASE)
    c.acknowledge(first[2], AcknowledgeType.ACCEPT)
    c.commit_sync(WAIT_S)
    [redelivered] = take(c, 1)
    assert (redelivered.value(), redelivered.offset(), redelivered.delivery_count()) == (b"again", 1, 2)
    settle(c, [redelivered])
    until("the partition settled", lambda: start_offset(bootstrap, group, topic) == (3, 0))


def test_records_whose_lock_runs_out_go_to_another_member(bootstrap: str, group: str, topic: str,
                                                          consumer: NewMember) -> None:
    """a takes the records and never acknowledges them; after the lock duration b gets them."""
    a = consumer()
    started(bootstrap, group, topic, a)
    produce(bootstrap, topic, [b"r0", b"r1"])
    take(a, 2)
    b = consumer()
    moved = take(b, 2)
    assert [(m.value(), m.delivery_count()) for m in moved] == [(b"r0", 2), (b"r1", 2)]
    settle(b, moved)
    until("the partition settled", lambda: start_offset(bootstrap, group, topic) == (2, 0))


def test_rejected_and_poison_records_are_archived(bootstrap: str, group: str, topic: str,
                                                  consumer: NewMember) -> None:
    """A rejected record is never delivered again; one released at every delivery goes after the
    limit (3 here). The start offset passes both, and the records after them are delivered."""
    c = consumer()
    started(bootstrap, group, topic, c)
    produce(bootstrap, topic, [b"rejected", b"poison"])
    [rejected, poison] = take(c, 2)
    c.acknowledge(rejected, AcknowledgeType.REJECT)
    c.acknowledge(poison, AcknowledgeType.RELEASE)
    c.commit_sync(WAIT_S)
    for delivery in (2, 3):
        [again] = take(c, 1)
        assert (again.value(), again.delivery_count()) == (b"poison", delivery)
        settle(c, [again], AcknowledgeType.RELEASE)
    until("both archived", lambda: start_offset(bootstrap, group, topic) == (2, 0))
    produce(bootstrap, topic, [b"after"])
    [after] = take(c, 1)
    assert (after.value(), after.offset(), after.delivery_count()) == (b"after", 2, 1)
    settle(c, [after])


def test_the_group_is_listed_and_described_as_a_share_group(bootstrap: str, group: str, topic: str,
                                                            consumer: NewMember) -> None:
    c = consumer()
    started(bootstrap, group, topic, c)
    with RawClient(bootstrap) as client:
        listed = client.request(ListGroupsRequest(types_filter=["share"]), 5).groups
        assert [(g.group_id, g.protocol_type, g.group_state, g.group_type) for g in listed
                if g.group_id == group] == [(group, "share", "Stable", "share")]
        [described] = client.request(ShareGroupDescribeRequest(group_ids=[group]), 1).groups
    assert (described.error_code, described.group_state, described.assignor_name) == (0, "Stable", "simple")
    [member] = described.members
    [assigned] = member.assignment.topic_partitions
    assert (member.subscribed_topic_names, assigned.topic_name, assigned.partitions) == ([topic], topic, [0])


# ---------------------------------------------------------------- exact requests: Kafka's error codes


class Member:
    """A share group member speaking the protocol by hand: heartbeat, fetch and acknowledge."""

    def __init__(self, client: RawClient, group: str, topic_id: uuid.UUID) -> None:
        self.client, self.group, self.topic_id = client, group, topic_id
        self.member_id, self.epoch = str(uuid.uuid4()), 0

    def fetch(self, epoch: int, acks: list[tuple[int, int, int]] = (), wait_ms: int = 0):
        R = ShareFetchRequest
        batches = [R.AcknowledgementBatch(first_offset=f, last_offset=l, acknowledge_types=[t]) for f, l, t in acks]
        return self.client.request(R(group_id=self.group, member_id=self.member_id, share_session_epoch=epoch,
                                     max_wait_ms=wait_ms, min_bytes=1, max_records=100, batch_size=100, topics=[
                                         R.FetchTopic(topic_id=self.topic_id, partitions=[R.FetchPartition(
                                             partition_index=0, acknowledgement_batches=batches)])]), 1)

    def acknowledge(self, epoch: int, acks: list[tuple[int, int, int]]):
        R = ShareAcknowledgeRequest
        return self.client.request(R(group_id=self.group, member_id=self.member_id, share_session_epoch=epoch, topics=[
            R.AcknowledgeTopic(topic_id=self.topic_id, partitions=[R.AcknowledgePartition(
                partition_index=0, acknowledgement_batches=[
                    R.AcknowledgementBatch(first_offset=f, last_offset=l, acknowledge_types=[t]) for f, l, t in acks])])]),
            1)


def acquired(answer) -> list[tuple[int, int, int]]:
    return [(a.first_offset, a.last_offset, a.delivery_count)
            for t in answer.responses for p in t.partitions for a in p.acquired_records]


def partition_errors(answer) -> list[tuple[int, int]]:
    return [(p.error_code, p.acknowledge_error_code) for t in answer.responses for p in t.partitions]


@pytest.fixture
def members(bootstrap: str, group: str, topic: str):
    """Two members of `group` fetching `topic`, which holds three records the group has not seen."""
    with RawClient(bootstrap) as client:
        topic_id = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                                  12).topics[0].topic_id
        a, b = Member(client, group, topic_id), Member(client, group, topic_id)
        for m in (a, b):
            joined = client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=m.member_id, member_epoch=0,
                                                               subscribed_topic_names=[topic]), 1)
            assert joined.error_code == 0
            m.epoch = joined.member_epoch
            assert m.fetch(0).error_code == 0  # opens the session; the partition starts at the log end
        produce(bootstrap, topic, [b"x", b"y", b"z"])
        yield a, b


def test_a_record_held_by_another_member_cannot_be_acknowledged(members) -> None:
    a, b = members
    assert acquired(a.fetch(1, wait_ms=WAIT_S * 1000)) == [(0, 2, 1)]
    refused = b.acknowledge(1, [(0, 2, 1)])
    assert [(p.partition_index, p.error_code) for t in refused.responses for p in t.partitions] == \
        [(0, ErrorCode.INVALID_RECORD_STATE)]
    assert partition_errors(a.fetch(2, acks=[(0, 2, 1)])) == [(0, 0)]  # a still holds them all


def test_a_closed_share_session_gives_its_records_to_another_member(members) -> None:
    a, b = members
    assert acquired(a.fetch(1, wait_ms=WAIT_S * 1000)) == [(0, 2, 1)]
    assert a.fetch(-1, acks=[(0, 0, 1)]).error_code == 0  # accepts one, then leaves the rest
    assert acquired(b.fetch(1)) == [(1, 2, 2)]


def test_share_session_epochs(members) -> None:
    a, b = members
    assert a.fetch(5).error_code == ErrorCode.INVALID_SHARE_SESSION_EPOCH
    assert a.fetch(1).error_code == 0
    assert a.fetch(1).error_code == ErrorCode.INVALID_SHARE_SESSION_EPOCH  # the epoch has moved on
    assert a.acknowledge(0, []).error_code == ErrorCode.INVALID_SHARE_SESSION_EPOCH
    assert a.fetch(0, acks=[(0, 0, 1)]).error_code == ErrorCode.INVALID_REQUEST  # nothing to acknowledge yet
    stranger = Member(a.client, a.group, a.topic_id)
    assert stranger.fetch(1).error_code == ErrorCode.SHARE_SESSION_NOT_FOUND
    assert stranger.acknowledge(-1, []).error_code == ErrorCode.SHARE_SESSION_NOT_FOUND


def test_heartbeat_errors(bootstrap: str, group: str, topic: str, members) -> None:
    a, _ = members
    R = ShareGroupHeartbeatRequest
    assert a.client.request(R(group_id=group, member_id=a.member_id, member_epoch=a.epoch + 5), 1).error_code == \
        ErrorCode.FENCED_MEMBER_EPOCH
    assert a.client.request(R(group_id=group, member_id=str(uuid.uuid4()), member_epoch=1), 1).error_code == \
        ErrorCode.UNKNOWN_MEMBER_ID
    assert a.client.request(R(group_id=group, member_id=a.member_id, member_epoch=-1), 1).error_code == 0
    assert a.client.request(R(group_id=group, member_id=a.member_id, member_epoch=a.epoch), 1).error_code == \
        ErrorCode.UNKNOWN_MEMBER_ID


def test_a_group_id_belongs_to_one_kind_of_group(bootstrap: str, group: str, topic: str) -> None:
    """A share group's id refuses classic and KIP-848 members, and a classic group's refuses share members."""
    with RawClient(bootstrap) as client:
        assert client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=str(uuid.uuid4()), member_epoch=0,
                                                         subscribed_topic_names=[topic]), 1).error_code == 0
        joined = client.request(JoinGroupRequest(group_id=group, member_id="", session_timeout_ms=30_000,
                                                 rebalance_timeout_ms=30_000, protocol_type="consumer",
                                                 protocols=[]), 5)
        assert joined.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        assert client.request(ConsumerGroupHeartbeatRequest(
            group_id=group, member_id=str(uuid.uuid4()), member_epoch=0, rebalance_timeout_ms=30_000,
            subscribed_topic_names=[topic], topic_partitions=[]), 1).error_code == ErrorCode.GROUP_ID_NOT_FOUND
        classic = f"{group}-classic"
        assert client.request(OffsetCommitRequest(group_id=classic, topics=[
            OffsetCommitRequest.OffsetCommitRequestTopic(name=topic, partitions=[
                OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=0)])]),
            8).topics[0].partitions[0].error_code == 0
        refused = client.request(ShareGroupHeartbeatRequest(group_id=classic, member_id=str(uuid.uuid4()),
                                                            member_epoch=0, subscribed_topic_names=[topic]), 1)
        assert (refused.error_code, refused.error_message) == (ErrorCode.GROUP_ID_NOT_FOUND,
                                                               f"Group {classic} is not a share group.")
