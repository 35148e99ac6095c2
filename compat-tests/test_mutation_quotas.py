"""The controller mutation quota (`controller_mutation_rate`, KIP-599) as Kafka applies it.

Each topic's partitions count against a token bucket that holds `controller.quota.window.num` windows' worth
of the quota and refills at the quota a second; here two one-second windows at two partitions a
second, so four partitions go at once. The requests that overdraw it overdraw it by eight or
more, four seconds of refill, so that a slow machine's delay between two requests (up to two
seconds) cannot change what the second one meets. From CreateTopics v6, CreatePartitions v3 and DeleteTopics
v5 a topic asked for while the bucket is overdrawn is refused with THROTTLING_QUOTA_EXCEEDED and
the time to wait; the request that overdraws it still passes. Older versions are never refused:
their answers carry the throttle time.
"""

from __future__ import annotations

import time
import uuid

import pytest

from kproto import ErrorCode
from kproto.messages import CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest

from quota_admin import set_quota
from rawclient import RawClient

pytestmark = [pytest.mark.timeout(60), pytest.mark.broker_config({"controller.quota.window.num": "2"})]

RATE = 2  # partitions a second
REFUSED = "The throttling quota has been exceeded."


def create(client: RawClient, partitions: int, version: int = 7, replication_factor: int = 1):
    name = f"t-{uuid.uuid4().hex[:10]}"
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=replication_factor)], timeout_ms=10000), version)
    return name, response


def exists(client: RawClient, name: str) -> bool:
    response = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)],
                                              allow_auto_topic_creation=False), 9)
    return response.topics[0].error_code == ErrorCode.NONE


@pytest.fixture
def client(kafka_broker):
    """A raw client under a controller_mutation_rate quota on its client id."""
    with RawClient(kafka_broker.bootstrap_server) as raw:
        set_quota(kafka_broker.bootstrap_server, {"client-id": raw.client_id}, "controller_mutation_rate", RATE)
        yield raw


def test_create_topics_past_the_quota_is_refused_with_the_time_to_wait(client: RawClient) -> None:
    _, first = create(client, 12)  # four tokens: this overdraws the bucket by eight, and still passes
    assert first.topics[0].error_code == ErrorCode.NONE
    assert first.throttle_time_ms == 0
    name, second = create(client, 1)
    result = second.topics[0]
    assert (result.error_code, result.error_message) == (ErrorCode.THROTTLING_QUOTA_EXCEEDED, REFUSED)
    assert 2000 < second.throttle_time_ms <= 4000  # eight partitions at two a second, less the time since
    assert (result.num_partitions, result.replication_factor) == (-1, -1)
    assert not exists(client, name)
    time.sleep(second.throttle_time_ms / 1000 + 0.1)
    _, third = create(client, 1)
    assert third.topics[0].error_code == ErrorCode.NONE


def test_a_topic_that_is_not_valid_costs_nothing(client: RawClient) -> None:
    _, invalid = create(client, 4, replication_factor=3)  # one broker
    assert invalid.topics[0].error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    _, first = create(client, 4)  # empties the bucket, not overdrawing it
    _, second = create(client, 1)
    assert first.topics[0].error_code == second.topics[0].error_code == ErrorCode.NONE


def test_before_create_topics_v6_the_quota_only_throttles(client: RawClient) -> None:
    _, first = create(client, 12, version=5)
    assert first.topics[0].error_code == ErrorCode.NONE
    assert 2000 < first.throttle_time_ms <= 4000
    name, second = create(client, 1, version=5)
    assert second.topics[0].error_code == ErrorCode.NONE
    assert exists(client, name)


def test_delete_topics_counts_the_partitions_deleted(client: RawClient, kafka_broker) -> None:
    with RawClient(kafka_broker.bootstrap_server) as free:  # another client id: no quota
        free.client_id = "free"
        big, small = create(free, 12)[0], create(free, 1)[0]
    first = client.request(DeleteTopicsRequest(topic_names=[big], timeout_ms=10000), 5)
    assert first.responses[0].error_code == ErrorCode.NONE
    second = client.request(DeleteTopicsRequest(topic_names=[small], timeout_ms=10000), 5)
    assert (second.responses[0].error_code, second.responses[0].error_message) == (
        ErrorCode.THROTTLING_QUOTA_EXCEEDED, REFUSED)
    assert second.throttle_time_ms > 2000
    assert exists(client, small)


@pytest.mark.broker_config({"delete.topic.enable": "false"})
def test_with_deletion_disabled_a_delete_costs_nothing(client: RawClient, kafka_broker) -> None:
    """Kafka refuses the deletion before the quota is consulted."""
    with RawClient(kafka_broker.bootstrap_server) as free:
        free.client_id = "free"
        big = create(free, 12)[0]
    for _ in range(2):
        answer = client.request(DeleteTopicsRequest(topic_names=[big], timeout_ms=10000), 5)
        assert (answer.responses[0].error_code, answer.throttle_time_ms) == (ErrorCode.TOPIC_DELETION_DISABLED, 0)


def grow(client: RawClient, name: str, count: int):
    topic = CreatePartitionsRequest.CreatePartitionsTopic(name=name, count=count)
    topic.assignments = None  # null: the broker places them
    return client.request(CreatePartitionsRequest(topics=[topic], timeout_ms=10000, validate_only=False), 3)


def test_create_partitions_counts_the_partitions_added(client: RawClient) -> None:
    name, _ = create(client, 1)
    grown = grow(client, name, 13)
    assert grown.results[0].error_code == ErrorCode.NONE  # 1 + 12 from four tokens: overdrawn by nine
    again = grow(client, name, 14)
    assert (again.results[0].error_code, again.results[0].error_message) == (ErrorCode.THROTTLING_QUOTA_EXCEEDED, REFUSED)
    assert 2500 < again.throttle_time_ms <= 4500
