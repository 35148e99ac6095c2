"""ACLs enforced by a real broker with `authorizer.class.name` set, seen by stock clients and raw requests.

Every client here is User:ANONYMOUS (no SASL yet). The module's broker allows everyone on
resources that have no ACLs (`allow.everyone.if.no.acl.found`), so the tests manage ACLs as
ANONYMOUS and lock a resource by giving it ACLs: a topic whose only ACL names someone else is
closed to ANONYMOUS. Rules on the cluster resource change every test's view, so those tests get
a broker of their own, seeded by a super user and restarted without one.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Iterator

import kafka
import kafka.errors
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding, AdminClient, AclOperation, AclPermissionType, ConfigResource, NewTopic, ResourcePatternType,
    ResourceType,
)
from kproto import ErrorCode
from kproto.messages import (
    CreateAclsRequest, DescribeClusterRequest, FetchRequest, FindCoordinatorRequest, InitProducerIdRequest,
    MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, ReadShareGroupStateRequest,
    ShareAcknowledgeRequest, ShareFetchRequest, ShareGroupHeartbeatRequest,
)
from kproto.records import Record, build_batch

from kbroker.log.metadata import uuid_to_str

from brokerproc import BrokerProcess
from conftest import create_topic, unique_topic
from rawclient import RawClient

pytestmark = [pytest.mark.timeout(120), pytest.mark.broker_config({
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "true"})]

ANON = "User:ANONYMOUS"
TIMEOUT = 15
Op, Perm = AclOperation, AclPermissionType


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def grant(bootstrap: str, kind: ResourceType, name: str, principal: str, *ops: AclOperation,
          permission: AclPermissionType = Perm.ALLOW, pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> None:
    bindings = [AclBinding(kind, name, pattern, principal, "*", op, permission) for op in ops]
    client = admin(bootstrap)  # held until the answers are in: a destroyed handle fails its futures
    for future in client.create_acls(bindings, request_timeout=TIMEOUT).values():
        future.result(timeout=TIMEOUT)


def lock(bootstrap: str, kind: ResourceType, name: str) -> None:
    """Give the resource an ACL for someone else: ANONYMOUS may no longer do anything with it."""
    grant(bootstrap, kind, name, "User:someone-else", Op.READ)


@pytest.fixture
def topic(request: pytest.FixtureRequest, bootstrap: str) -> str:
    return create_topic(bootstrap, unique_topic(request))


def batch() -> bytes:
    return build_batch([Record(0, 1_700_000_000_000, b"k", b"v")])


def produce(raw: RawClient, *topics: str, transactional_id: str | None = None,
            records: bytes | None = None) -> dict[str, int]:
    answer = raw.request(ProduceRequest(transactional_id=transactional_id, acks=1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=name, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=records or batch())]) for name in topics]), 9)
    return {t.name: t.partition_responses[0].error_code for t in answer.responses}


# -- produce and fetch

def test_produce_needs_write_on_the_topic(bootstrap: str, topic: str, request: pytest.FixtureRequest) -> None:
    closed = create_topic(bootstrap, unique_topic(request) + "-closed")
    grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.WRITE)
    lock(bootstrap, ResourceType.TOPIC, closed)
    with RawClient(bootstrap) as raw:
        assert produce(raw, topic, closed) == {topic: ErrorCode.NONE, closed: ErrorCode.TOPIC_AUTHORIZATION_FAILED}
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10_000})
    producer.produce(closed, b"v", on_delivery=lambda err, msg: errors.append(err and err.code()))
    producer.produce(topic, b"v", on_delivery=lambda err, msg: errors.append(err and err.code()))
    producer.flush(TIMEOUT)
    assert sorted(errors, key=str) == sorted([None, KafkaError.TOPIC_AUTHORIZATION_FAILED], key=str)
    kp = kafka.KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=5000)
    try:
        with pytest.raises(kafka.errors.TopicAuthorizationFailedError):
            kp.send(closed, b"v").get(timeout=TIMEOUT)
    finally:
        kp.close()


def test_fetch_needs_read_on_the_topic(bootstrap: str, topic: str) -> None:
    with RawClient(bootstrap) as raw:
        produce(raw, topic)
        lock(bootstrap, ResourceType.TOPIC, topic)

        def fetched() -> int:
            answer = raw.request(FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, topics=[
                FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                    partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])]), 11)
            return answer.responses[0].partitions[0].error_code

        assert fetched() == ErrorCode.TOPIC_AUTHORIZATION_FAILED
        grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.READ)
        assert fetched() == ErrorCode.NONE


# -- consumer groups and offsets

def consume_one(bootstrap: str, topic: str, group: str) -> KafkaError | bytes:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                return msg.error()
            consumer.commit(msg, asynchronous=False)
            return msg.value()
        raise AssertionError("nothing consumed")
    finally:
        consumer.close()


def test_a_consumer_needs_read_on_its_group_and_its_topic(bootstrap: str, topic: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    with RawClient(bootstrap) as raw:
        produce(raw, topic)
    grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.READ)
    grant(bootstrap, ResourceType.GROUP, group, ANON, Op.READ)
    assert consume_one(bootstrap, topic, group) == b"v"
    locked = f"locked-{uuid.uuid4().hex[:8]}"
    lock(bootstrap, ResourceType.GROUP, locked)
    assert consume_one(bootstrap, topic, locked).code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.READ, permission=Perm.DENY)
    assert consume_one(bootstrap, topic, group).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_offset_commit_needs_read_on_group_and_topic_and_offset_fetch_hides_topics(
        bootstrap: str, topic: str, request: pytest.FixtureRequest) -> None:
    group, closed = f"g-{uuid.uuid4().hex[:8]}", create_topic(bootstrap, unique_topic(request) + "-closed")
    lock(bootstrap, ResourceType.TOPIC, closed)
    C = OffsetCommitRequest
    with RawClient(bootstrap) as raw:
        def commit(group_id: str) -> dict[str, int]:
            answer = raw.request(C(group_id=group_id, generation_id_or_member_epoch=-1, member_id="", topics=[
                C.OffsetCommitRequestTopic(name=name, partitions=[C.OffsetCommitRequestPartition(
                    partition_index=0, committed_offset=1)]) for name in (topic, closed)]), 8)
            return {t.name: t.partitions[0].error_code for t in answer.topics}

        assert commit(group) == {topic: ErrorCode.NONE, closed: ErrorCode.TOPIC_AUTHORIZATION_FAILED}
        locked = f"locked-{uuid.uuid4().hex[:8]}"
        lock(bootstrap, ResourceType.GROUP, locked)
        assert commit(locked) == dict.fromkeys((topic, closed), ErrorCode.GROUP_AUTHORIZATION_FAILED)
        F = OffsetFetchRequest
        named = raw.request(F(group_id=group, topics=[F.OffsetFetchRequestTopic(name=name, partition_indexes=[0])
                                                      for name in (topic, closed)]), 7)
        assert {t.name: (t.partitions[0].error_code, t.partitions[0].committed_offset) for t in named.topics} == {
            topic: (ErrorCode.NONE, 1), closed: (ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1)}
        every, refused = F(group_id=group), F(group_id=locked)
        every.topics = refused.topics = None  # every committed offset (constructors make None an empty list)
        assert [t.name for t in raw.request(every, 7).topics] == [topic]
        assert raw.request(refused, 7).error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED


# -- metadata and admin APIs

def test_metadata_leaves_out_topics_the_principal_may_not_describe(bootstrap: str, topic: str,
                                                                  request: pytest.FixtureRequest) -> None:
    hidden = create_topic(bootstrap, unique_topic(request) + "-hidden")
    lock(bootstrap, ResourceType.TOPIC, hidden)
    listed = admin(bootstrap).list_topics(timeout=TIMEOUT).topics
    assert topic in listed and hidden not in listed
    with RawClient(bootstrap) as raw:
        answer = raw.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in (
            hidden, hidden + "-missing")], allow_auto_topic_creation=False, include_topic_authorized_operations=True), 9)
    assert [(t.name, t.error_code, t.partitions) for t in answer.topics] == [
        (hidden, ErrorCode.TOPIC_AUTHORIZATION_FAILED, []), (hidden + "-missing", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, [])]
    lock(bootstrap, ResourceType.TOPIC, hidden + "-missing")
    kp = kafka.KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        assert topic in kp.topics() and hidden not in kp.topics()
    finally:
        kp.close()


def test_topic_operations_come_from_the_acls(bootstrap: str, topic: str) -> None:
    grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.READ, Op.ALTER_CONFIGS)
    with RawClient(bootstrap) as raw:
        answer = raw.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                             include_topic_authorized_operations=True), 9)
    codes = {"READ": 3, "DESCRIBE": 8, "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11}
    assert answer.topics[0].topic_authorized_operations == sum(1 << code for code in codes.values())


def test_describe_and_alter_configs_and_delete_need_their_operations(bootstrap: str, topic: str) -> None:
    lock(bootstrap, ResourceType.TOPIC, topic)
    resource = ConfigResource("topic", topic)
    client = admin(bootstrap)
    with pytest.raises(KafkaException) as refused:
        client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.ALTER_CONFIGS)  # which implies DESCRIBE_CONFIGS
    assert "retention.ms" in client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
    kp = kafka.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        with pytest.raises(kafka.errors.TopicAuthorizationFailedError):
            kp.delete_topics([topic])
        grant(bootstrap, ResourceType.TOPIC, topic, ANON, Op.DELETE)
        kp.delete_topics([topic])
    finally:
        kp.close()


def test_a_transactional_producer_needs_write_on_its_transactional_id(bootstrap: str, topic: str) -> None:
    allowed, refused = f"tx-{uuid.uuid4().hex[:8]}", f"tx-locked-{uuid.uuid4().hex[:8]}"
    grant(bootstrap, ResourceType.TRANSACTIONAL_ID, allowed, ANON, Op.WRITE)
    lock(bootstrap, ResourceType.TRANSACTIONAL_ID, refused)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": refused})
    with pytest.raises(KafkaException) as raised:
        producer.init_transactions(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": allowed})
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, b"v")
    producer.commit_transaction(TIMEOUT)
    with RawClient(bootstrap) as raw:
        init = raw.request(InitProducerIdRequest(transactional_id=refused, transaction_timeout_ms=60_000), 4)
        assert (init.error_code, init.producer_id) == (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1)
        records = build_batch([Record(0, 1_700_000_000_000, None, b"v")], transactional=True, producer_id=1,
                              producer_epoch=0, base_sequence=0)
        assert produce(raw, topic, transactional_id=refused, records=records) == {
            topic: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED}


# -- the cluster resource: brokers of their own

@pytest.fixture
def seeded(tmp_path) -> Iterator[BrokerProcess]:
    """A broker whose ACLs ANONYMOUS set as a super user, then restarted with no super user and no
    allow-everyone: its ACLs survive the restart and are all there is."""
    broker = BrokerProcess(tmp_path / "broker", {
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": ANON})
    try:
        yield broker.start()
    finally:
        broker.stop()


def restart_without_super_user(broker: BrokerProcess) -> None:
    del broker.config["super.users"]
    broker.restart()


def test_acls_survive_a_restart_and_a_broker_without_acls_denies_everything(seeded: BrokerProcess) -> None:
    bootstrap = seeded.bootstrap_server
    create_topic(bootstrap, "orders")
    grant(bootstrap, ResourceType.TOPIC, "orders", ANON, Op.WRITE)
    restart_without_super_user(seeded)
    with RawClient(bootstrap) as raw:
        assert produce(raw, "orders") == {"orders": ErrorCode.NONE}
        every = MetadataRequest(allow_auto_topic_creation=False)
        every.topics = None  # all topics (constructors make None an empty list)
        assert [t.name for t in raw.request(every, 9).topics] == ["orders"], "WRITE implies DESCRIBE, and only that"
        cluster = raw.request(DescribeClusterRequest(include_cluster_authorized_operations=True), 0)
        assert cluster.cluster_authorized_operations == 0
        created = raw.request(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
            resource_type=2, resource_name="orders", resource_pattern_type=3, principal=ANON, host="*",
            operation=3, permission_type=3)]), 3)
        assert created.results[0].error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, max_block_ms=5000)
    try:
        producer.send("orders", b"v").get(timeout=TIMEOUT)
    finally:
        producer.close()


def test_idempotent_producers_need_idempotent_write_or_write_on_some_topic(seeded: BrokerProcess) -> None:
    bootstrap = seeded.bootstrap_server
    create_topic(bootstrap, "orders")
    restart_without_super_user(seeded)
    with RawClient(bootstrap) as raw:
        init = raw.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000), 4)
        assert (init.error_code, init.producer_id) == (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, -1)
    seeded.config["super.users"] = ANON
    seeded.restart()
    grant(bootstrap, ResourceType.TOPIC, "ord", ANON, Op.WRITE, pattern=ResourcePatternType.PREFIXED)
    restart_without_super_user(seeded)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors = []
    producer.produce("orders", b"v", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(TIMEOUT)
    assert errors == [None]


def test_creating_topics_needs_create_on_the_cluster_or_the_topic(seeded: BrokerProcess) -> None:
    bootstrap = seeded.bootstrap_server
    grant(bootstrap, ResourceType.TOPIC, "ok-", ANON, Op.CREATE, pattern=ResourcePatternType.PREFIXED)
    restart_without_super_user(seeded)
    client = admin(bootstrap)
    futures = client.create_topics([NewTopic("ok-1", 1, 1), NewTopic("no-1", 1, 1)], request_timeout=TIMEOUT)
    futures["ok-1"].result(TIMEOUT)
    with pytest.raises(KafkaException) as refused:
        futures["no-1"].result(TIMEOUT)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_kbroker_acls_round_trip(seeded: BrokerProcess) -> None:
    def tool(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "kbroker", "acls", "--bootstrap-server", seeded.bootstrap_server,
                               *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    added = tool("--add", "--allow-principal", "User:alice", "--consumer", "--topic", "orders", "--group", "billing")
    assert added.startswith("Adding ACLs for resource `ResourcePattern(resourceType=")
    tool("--add", "--deny-principal", "User:eve", "--operation", "Write", "--topic", "pay",
         "--resource-pattern-type", "prefixed")
    assert tool("--list", "--topic", "payments", "--resource-pattern-type", "match") == (
        "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=pay, patternType=PREFIXED)`: \n"
        " \t(principal=User:eve, host=*, operation=WRITE, permissionType=DENY) \n\n")
    seeded.restart()
    assert tool("--list", "--topic", "orders") == (
        "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n"
        " \t(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)\n"
        "\t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW) \n\n")
    tool("--remove", "--force", "--topic", "orders", "--group", "billing")
    assert "orders" not in tool("--list") and "billing" not in tool("--list")


def test_share_fetch_and_acknowledge_need_read_on_the_topic(bootstrap: str, topic: str) -> None:
    group = f"share-{uuid.uuid4().hex[:8]}"
    with RawClient(bootstrap) as raw:
        topic_id = raw.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                               12).topics[0].topic_id
        member = str(uuid.uuid4())
        joined = raw.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=0,
                                                        subscribed_topic_names=[topic]), 1)
        assert joined.error_code == ErrorCode.NONE
        lock(bootstrap, ResourceType.TOPIC, topic)
        grant(bootstrap, ResourceType.GROUP, group, ANON, Op.READ)
        fetch = ShareFetchRequest(group_id=group, member_id=member, share_session_epoch=0, max_wait_ms=0, min_bytes=1,
                                  max_records=10, batch_size=10, topics=[ShareFetchRequest.FetchTopic(
                                      topic_id=topic_id, partitions=[ShareFetchRequest.FetchPartition(
                                          partition_index=0)])])
        fetched = raw.request(fetch, 1)
        assert [p.error_code for t in fetched.responses for p in t.partitions] == [
            ErrorCode.TOPIC_AUTHORIZATION_FAILED]
        acknowledged = raw.request(ShareAcknowledgeRequest(
            group_id=group, member_id=member, share_session_epoch=1, topics=[ShareAcknowledgeRequest.AcknowledgeTopic(
                topic_id=topic_id, partitions=[ShareAcknowledgeRequest.AcknowledgePartition(
                    partition_index=0, acknowledgement_batches=[ShareAcknowledgeRequest.AcknowledgementBatch(
                        first_offset=0, last_offset=0, acknowledge_types=[1])])])]), 1)
        assert [p.error_code for t in acknowledged.responses for p in t.partitions] == [
            ErrorCode.TOPIC_AUTHORIZATION_FAILED]


def test_the_share_coordinator_answers_only_brokers(kafka_broker: BrokerProcess) -> None:
    """Its state APIs and FindCoordinator's SHARE key need CLUSTER_ACTION on the cluster."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"share-state-{uuid.uuid4().hex[:8]}")
    lock(bootstrap, ResourceType.BROKER, "kafka-cluster")
    R = ReadShareGroupStateRequest
    with RawClient(bootstrap) as raw:
        topic_id = raw.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                               12).topics[0].topic_id
        read = raw.request(R(group_id="g", topics=[R.ReadStateData(topic_id=topic_id, partitions=[
            R.PartitionData(partition=0)])]), 0)
        [part] = read.results[0].partitions
        assert (part.error_code, part.error_message) == (ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                                         "Cluster authorization failed.")
        found = raw.request(FindCoordinatorRequest(key_type=2, coordinator_keys=[f"g:{uuid_to_str(topic_id)}:0"]), 6)
        assert found.coordinators[0].error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
