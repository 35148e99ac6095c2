"""Topic and partition administration through kafka-python's and librdkafka's admin clients.

Create and delete topics (validate-only too), grow partitions, delete records, describe log dirs,
and the single-node answers to leader elections, reassignments, leader epochs, topic-partition
paging and client quotas.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kafka import TopicPartition as KPTopicPartition
from kafka.admin import KafkaAdminClient, NewTopic as KPNewTopic
from kafka.errors import InvalidReplicationAssignmentError
from kproto import ErrorCode
from kproto.messages import (
    AlterClientQuotasRequest, DescribeClientQuotasRequest, DescribeClusterRequest, OffsetForLeaderEpochRequest,
)

from conftest import unique_topic
from rawclient import RawClient

TIMEOUT = 15


def kp_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT * 1000)


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, f"message-{i}".encode(), partition=partition)
    assert producer.flush(TIMEOUT) == 0


def topic_names(bootstrap: str) -> set[str]:
    return set(kp_admin(bootstrap).list_topics())


def test_confluent_create_validate_only_then_create_and_delete(bootstrap: str, request: pytest.FixtureRequest) -> None:
    name = unique_topic(request)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 3, 1)], validate_only=True)[name].result(timeout=TIMEOUT)
    assert name not in topic_names(bootstrap)
    admin.create_topics([NewTopic(name, 3, 1, config={"retention.ms": "1000"})])[name].result(timeout=TIMEOUT)
    assert len(admin.list_topics(name, timeout=TIMEOUT).topics[name].partitions) == 3
    with pytest.raises(KafkaException) as caught:
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=TIMEOUT)
    assert caught.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    admin.delete_topics([name], operation_timeout=TIMEOUT)[name].result(timeout=TIMEOUT)
    assert name not in topic_names(bootstrap)


def test_kafka_python_create_and_delete(bootstrap: str, request: pytest.FixtureRequest) -> None:
    from kafka.admin import NewTopic as KPNewTopic

    name = unique_topic(request)
    admin = kp_admin(bootstrap)
    admin.create_topics([KPNewTopic(name, 2, 1)], validate_only=True)
    assert name not in topic_names(bootstrap)
    admin.create_topics([KPNewTopic(name, 2, 1)])
    assert name in admin.list_topics()
    admin.delete_topics([name])
    assert name not in topic_names(bootstrap)


def test_create_partitions_both_clients(bootstrap: str, topic_factory) -> None:
    from kafka.admin import NewPartitions as KPNewPartitions

    topic = topic_factory(partitions=1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_partitions([NewPartitions(topic, 3)], validate_only=True)[topic].result(timeout=TIMEOUT)
    assert len(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions) == 1
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=TIMEOUT)
    kp_admin(bootstrap).create_partitions({topic: KPNewPartitions(5)})
    assert len(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions) == 5
    with pytest.raises(KafkaException) as caught:
        admin.create_partitions([NewPartitions(topic, 2)])[topic].result(timeout=TIMEOUT)
    assert caught.value.args[0].name() == "INVALID_PARTITIONS"


def test_delete_records_both_clients(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    produce(bootstrap, topic, 10)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, 4)], request_timeout=TIMEOUT)
    assert next(iter(futures.values())).result(timeout=TIMEOUT).low_watermark == 4
    result = kp_admin(bootstrap).delete_records({KPTopicPartition(topic, 0): 7})
    assert result[KPTopicPartition(topic, 0)]["low_watermark"] == 7


def test_describe_log_dirs_sizes(bootstrap: str, topic_factory, shared_broker) -> None:
    topic = topic_factory(partitions=2)
    produce(bootstrap, topic, 20, partition=1)
    answer = kp_admin(bootstrap).describe_log_dirs({topic: [0, 1]})
    (log_dir,) = answer[0]["log_dirs"]
    assert log_dir["error_code"] == 0
    assert log_dir["log_dir"] == str(shared_broker.data_dir.resolve())
    assert log_dir["total_bytes"] > 0 and 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"]
    (entry,) = log_dir["topics"]
    sizes = {p["partition_index"]: p["partition_size"] for p in entry["partitions"]}
    assert sizes[0] == 0 and sizes[1] > 20 * len("message-00")


def test_elect_leaders_not_needed_on_one_node(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=2)
    response = kp_admin(bootstrap).elect_leaders(0, {topic: [0, 1]})
    codes = {p.partition_id: p.error_code for r in response.replica_election_results for p in r.partition_result}
    assert codes == {0: ErrorCode.ELECTION_NOT_NEEDED, 1: ErrorCode.ELECTION_NOT_NEEDED}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    from confluent_kafka import ElectionType

    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(timeout=TIMEOUT)
    assert result[TopicPartition(topic, 0)] is not None  # ELECTION_NOT_NEEDED comes back per partition


def test_reassignments_none_ongoing_and_moves_refused(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    admin = kp_admin(bootstrap)
    assert admin.list_partition_reassignments() == {}
    tp = KPTopicPartition(topic, 0)
    assert admin.alter_partition_reassignments({tp: [1]}) == {tp: None}
    moved = admin.alter_partition_reassignments({tp: [2]})
    assert moved[tp] is InvalidReplicationAssignmentError or isinstance(moved[tp], InvalidReplicationAssignmentError)


def test_describe_cluster_v2_lists_this_broker_unfenced(bootstrap: str) -> None:
    """DescribeCluster v2 (Kafka 4.0's newest) asks for fenced brokers too: a broker that answers is not fenced."""
    with RawClient(bootstrap) as client:
        cluster = client.request(DescribeClusterRequest(include_fenced_brokers=True), 2)
    assert cluster.error_code == 0 and [(b.broker_id, b.is_fenced) for b in cluster.brokers] == [(1, False)]


def test_describe_topic_partitions_pages_with_a_cursor(bootstrap: str, topic_factory) -> None:
    counts = {topic_factory(partitions=3): 3, topic_factory(partitions=2): 2}
    first, second = sorted(counts)  # pages follow topic names
    expected = [(first, p) for p in range(counts[first])] + [(second, p) for p in range(counts[second])]
    admin = kp_admin(bootstrap)
    seen, cursor = [], None
    for _ in range(3):
        page = admin.describe_topic_partitions([second, first], response_partition_limit=2, cursor=cursor)
        got = [(t["name"], p["partition_index"]) for t in page["topics"] for p in t["partitions"]]
        assert len(got) <= 2
        seen += got
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert (cursor["topic_name"], cursor["partition_index"]) == expected[len(seen)]
    assert seen == expected and cursor is None


@pytest.mark.broker_config({"max.request.partition.size.limit": "2"})
def test_max_request_partition_size_limit_caps_a_page(kafka_broker, request: pytest.FixtureRequest) -> None:
    """The broker's max.request.partition.size.limit caps a page below what the client asks for."""
    topic = unique_topic(request)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_server)
    try:
        admin.create_topics([KPNewTopic(topic, 3, 1)])
        page = admin.describe_topic_partitions([topic], response_partition_limit=10)
        assert [p["partition_index"] for t in page["topics"] for p in t["partitions"]] == [0, 1]
        assert (page["next_cursor"]["topic_name"], page["next_cursor"]["partition_index"]) == (topic, 2)
    finally:
        admin.close()


def test_offset_for_leader_epoch_single_epoch(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    produce(bootstrap, topic, 5)
    request = OffsetForLeaderEpochRequest(replica_id=-1, topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
        topic=topic, partitions=[
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(partition=0, current_leader_epoch=0, leader_epoch=0),
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=3),
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(partition=0, current_leader_epoch=5, leader_epoch=0),
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(partition=9, leader_epoch=0)])])
    with RawClient(bootstrap) as client:
        answer = client.request(request, 4)
    got = [(p.error_code, p.leader_epoch, p.end_offset) for p in answer.topics[0].partitions]
    assert got == [(ErrorCode.NONE, 0, 5), (ErrorCode.NONE, -1, -1), (ErrorCode.UNKNOWN_LEADER_EPOCH, -1, -1),
                   (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]


def test_client_quotas_stored_and_described(bootstrap: str, request: pytest.FixtureRequest) -> None:
    user = unique_topic(request)
    entity = [AlterClientQuotasRequest.EntityData(entity_type="user", entity_name=user)]
    alter = AlterClientQuotasRequest(entries=[AlterClientQuotasRequest.EntryData(entity=entity, ops=[
        AlterClientQuotasRequest.OpData(key="producer_byte_rate", value=1024.0),
        AlterClientQuotasRequest.OpData(key="request_percentage", value=12.5)])])
    bad = AlterClientQuotasRequest(entries=[AlterClientQuotasRequest.EntryData(entity=entity, ops=[
        AlterClientQuotasRequest.OpData(key="bogus_rate", value=1.0)])])
    describe = DescribeClientQuotasRequest(components=[
        DescribeClientQuotasRequest.ComponentData(entity_type="user", match_type=0, match=user)], strict=True)
    with RawClient(bootstrap) as client:
        assert client.request(alter, 1).entries[0].error_code == ErrorCode.NONE
        assert client.request(bad, 1).entries[0].error_code == ErrorCode.INVALID_REQUEST
        answer = client.request(describe, 1)
    assert answer.error_code == ErrorCode.NONE
    (entry,) = answer.entries
    assert [(e.entity_type, e.entity_name) for e in entry.entity] == [("user", user)]
    assert {v.key: v.value for v in entry.values} == {"producer_byte_rate": 1024.0, "request_percentage": 12.5}
