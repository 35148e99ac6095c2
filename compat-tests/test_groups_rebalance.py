"""Three members of one group share a 6-partition topic, then one leaves and one is killed.

For each stock client (and librdkafka's range, roundrobin and cooperative-sticky assignors): every
partition is owned by exactly one live member after each rebalance, the partitions of a member
that leaves or dies are taken over (the dead one's within its session timeout), and no record
produced at any stage goes unconsumed.
"""

from __future__ import annotations

import uuid

import pytest

from conftest import create_topic
from groupmembers import Member, leave_then_crash, stop_all

pytestmark = pytest.mark.broker_config({"group.initial.rebalance.delay.ms": "0"})

PARTITIONS = 6
SESSION_MS = 6000
REBALANCE_WAIT = 45  # first joins of three members, each of which triggers a rebalance


@pytest.mark.timeout(180)
@pytest.mark.parametrize("client,assignor", [
    ("kafka-python", "range"),
    ("confluent-kafka", "range"),
    ("confluent-kafka", "roundrobin"),
    ("confluent-kafka", "cooperative-sticky"),
    ("aiokafka", "roundrobin"),
])
def test_three_members_share_partitions_through_leave_and_crash(kafka_broker, client: str, assignor: str) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"rebalance-{uuid.uuid4().hex[:8]}", PARTITIONS)
    group = f"g-{uuid.uuid4().hex[:8]}"
    members = [Member(client, bootstrap, topic, group, assignor, session_ms=SESSION_MS) for _ in range(3)]
    try:
        leave_then_crash(bootstrap, topic, members, PARTITIONS, SESSION_MS / 1000, REBALANCE_WAIT)
    finally:
        stop_all(members)
