"""The share coordinator on a three-broker cluster: the leader of a share partition's
`__share_group_state` partition serves its state, other brokers answer NOT_COORDINATOR, and the
state carries on to the next leader through a SIGKILL."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from kproto import ErrorCode
from kproto.messages import (
    FindCoordinatorRequest,
    InitializeShareGroupStateRequest,
    MetadataRequest,
    ReadShareGroupStateRequest,
    WriteShareGroupStateRequest,
)

from kbroker.log.metadata import uuid_to_str
from kbroker.tools.client import Connection

from clusterclients import create_topic, wait_until
from zkcluster import Cluster

SHARE_KEY = 2  # FindCoordinator's key type of a share partition


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("share-coordinator"),
                 config={"share.coordinator.state.topic.num.partitions": "3"}) as running:
        yield running


def request_to(cluster: Cluster, broker_id: int, request, version: int):
    host, port = cluster.brokers[broker_id].bootstrap_server.rsplit(":", 1)
    with Connection(host, int(port)) as connection:
        return connection.request(request, version)


def coordinator_of(cluster: Cluster, asked: int, key: str) -> int | None:
    [found] = request_to(cluster, asked, FindCoordinatorRequest(key_type=SHARE_KEY, coordinator_keys=[key]),
                         6).coordinators
    return found.node_id if found.error_code == ErrorCode.NONE else None


def one_error(answer) -> int:
    [result] = answer.results
    [partition] = result.partitions
    return partition.error_code


def test_the_state_follows_the_leader_of_its_partition(cluster: Cluster) -> None:
    topic, group = f"shared-{uuid.uuid4().hex[:8]}", f"share-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic)
    some = next(iter(cluster.brokers))
    topic_id = request_to(cluster, some, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                          12).topics[0].topic_id
    key = f"{group}:{uuid_to_str(topic_id)}:0"
    I, W, R = InitializeShareGroupStateRequest, WriteShareGroupStateRequest, ReadShareGroupStateRequest
    initialize = I(group_id=group, topics=[I.InitializeStateData(topic_id=topic_id, partitions=[
        I.PartitionData(partition=0, state_epoch=1, start_offset=0)])])
    write = W(group_id=group, topics=[W.WriteStateData(topic_id=topic_id, partitions=[W.PartitionData(
        partition=0, state_epoch=1, leader_epoch=0, start_offset=1, state_batches=[
            W.StateBatch(first_offset=1, last_offset=1, delivery_state=2, delivery_count=1),
            W.StateBatch(first_offset=2, last_offset=3, delivery_state=0, delivery_count=2)])])])
    read = R(group_id=group, topics=[R.ReadStateData(topic_id=topic_id, partitions=[R.PartitionData(partition=0)])])

    found: list[int] = []
    wait_until(lambda: found.append(coordinator_of(cluster, some, key)) or found[-1] is not None, 60,
               "a coordinator for the share partition")
    first = found[-1]
    wait_until(lambda: one_error(request_to(cluster, first, initialize, 0)) == ErrorCode.NONE, 60,
               "the coordinator to take up its partition")
    others = [b for b in cluster.brokers if b != first]
    assert one_error(request_to(cluster, others[0], read, 0)) == ErrorCode.NOT_COORDINATOR
    assert one_error(request_to(cluster, first, write, 1)) == ErrorCode.NONE

    cluster.brokers[first].stop(kill=True)
    wait_until(lambda: found.append(coordinator_of(cluster, others[0], key)) or found[-1] in others, 60,
               "another coordinator")
    second = found[-1]
    answers: list = []
    wait_until(lambda: answers.append(request_to(cluster, second, read, 0)) or one_error(answers[-1]) == 0, 60,
               "the new coordinator to read the state back")
    [state] = answers[-1].results[0].partitions
    assert (state.state_epoch, state.start_offset) == (1, 1)
    assert [(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count) for b in state.state_batches] == \
        [(1, 1, 2, 1), (2, 3, 0, 2)]
