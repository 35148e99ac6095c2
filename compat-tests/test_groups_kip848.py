"""KIP-848 (`group.protocol=consumer`): librdkafka members share a 6-partition topic, then one
leaves and one is killed.

The broker assigns (uniform and range); every partition is owned by exactly one live member after
each step, the killed member's partitions move within the consumer session timeout, and no record
produced at any stage goes unconsumed. The group is kept in `__consumer_offsets`: members carry on
through a broker restart without a rebalance.
"""

from __future__ import annotations

import uuid

import pytest

from confluent_kafka import ConsumerGroupType
from confluent_kafka.admin import AdminClient

from conftest import create_topic
from groupmembers import Member, leave_then_crash, owned_once, produce_round, seen_by, stop_all, wait_until

SESSION_MS = 6000
pytestmark = pytest.mark.broker_config({
    "group.initial.rebalance.delay.ms": "0",
    "group.consumer.min.session.timeout.ms": "1000", "group.consumer.session.timeout.ms": str(SESSION_MS),
    "group.consumer.min.heartbeat.interval.ms": "100", "group.consumer.heartbeat.interval.ms": "500",
})

PARTITIONS = 6


def topic_and_group(bootstrap: str, label: str) -> tuple[str, str]:
    """A fresh 6-partition topic and group id, unique across xdist workers."""
    return create_topic(bootstrap, f"{label}-{uuid.uuid4().hex[:8]}", PARTITIONS), f"g-{uuid.uuid4().hex[:8]}"


def described_members(bootstrap: str, group: str) -> list:
    """librdkafka's describe (ConsumerGroupDescribe once the broker offers it); the group must be KIP-848."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    assert described.type == ConsumerGroupType.CONSUMER, described.type
    return described.members


@pytest.mark.timeout(150)
@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_three_members_share_partitions_through_leave_and_crash(kafka_broker, assignor: str) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap, "kip848")
    members = [Member("confluent-kafka", bootstrap, topic, group, assignor, protocol="consumer") for _ in range(3)]
    try:
        leave_then_crash(bootstrap, topic, members, PARTITIONS, SESSION_MS / 1000, 30)
        assert len(described_members(bootstrap, group)) == 1
    finally:
        stop_all(members)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_members_carry_on_through_a_broker_restart(kafka_broker, kill: bool) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap, "kip848-restart")
    members = [Member("confluent-kafka", bootstrap, topic, group, protocol="consumer") for _ in range(2)]
    try:
        sent = produce_round(bootstrap, topic, "a", PARTITIONS, 10)
        wait_until(lambda: sent <= seen_by(members) and all(m.assignment for m in members)
                   and owned_once(members, PARTITIONS), 30, "two members sharing the topic, first round consumed")
        before = [(len(m.rebalances), m.assignment) for m in members]
        kafka_broker.restart(kill=kill)
        sent |= produce_round(bootstrap, topic, "b", PARTITIONS, 10)
        wait_until(lambda: sent <= seen_by(members), 30, "the round after the restart consumed")
        assert [(len(m.rebalances), m.assignment) for m in members] == before
    finally:
        stop_all(members)


@pytest.mark.timeout(90)
def test_regex_subscription_picks_up_new_topics(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    prefix = f"kip848-re-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, f"{prefix}-a", 3)
    member = Member("confluent-kafka", bootstrap, f"^{prefix}-.*", f"g-{uuid.uuid4().hex[:8]}", protocol="consumer")
    try:
        wait_until(lambda: len(member.assignment or []) == 3, 30, "the matching topic's three partitions")
        create_topic(bootstrap, f"{prefix}-b", 2)
        wait_until(lambda: len(member.assignment or []) == 5, 30, "the new matching topic's partitions too")
    finally:
        stop_all([member])


@pytest.mark.timeout(90)
def test_static_member_back_after_a_clean_stop_keeps_its_partitions(kafka_broker) -> None:
    """A static member's close sends epoch -2: its partitions wait for it, and nobody else moves."""
    bootstrap = kafka_broker.bootstrap_server
    topic, group = topic_and_group(bootstrap, "kip848-static")

    def member(n: int) -> Member:
        return Member("confluent-kafka", bootstrap, topic, group, instance=f"instance-{n}", protocol="consumer")

    members = [member(0), member(1)]
    stopped = members[1]
    try:
        wait_until(lambda: owned_once(members, PARTITIONS) and all(m.assignment for m in members), 30,
                   "two static members sharing every partition")
        before = len(members[0].rebalances), members[0].assignment
        old_share = stopped.assignment
        stopped.stop()
        members[1] = member(1)
        wait_until(lambda: members[1].assignment == old_share, 20, "the restarted member's old partitions")
        sent = produce_round(bootstrap, topic, "s", PARTITIONS, 5)
        wait_until(lambda: sent <= seen_by(members), 30, "every record consumed")
        assert (len(members[0].rebalances), members[0].assignment) == before
    finally:
        stop_all(members + [stopped])
