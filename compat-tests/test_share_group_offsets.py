"""AlterShareGroupOffsets and DeleteShareGroupOffsets: an empty share group's start offsets moved
or forgotten, and Kafka's error codes for everything else."""

from __future__ import annotations

import uuid

import pytest

from kproto import ErrorCode
from kproto.messages import (
    AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest, DescribeShareGroupOffsetsRequest,
    OffsetCommitRequest, ProduceRequest, ShareGroupHeartbeatRequest,
)
from kproto.records import Record, build_batch

from rawclient import RawClient
from share_requests import open_session

A, D = AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest


@pytest.fixture
def client(bootstrap: str):
    with RawClient(bootstrap) as c:
        yield c


@pytest.fixture
def topic(topic_factory) -> str:
    return topic_factory()


def join(client: RawClient, group: str, topic: str) -> str:
    member = str(uuid.uuid4())
    answer = client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=0,
                                                       subscribed_topic_names=[topic]), 1)
    assert answer.error_code == 0
    return member


def leave(client: RawClient, group: str, member: str) -> None:
    assert client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=-1), 1).error_code == 0


def alter(client: RawClient, group: str, topic: str, offsets: dict[int, int]):
    return client.request(A(group_id=group, topics=[A.AlterShareGroupOffsetsRequestTopic(topic_name=topic, partitions=[
        A.AlterShareGroupOffsetsRequestPartition(partition_index=i, start_offset=o) for i, o in offsets.items()])]), 0)


def delete(client: RawClient, group: str, topics: list[str]):
    return client.request(D(group_id=group, topics=[D.DeleteShareGroupOffsetsRequestTopic(topic_name=t)
                                                    for t in topics]), 0)


def start_offset(client: RawClient, group: str, topic: str) -> int:
    R = DescribeShareGroupOffsetsRequest
    [answer] = client.request(R(groups=[R.DescribeShareGroupOffsetsRequestGroup(group_id=group, topics=[
        R.DescribeShareGroupOffsetsRequestTopic(topic_name=topic, partitions=[0])])]), 1).groups
    return answer.topics[0].partitions[0].start_offset


def produce(client: RawClient, topic: str, count: int) -> None:
    batch = build_batch([Record(i, 0, None, b"v%d" % i) for i in range(count)])
    answer = client.request(ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])]), 9)
    assert answer.responses[0].partition_responses[0].error_code == 0


def first_acquired(client: RawClient, group: str, topic: str) -> int:
    """Join, open a share session and take what it can: the first offset acquired."""
    answer = open_session(client, group, join(client, group, topic), topic, wait_ms=5000)
    return answer.responses[0].partitions[0].acquired_records[0].first_offset


def test_an_empty_groups_start_offset_is_moved_and_a_new_member_starts_there(client: RawClient, topic: str) -> None:
    group = f"share-{uuid.uuid4().hex[:8]}"
    produce(client, topic, 5)
    leave(client, group, join(client, group, topic))
    answer = alter(client, group, topic, {0: 2})
    assert answer.error_code == 0
    [t] = answer.responses
    assert (t.topic_name, [(p.partition_index, p.error_code) for p in t.partitions]) == (topic, [(0, 0)])
    assert start_offset(client, group, topic) == 2
    assert first_acquired(client, group, topic) == 2


def test_deleted_offsets_start_again_as_the_group_config_says(client: RawClient, topic: str) -> None:
    group = f"share-{uuid.uuid4().hex[:8]}"
    leave(client, group, join(client, group, topic))
    alter(client, group, topic, {0: 0})
    answer = delete(client, group, [topic])
    assert [(t.topic_name, t.error_code) for t in answer.responses] == [(topic, 0)]
    assert start_offset(client, group, topic) == -1
    again = delete(client, group, [topic])
    assert [(t.error_code, t.error_message) for t in again.responses] == \
        [(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "There is no offset information to delete.")]


def test_a_group_with_members_is_refused(client: RawClient, topic: str) -> None:
    group = f"share-{uuid.uuid4().hex[:8]}"
    join(client, group, topic)
    for answer in (alter(client, group, topic, {0: 0}), delete(client, group, [topic])):
        assert (answer.error_code, answer.error_message, answer.responses) == \
            (ErrorCode.NON_EMPTY_GROUP, "The group is not empty.", [])


def test_unknown_groups_and_groups_of_another_kind(client: RawClient, topic: str) -> None:
    unknown, classic = f"none-{uuid.uuid4().hex[:8]}", f"classic-{uuid.uuid4().hex[:8]}"
    assert client.request(OffsetCommitRequest(group_id=classic, topics=[OffsetCommitRequest.OffsetCommitRequestTopic(
        name=topic, partitions=[OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0,
                                                                                  committed_offset=0)])]),
        8).topics[0].partitions[0].error_code == 0
    for call in (lambda g: alter(client, g, topic, {0: 0}), lambda g: delete(client, g, [topic])):
        assert (call(unknown).error_code, call(unknown).error_message) == \
            (ErrorCode.GROUP_ID_NOT_FOUND, f"Group {unknown} not found.")
        assert (call(classic).error_code, call(classic).error_message) == \
            (ErrorCode.GROUP_ID_NOT_FOUND, f"Group {classic} is not a share group.")
        assert call("").error_code == ErrorCode.INVALID_GROUP_ID


def test_unknown_topics_and_partitions(client: RawClient, topic: str) -> None:
    group = f"share-{uuid.uuid4().hex[:8]}"
    leave(client, group, join(client, group, topic))
    answer = alter(client, group, topic, {0: 0, 7: 0})
    assert [(p.partition_index, p.error_code) for p in answer.responses[0].partitions] == \
        [(0, 0), (7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    missing = alter(client, group, "no-such-topic", {0: 0})
    assert [(p.error_code, p.error_message) for p in missing.responses[0].partitions] == \
        [(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.")]
    assert [t.error_code for t in delete(client, group, ["no-such-topic"]).responses] == \
        [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
