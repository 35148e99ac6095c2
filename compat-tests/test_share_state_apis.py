"""The share coordinator's state APIs (KIP-932) by hand: FindCoordinator's SHARE key type,
Initialize/Read/Write/Delete ShareGroupState and ReadShareGroupStateSummary, with Kafka's error
codes, and the ShareSnapshot / ShareUpdate records they leave in `__share_group_state`.
"""

from __future__ import annotations

import uuid
from typing import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from kproto import ErrorCode
from kproto.messages import (
    DeleteShareGroupStateRequest,
    FindCoordinatorRequest,
    InitializeShareGroupStateRequest,
    MetadataRequest,
    ReadShareGroupStateRequest,
    ReadShareGroupStateSummaryRequest,
    WriteShareGroupStateRequest,
)

from kbroker.log.metadata import uuid_to_str
from rawclient import RawClient

UPDATES_PER_SNAPSHOT = 2
pytestmark = pytest.mark.broker_config({
    "share.coordinator.state.topic.num.partitions": "1",  # every record in one partition, to read them back
    "share.coordinator.snapshot.update.records.per.snapshot": str(UPDATES_PER_SNAPSHOT),
})
Batch = tuple[int, int, int, int]  # first offset, last offset, delivery state, delivery count


class Coordinator:
    """One share partition's state, asked for by hand."""

    def __init__(self, client: RawClient, group: str, topic_id: uuid.UUID, partition: int = 0) -> None:
        self.client, self.group, self.topic_id, self.partition = client, group, topic_id, partition

    def _one(self, answer) -> object:
        [result] = answer.results
        [part] = result.partitions
        assert (result.topic_id, part.partition) == (self.topic_id, self.partition)
        return part

    def initialize(self, state_epoch: int, start_offset: int) -> int:
        R = InitializeShareGroupStateRequest
        return self._one(self.client.request(R(group_id=self.group, topics=[R.InitializeStateData(
            topic_id=self.topic_id, partitions=[R.PartitionData(partition=self.partition, state_epoch=state_epoch,
                                                                start_offset=start_offset)])]), 0)).error_code

    def read(self, leader_epoch: int = 0):
        R = ReadShareGroupStateRequest
        return self._one(self.client.request(R(group_id=self.group, topics=[R.ReadStateData(
            topic_id=self.topic_id, partitions=[R.PartitionData(partition=self.partition,
                                                                leader_epoch=leader_epoch)])]), 0))

    def write(self, state_epoch: int, leader_epoch: int, start_offset: int, batches: list[Batch]) -> int:
        R = WriteShareGroupStateRequest
        return self._one(self.client.request(R(group_id=self.group, topics=[R.WriteStateData(
            topic_id=self.topic_id, partitions=[R.PartitionData(
                partition=self.partition, state_epoch=state_epoch, leader_epoch=leader_epoch,
                start_offset=start_offset, state_batches=[
                    R.StateBatch(first_offset=f, last_offset=l, delivery_state=s, delivery_count=c)
                    for f, l, s, c in batches])])]), 1)).error_code

    def delete(self) -> int:
        R = DeleteShareGroupStateRequest
        return self._one(self.client.request(R(group_id=self.group, topics=[R.DeleteStateData(
            topic_id=self.topic_id, partitions=[R.PartitionData(partition=self.partition)])]), 0)).error_code

    def summary(self):
        R = ReadShareGroupStateSummaryRequest
        return self._one(self.client.request(R(group_id=self.group, topics=[R.ReadStateSummaryData(
            topic_id=self.topic_id, partitions=[R.PartitionData(partition=self.partition)])]), 1))


def batches(read) -> list[Batch]:
    return [(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count) for b in read.state_batches]


@pytest.fixture
def topic_id(bootstrap: str, topic_factory: Callable[..., str]) -> uuid.UUID:
    topic = topic_factory(partitions=2)
    with RawClient(bootstrap) as client:
        return client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                              12).topics[0].topic_id


@pytest.fixture
def state(bootstrap: str, topic_id: uuid.UUID):
    with RawClient(bootstrap) as client:
        yield Coordinator(client, f"share-{uuid.uuid4().hex[:10]}", topic_id)


def test_a_share_partition_never_initialized(state: Coordinator) -> None:
    read = state.read()
    assert (read.error_code, read.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Read operation on uninitialized share partition not allowed.")
    assert state.write(0, 0, 0, [(0, 0, 2, 1)]) == ErrorCode.INVALID_REQUEST
    summary = state.summary()
    assert (summary.error_code, summary.start_offset, summary.state_epoch, summary.delivery_complete_count) == \
        (ErrorCode.NONE, -1, 0, -1)


def test_initialize_write_read_and_delete(state: Coordinator) -> None:
    assert state.initialize(state_epoch=1, start_offset=5) == ErrorCode.NONE
    read = state.read()
    assert (read.error_code, read.state_epoch, read.start_offset, batches(read)) == (ErrorCode.NONE, 1, 5, [])
    assert state.write(1, 0, 5, [(5, 9, 0, 1)]) == ErrorCode.NONE
    assert state.write(1, 0, 7, [(7, 7, 2, 1), (8, 8, 4, 3)]) == ErrorCode.NONE  # only what changed
    read = state.read()
    assert (read.start_offset, batches(read)) == (7, [(7, 7, 2, 1), (8, 8, 4, 3), (9, 9, 0, 1)])
    summary = state.summary()
    assert (summary.start_offset, summary.state_epoch, summary.delivery_complete_count) == (7, 1, 2)
    assert state.delete() == ErrorCode.NONE
    assert state.read().error_code == ErrorCode.INVALID_REQUEST
    assert state.summary().start_offset == -1


def test_stale_epochs_are_fenced(state: Coordinator) -> None:
    assert state.initialize(state_epoch=3, start_offset=0) == ErrorCode.NONE
    assert state.write(2, 0, 0, [(0, 0, 2, 1)]) == ErrorCode.FENCED_STATE_EPOCH
    assert state.initialize(state_epoch=2, start_offset=0) == ErrorCode.FENCED_STATE_EPOCH
    assert state.read(leader_epoch=4).error_code == ErrorCode.NONE  # a newer leader: remembered
    assert state.write(3, 3, 0, [(0, 0, 2, 1)]) == ErrorCode.FENCED_LEADER_EPOCH
    assert state.read(leader_epoch=3).error_code == ErrorCode.FENCED_LEADER_EPOCH
    assert state.write(3, 4, 0, [(0, 0, 2, 1)]) == ErrorCode.NONE
    assert state.initialize(state_epoch=4, start_offset=10) == ErrorCode.NONE  # a reset: a new state epoch
    assert (state.read(leader_epoch=4).start_offset, state.read(leader_epoch=4).state_epoch) == (10, 4)


def test_unknown_partitions_and_bad_requests(state: Coordinator) -> None:
    for partition, error in ((2, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), (-1, ErrorCode.INVALID_REQUEST)):
        bad = Coordinator(state.client, state.group, state.topic_id, partition)
        assert bad.initialize(0, 0) == error
        assert bad.summary().error_code == error
    stranger = Coordinator(state.client, state.group, uuid.uuid4())
    assert stranger.initialize(0, 0) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    R = ReadShareGroupStateRequest
    for group, partitions in (("", [R.PartitionData(partition=0)]), (state.group, [])):
        answer = state.client.request(R(group_id=group, topics=[R.ReadStateData(topic_id=state.topic_id,
                                                                                partitions=partitions)]), 0)
        assert answer.results == []  # answered with nothing, as Kafka does


def test_find_coordinator_of_a_share_partition(state: Coordinator, shared_broker) -> None:
    key = f"{state.group}:{uuid_to_str(state.topic_id)}:0"
    found = state.client.request(FindCoordinatorRequest(key_type=2, coordinator_keys=[key, "no-such-key"]), 6)
    [ok, bad] = found.coordinators
    assert (ok.error_code, ok.port) == (ErrorCode.NONE, shared_broker.port)
    assert bad.error_code == ErrorCode.INVALID_REQUEST
    older = state.client.request(FindCoordinatorRequest(key_type=2, coordinator_keys=[key]), 5)
    assert older.coordinators[0].error_code == ErrorCode.INVALID_REQUEST  # the SHARE key type came with v6


def test_a_snapshot_follows_every_few_updates(bootstrap: str, state: Coordinator) -> None:
    """share.coordinator.snapshot.update.records.per.snapshot=2: snapshot, update, update, snapshot."""
    state.initialize(0, 0)
    for offset in range(3):
        assert state.write(0, 0, 0, [(offset, offset, 2, 1)]) == ErrorCode.NONE
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "state-reader", "enable.auto.commit": False})
    try:
        where = TopicPartition("__share_group_state", 0, 0)
        end = consumer.get_watermark_offsets(where, 10)[1]
        consumer.assign([where])
        kinds: list[int] = []
        offset = -1
        while offset < end - 1:
            m = consumer.poll(10)
            assert m is not None and m.error() is None
            offset = m.offset()
            if state.group.encode() in m.key():
                kinds.append(int.from_bytes(m.key()[:2], "big"))  # the key's version: the record type
    finally:
        consumer.close()
    assert kinds == [0, 1, 1, 0]
    assert batches(state.read()) == [(0, 2, 2, 1)]
