"""Group and transaction coordinators on a three-broker cluster: each is the leader of its
internal topic partition, other brokers answer NOT_COORDINATOR, and consumer groups carry on
through a SIGKILL of their coordinator without losing a committed position."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kproto import ErrorCode
from kproto.messages import FindCoordinatorRequest, ListGroupsRequest, OffsetFetchRequest

from kbroker.tools.client import Connection

from clusterclients import admin, create_topic, leader_of, wait_until
from zkcluster import Cluster

TOPIC_PARTITIONS = 3
TRANSACTION_KEY = 1  # FindCoordinator's key type of a transactional id


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("coordinators")) as running:
        yield running


@pytest.fixture
def all_brokers_up(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, with any broker a test killed started again afterwards."""
    yield cluster
    for broker in cluster.brokers.values():
        if not broker.running:
            broker.start()
    cluster.wait_for_brokers(list(cluster.brokers))


def group_coordinator(cluster: Cluster, group: str) -> int:
    """The coordinator's id, as FindCoordinator tells AdminClient."""
    client = admin(cluster)  # kept until the answer is in: its handle ends with it
    return client.describe_consumer_groups([group])[group].result(timeout=15).coordinator.id


def request_to(cluster: Cluster, broker_id: int, request, version: int):
    host, port = cluster.brokers[broker_id].bootstrap_server.rsplit(":", 1)
    with Connection(host, int(port)) as connection:
        return connection.request(request, version)


def produce(cluster: Cluster, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value)
    assert producer.flush(30) == 0


def filled_topic(cluster: Cluster, prefix: str, count: int) -> tuple[str, str, list[bytes]]:
    """A new topic of three partitions holding `count` records, and the id of a new group to read it."""
    topic, group = f"{prefix}-{uuid.uuid4().hex[:8]}", f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=TOPIC_PARTITIONS)
    values = [f"first-{i}".encode() for i in range(count)]
    produce(cluster, topic, values)
    return topic, group, values


def group_consumer(cluster: Cluster, group: str, **extra: object) -> Consumer:
    return Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
                     **extra})


@dataclass
class Progress:
    """What a group read, as (partition, offset), and the positions its commits were acknowledged at."""

    read: list[tuple[int, int]] = field(default_factory=list)
    committed: dict[int, int] = field(default_factory=dict)

    def acknowledged(self, partition: int, position: int) -> None:
        self.committed[partition] = max(self.committed.get(partition, 0), position)

    def distinct(self) -> int:
        return len(set(self.read))

    def read_again(self, since: int, positions: dict[int, int]) -> list[tuple[int, int]]:
        """Records read after the first `since` that lie below `positions`: a committed position was lost."""
        return [(p, o) for p, o in self.read[since:] if o < positions.get(p, 0)]


def consume_and_commit(consumer: Consumer, progress: Progress) -> None:
    """One poll; what it brought is committed synchronously and, once acknowledged, remembered."""
    messages = [m for m in consumer.consume(100, 0.2) if not m.error()]
    if not messages:
        return
    progress.read.extend((m.partition(), m.offset()) for m in messages)
    try:
        acknowledged = consumer.commit(asynchronous=False)
    except KafkaException:  # the coordinator moved mid-commit: not acknowledged, so nothing is promised
        return
    for tp in acknowledged or []:
        if tp.error is None and tp.offset >= 0:
            progress.acknowledged(tp.partition, tp.offset)


def test_only_the_coordinator_serves_a_group(cluster: Cluster) -> None:
    topic = f"only-{uuid.uuid4().hex[:8]}"
    group = f"only-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic)
    produce(cluster, topic, [b"a", b"b"])
    consumer = group_consumer(cluster, group)
    consumer.subscribe([topic])
    progress = Progress()
    try:
        wait_until(lambda: consume_and_commit(consumer, progress) or progress.committed.get(0) == 2, 30,
                   "a commit of both records")
        coordinator = group_coordinator(cluster, group)
        for broker_id in cluster.brokers:
            fetched = request_to(cluster, broker_id, OffsetFetchRequest(
                group_id=group, topics=[OffsetFetchRequest.OffsetFetchRequestTopic(name=topic,
                                                                                   partition_indexes=[0])]), 5)
            listed = request_to(cluster, broker_id, ListGroupsRequest(), 4)
            if broker_id == coordinator:
                assert fetched.error_code == ErrorCode.NONE
                assert fetched.topics[0].partitions[0].committed_offset == 2
                assert group in [g.group_id for g in listed.groups]
            else:
                assert fetched.error_code == ErrorCode.NOT_COORDINATOR
                assert group not in [g.group_id for g in listed.groups]
    finally:
        consumer.close()


def test_a_group_carries_on_when_its_coordinator_is_killed(all_brokers_up: Cluster) -> None:
    cluster = all_brokers_up
    topic, group, first = filled_topic(cluster, "failover", 600)
    members = [group_consumer(cluster, group) for _ in range(2)]
    for member in members:
        member.subscribe([topic])
    progress = Progress()
    try:
        wait_until(lambda: [consume_and_commit(m, progress) for m in members] and progress.distinct() >= 200, 30,
                   "the group to consume a third of the records")
        killed = group_coordinator(cluster, group)
        before_kill, read_before = dict(progress.committed), len(progress.read)
        cluster.brokers[killed].stop(kill=True)
        wait_until(lambda: [consume_and_commit(m, progress) for m in members] and progress.distinct() == len(first)
                   and sum(progress.committed.values()) == len(first), 60, "the group to consume and commit everything")
        assert group_coordinator(cluster, group) != killed
    finally:
        for member in members:
            member.close()
    assert progress.read_again(read_before, before_kill) == []
    assert_new_member_resumes(cluster, topic, group, progress.committed)


def assert_new_member_resumes(cluster: Cluster, topic: str, group: str, committed: dict[int, int]) -> None:
    """A new member of the group starts from the committed offsets: it reads only what came after."""
    later = [f"later-{i}".encode() for i in range(30)]
    produce(cluster, topic, later)
    resumed = group_consumer(cluster, group)
    resumed.subscribe([topic])
    after: list[bytes] = []
    try:
        wait_until(lambda: after.extend(m.value() for m in resumed.consume(100, 0.2) if not m.error())
                   or len(after) >= len(later), 30, "the new member to read what came after the commits")
        assert sorted(after) == sorted(later)  # nothing read again
        positions = resumed.committed([TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS)], timeout=10)
        assert {tp.partition: tp.offset for tp in positions} == committed
    finally:
        resumed.close()


def test_a_kafka_python_group_carries_on_when_its_coordinator_is_killed(all_brokers_up: Cluster) -> None:
    cluster = all_brokers_up
    topic, group, first = filled_topic(cluster, "kp-failover", 300)
    consumer = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap_servers.split(","), group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=50,
                             session_timeout_ms=6000, heartbeat_interval_ms=500, metadata_max_age_ms=1000,
                             request_timeout_ms=7000, retry_backoff_ms=100)
    progress = Progress()

    def poll_and_commit() -> None:
        batches = consumer.poll(timeout_ms=200)
        if not batches:
            return
        progress.read.extend((r.partition, r.offset) for records in batches.values() for r in records)
        try:
            consumer.commit()
        except KafkaError:  # not acknowledged: nothing promised
            return
        for tp in batches:
            progress.acknowledged(tp.partition, consumer.position(tp))

    try:
        wait_until(lambda: poll_and_commit() or progress.distinct() >= 100, 30, "a third of the records")
        killed = group_coordinator(cluster, group)
        before_kill, read_before = dict(progress.committed), len(progress.read)
        cluster.brokers[killed].stop(kill=True)
        wait_until(lambda: poll_and_commit() or (progress.distinct() == len(first)
                                                 and sum(progress.committed.values()) == len(first)),
                   60, "the consumer to read and commit everything")
    finally:
        consumer.close(autocommit=False)
    assert progress.read_again(read_before, before_kill) == []
    assert_new_member_resumes(cluster, topic, group, progress.committed)


def read_committed(cluster: Cluster, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": f"rc-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        wait_until(lambda: values.extend(m.value() for m in consumer.consume(100, 0.2) if not m.error())
                   or len(values) >= expected, 30, f"{expected} committed records")
        values.extend(m.value() for m in consumer.consume(100, 1.0) if not m.error())  # nothing more comes
    finally:
        consumer.close()
    return values


def test_a_transaction_spans_partitions_led_by_different_brokers(cluster: Cluster) -> None:
    topic = f"txn-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=TOPIC_PARTITIONS)
    assert {leader_of(cluster, topic, p) for p in range(TOPIC_PARTITIONS)} == {1, 2, 3}
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for p in range(TOPIC_PARTITIONS):
        producer.produce(topic, value=f"committed-{p}".encode(), partition=p)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for p in range(TOPIC_PARTITIONS):
        producer.produce(topic, value=f"aborted-{p}".encode(), partition=p)
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"last", partition=0)
    producer.commit_transaction(30)
    values = read_committed(cluster, topic, TOPIC_PARTITIONS + 1)
    assert sorted(values) == sorted([f"committed-{p}".encode() for p in range(TOPIC_PARTITIONS)] + [b"last"])


def test_transactions_carry_on_when_their_coordinator_is_killed(all_brokers_up: Cluster) -> None:
    cluster = all_brokers_up
    topic = f"txn-failover-{uuid.uuid4().hex[:8]}"
    transactional_id = f"tx-{topic}"
    create_topic(cluster, topic, partitions_count=TOPIC_PARTITIONS)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": transactional_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    for p in range(TOPIC_PARTITIONS):
        producer.produce(topic, value=f"before-{p}".encode(), partition=p)
    producer.commit_transaction(30)
    found = request_to(cluster, 1, FindCoordinatorRequest(key=transactional_id, key_type=TRANSACTION_KEY), 3)
    cluster.brokers[found.node_id].stop(kill=True)
    producer.begin_transaction()
    for p in range(TOPIC_PARTITIONS):
        producer.produce(topic, value=f"after-{p}".encode(), partition=p)
    producer.commit_transaction(60)
    cluster.brokers[found.node_id].start()  # the reader's group may need __consumer_offsets created, on 3 brokers
    cluster.wait_for_brokers(list(cluster.brokers))
    values = read_committed(cluster, topic, 2 * TOPIC_PARTITIONS)
    assert sorted(values) == sorted(f"{when}-{p}".encode() for when in ("before", "after")
                                    for p in range(TOPIC_PARTITIONS))
