"""Authorized operations without an authorizer: a client that asks gets every operation the
resource supports, as from Kafka, and one that does not ask gets INT32_MIN ("not asked")."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient
from kproto import ErrorCode
from kproto.messages import (
    ConsumerGroupDescribeRequest, DescribeClusterRequest, DescribeGroupsRequest, DescribeTopicPartitionsRequest,
    MetadataRequest,
)

from conftest import create_topic, unique_topic
from rawclient import RawClient

pytestmark = pytest.mark.timeout(60)

NOT_ASKED = -(2**31)
TOPIC = {"READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}
CLUSTER = {"CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"}
# Kafka's AclOperation codes, bit n of the field for code n
CODES = {"READ": 3, "WRITE": 4, "CREATE": 5, "DELETE": 6, "ALTER": 7, "DESCRIBE": 8, "CLUSTER_ACTION": 9,
         "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11, "IDEMPOTENT_WRITE": 12}


def bits(names: set[str]) -> int:
    return sum(1 << CODES[name] for name in names)


@pytest.fixture(scope="module")
def topic(request: pytest.FixtureRequest, shared_broker) -> str:
    return create_topic(shared_broker.bootstrap_server, unique_topic(request))


def test_librdkafka_admin_sees_every_topic_and_cluster_operation(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    [described] = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True,
                                        request_timeout=15).values()
    assert {op.name for op in described.result(15).authorized_operations} == TOPIC
    cluster = admin.describe_cluster(include_authorized_operations=True, request_timeout=15).result(15)
    assert {op.name for op in cluster.authorized_operations} == CLUSTER


@pytest.mark.parametrize("version", range(8, 14))
def test_metadata_answers_operations_when_asked(bootstrap: str, topic: str, version: int) -> None:
    def ask(asked: bool) -> tuple[list[tuple[str | None, int]], int]:
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)
                                          for name in (topic, f"missing-{uuid.uuid4().hex[:8]}")],
                                  allow_auto_topic_creation=False, include_topic_authorized_operations=asked,
                                  include_cluster_authorized_operations=asked and version <= 10)
        with RawClient(bootstrap) as client:
            answer = client.request(request, version)
        return [(t.name, t.topic_authorized_operations) for t in answer.topics], answer.cluster_authorized_operations

    topics, cluster = ask(True)
    assert [ops for _, ops in topics] == [bits(TOPIC), bits(TOPIC)], "the missing topic too, as Kafka"
    assert cluster == (bits(CLUSTER) if version <= 10 else NOT_ASKED)  # v11 dropped the cluster's
    topics, cluster = ask(False)
    assert [ops for _, ops in topics] == [NOT_ASKED, NOT_ASKED] and cluster == NOT_ASKED


@pytest.mark.parametrize("version", range(3))
def test_describe_cluster_answers_operations_when_asked(bootstrap: str, version: int) -> None:
    with RawClient(bootstrap) as client:
        for asked, expected in ((True, bits(CLUSTER)), (False, NOT_ASKED)):
            answer = client.request(DescribeClusterRequest(include_cluster_authorized_operations=asked), version)
            assert answer.cluster_authorized_operations == expected


def test_describe_topic_partitions_always_answers_operations(bootstrap: str, topic: str) -> None:
    R = DescribeTopicPartitionsRequest
    with RawClient(bootstrap) as client:
        answer = client.request(R(topics=[R.TopicRequest(name=topic), R.TopicRequest(name="missing-" + topic)]), 0)
    assert sorted((t.name, t.error_code, t.topic_authorized_operations) for t in answer.topics) == [
        ("missing-" + topic, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, bits(TOPIC)), (topic, ErrorCode.NONE, bits(TOPIC))]


def test_group_descriptions_answer_operations_only_for_groups_found(bootstrap: str) -> None:
    """DescribeGroups and ConsumerGroupDescribe answer READ, DESCRIBE, DELETE and (Kafka 4.0, with
    group configs) DESCRIBE_CONFIGS and ALTER_CONFIGS for a group they describe; Kafka leaves a group
    answered with an error at INT32_MIN."""
    group = f"ops-{uuid.uuid4().hex[:8]}"
    with RawClient(bootstrap) as client:
        classic = client.request(DescribeGroupsRequest(groups=[group], include_authorized_operations=True), 5)
        unasked = client.request(DescribeGroupsRequest(groups=[group]), 5)
        kip848 = client.request(ConsumerGroupDescribeRequest(group_ids=[group], include_authorized_operations=True), 0)
    assert (classic.groups[0].error_code, classic.groups[0].authorized_operations) == (
        ErrorCode.NONE, bits({"READ", "DESCRIBE", "DELETE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}))
    assert unasked.groups[0].authorized_operations == NOT_ASKED
    assert (kip848.groups[0].error_code, kip848.groups[0].authorized_operations) == (
        ErrorCode.GROUP_ID_NOT_FOUND, NOT_ASKED)
