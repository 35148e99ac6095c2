"""A live group moved between the classic protocol and KIP-848, one member at a time, as teams
upgrade to `group.protocol=consumer` (Kafka 4's online migration, `group.consumer.migration.policy`).

Members commit after every batch while a producer keeps writing; no record goes unread, and none
is read twice unless its batch's commit was refused. Admin clients and `kbroker groups` see the
group as Kafka shows it: a consumer group (ConsumerGroupDescribe, type `consumer`; DescribeGroups
v5 answers Dead) from the first KIP-848 member on, a classic one again once the last has left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kproto import ErrorCode
from kproto.messages import ConsumerGroupHeartbeatRequest

from conftest import create_topic
from groupmembers import Member, owned_once, read_twice, seen_by, stop_all, wait_until
from rawclient import RawClient

PARTITIONS = 6
pytestmark = pytest.mark.broker_config({
    "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000",
    "group.consumer.min.session.timeout.ms": "1000", "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.heartbeat.interval.ms": "100", "group.consumer.heartbeat.interval.ms": "500",
})


class SteadyProducer:
    """Writes one record every few milliseconds, round the partitions, until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        # idempotent: a batch retried across a broker restart is not written twice
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
        self.topic = topic
        self.sent: set[tuple[int, str]] = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while not self.stopping.wait(0.005):
            p, value = n % PARTITIONS, f"r{n}"
            self.producer.produce(self.topic, value=value.encode(), partition=p)
            self.producer.poll(0)
            self.sent.add((p, value))
            n += 1

    def stop(self) -> set[tuple[int, str]]:
        self.stopping.set()
        self.thread.join(10)
        assert self.producer.flush(30) == 0, "records left unsent"
        return self.sent


def topic_and_group(bootstrap: str) -> tuple[str, str]:
    return create_topic(bootstrap, f"migrate-{uuid.uuid4().hex[:8]}", PARTITIONS), f"g-{uuid.uuid4().hex[:8]}"


def sharing(members: list[Member]) -> bool:
    return all(m.assignment for m in members) and owned_once(members, PARTITIONS)


def described(bootstrap: str, group: str):
    """librdkafka's describe: ConsumerGroupDescribe first, DescribeGroups for a classic group."""
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the answer: a dropped client drops it
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)


def tool_described(bootstrap: str, group: str) -> dict:
    tool = subprocess.run([sys.executable, "-m", "kbroker", "groups", "--bootstrap-server", bootstrap, "--describe",
                           "--group", group, "--members", "--output", "json"], capture_output=True, text=True,
                          timeout=60)
    assert tool.returncode == 0, tool.stderr
    [doc] = json.loads(tool.stdout)
    return doc


def assert_seen_as(bootstrap: str, group: str, kind: ConsumerGroupType, members: int, settle: float = 30) -> None:
    """The group as every admin view shows it, Kafka's way, once those views agree: just after a
    swap a KIP-848 member can still be taking over a partition another gave up, and a view taken
    in between counts one partition short."""
    deadline = time.monotonic() + settle
    while True:
        try:
            return check_seen_as(bootstrap, group, kind, members)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_seen_as(bootstrap: str, group: str, kind: ConsumerGroupType, members: int) -> None:
    d = described(bootstrap, group)
    assert (d.type, len(d.members)) == (kind, members), (d.type, d.members)
    assert sorted(tp.partition for m in d.members for tp in m.assignment.topic_partitions) == list(range(PARTITIONS))
    doc = tool_described(bootstrap, group)
    assert len(doc["members"]) == members and sum(m["partitions"] for m in doc["members"]) == PARTITIONS
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = {g["group_id"]: g["protocol_type"] for g in kp.list_groups()}
        assert listed[group] == "consumer"
        kp_described = kp.describe_groups([group])[group]
        expected_state = "Dead" if kind == ConsumerGroupType.CONSUMER else "Stable"
        assert kp_described["group_state"] == expected_state
        assert len(kp_described["members"]) == (0 if kind == ConsumerGroupType.CONSUMER else members)
    finally:
        kp.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    by_type = admin.list_consumer_groups(types={kind}, request_timeout=10).result(timeout=15)
    assert group in {g.group_id for g in by_type.valid}


class LiveGroup:
    """A group's members under a producer's load, as members are swapped one at a time.

    `everyone` keeps every member ever started, so that what any of them read counts; on leaving
    the block every member and the producer stop, and a failed check shows each member's history.
    """

    def __init__(self, bootstrap: str, topic: str, members: list[Member]) -> None:
        self.members = members
        self.everyone = list(members)
        self.producer = SteadyProducer(bootstrap, topic)

    def __enter__(self) -> LiveGroup:
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.producer.stopping.set()
        stop_all(self.everyone)
        if kind is AssertionError:
            details = [(m.assignments, m.stderr_tail()) for m in self.everyone]
            raise AssertionError(f"{error}; member assignments and errors: {details}") from None

    def wait_sharing(self, what: str, timeout: float = 60) -> None:
        wait_until(lambda: sharing(self.members), timeout, what)

    def swap(self, index: int, replacement: Member, what: str) -> None:
        """Stop one member cleanly and start its replacement; wait until the group shares out again."""
        self.members[index].stop()
        self.members[index] = replacement
        self.everyone.append(replacement)
        self.wait_sharing(what)

    def check_every_record_read_once(self) -> None:
        """Stop producing; every record is read, none twice unless its batch's commit was refused."""
        sent = self.producer.stop()
        wait_until(lambda: sent <= seen_by(self.everyone), 60, "every record produced consumed")
        twice = read_twice(self.everyone)
        assert not twice, sorted(twice)[:20]


@pytest.mark.timeout(240)
def test_librdkafka_members_move_to_kip848_one_by_one_and_back(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap)

    def member(protocol: str) -> Member:
        return Member("confluent-kafka", bootstrap, topic, group, protocol=protocol)

    with LiveGroup(bootstrap, topic, [member("classic") for _ in range(3)]) as live:
        live.wait_sharing("three classic members sharing the topic")
        for i in range(3):
            live.swap(i, member("consumer"), f"the group sharing out after member {i} moved to KIP-848")
            if i == 0:  # mid-migration: a consumer group of two classic members and one KIP-848 member
                assert_seen_as(bootstrap, group, ConsumerGroupType.CONSUMER, 3)
        for i in range(3):
            live.swap(i, member("classic"), f"the group sharing out after member {i} went back to classic")
        assert_seen_as(bootstrap, group, ConsumerGroupType.CLASSIC, 3)
        assert described(bootstrap, group).state == ConsumerGroupState.STABLE
        live.check_every_record_read_once()


@pytest.mark.timeout(180)
def test_a_kafka_python_member_stays_while_the_others_move_to_kip848(kafka_broker) -> None:
    """kafka-python speaks only the classic protocol: it stays in the group, served by the consumer
    group, gets its share, and owns everything once the KIP-848 members have gone."""
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap)
    staying = Member("kafka-python", bootstrap, topic, group, "range")
    with LiveGroup(bootstrap, topic, [staying] + [Member("confluent-kafka", bootstrap, topic, group)
                                                  for _ in range(2)]) as live:
        live.wait_sharing("three classic members sharing the topic")
        for i in (1, 2):
            live.swap(i, Member("confluent-kafka", bootstrap, topic, group, protocol="consumer"),
                      f"the group sharing out after member {i} moved to KIP-848")
        assert_seen_as(bootstrap, group, ConsumerGroupType.CONSUMER, 3)
        for i in (1, 2):
            live.members[i].stop()
        wait_until(lambda: staying.assignment == list(range(PARTITIONS)), 60, "kafka-python owning every partition")
        assert_seen_as(bootstrap, group, ConsumerGroupType.CLASSIC, 1)
        live.check_every_record_read_once()


def group_shape(bootstrap: str, group: str) -> tuple:
    d = described(bootstrap, group)
    return d.type, sorted((m.member_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
                          for m in d.members)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_group_mid_migration_comes_back_in_the_same_shape_after_a_restart(kafka_broker, kill: bool) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap)
    # librdkafka rides out the restart (kafka-python 3.0.12's poll raises while the broker is away);
    # the classic member's session, started again at load, outlasts its reconnection backoff
    members = [Member("confluent-kafka", bootstrap, topic, group),
               Member("confluent-kafka", bootstrap, topic, group, session_ms=20000)]
    with LiveGroup(bootstrap, topic, members) as live:
        live.wait_sharing("two classic members sharing the topic")
        live.swap(0, Member("confluent-kafka", bootstrap, topic, group, protocol="consumer"),
                  "a KIP-848 member and a classic one sharing the topic")
        wait_until(lambda: described(bootstrap, group).state == ConsumerGroupState.STABLE, 30, "a stable group")
        before = group_shape(bootstrap, group)
        kafka_broker.restart(kill=kill)
        assert group_shape(bootstrap, group) == before
        live.check_every_record_read_once()
        assert group_shape(bootstrap, group) == before


@pytest.mark.timeout(120)
@pytest.mark.broker_config({"group.consumer.migration.policy": "disabled"})
def test_a_disabled_migration_policy_refuses_as_kafka_does(kafka_broker) -> None:
    """No upgrade: the first KIP-848 heartbeat into a classic group in use gets GROUP_ID_NOT_FOUND.
    No downgrade: a consumer group whose KIP-848 members all left keeps serving its classic member."""
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap)
    classic = Member("confluent-kafka", bootstrap, topic, group)
    members = [classic]
    try:
        wait_until(lambda: sharing([classic]), 40, "a classic member owning the topic")
        with RawClient(bootstrap) as client:
            answer = client.request(ConsumerGroupHeartbeatRequest(
                group_id=group, member_id=uuid.uuid4().hex, member_epoch=0, rebalance_timeout_ms=5000,
                subscribed_topic_names=[topic], topic_partitions=[]), 0)
        assert (answer.error_code, answer.error_message) == (
            ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group} is not a consumer group.")
        assert described(bootstrap, group).type == ConsumerGroupType.CLASSIC
        classic.stop()

        other = f"g-{uuid.uuid4().hex[:8]}"
        kip848 = Member("confluent-kafka", bootstrap, topic, other, protocol="consumer")
        members.append(kip848)
        wait_until(lambda: sharing([kip848]), 40, "a KIP-848 member owning the topic")
        staying = Member("confluent-kafka", bootstrap, topic, other)
        members.append(staying)
        wait_until(lambda: sharing([kip848, staying]), 40, "a classic member joining the consumer group")
        kip848.stop()
        wait_until(lambda: staying.assignment == list(range(PARTITIONS)), 40, "the classic member owning everything")
        assert described(bootstrap, other).type == ConsumerGroupType.CONSUMER
    finally:
        stop_all(members)
