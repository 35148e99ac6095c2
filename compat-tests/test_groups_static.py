"""Static membership (KIP-345): a member restarted with its group.instance.id gets its partitions
back while the other members keep theirs with no rebalance."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import create_topic
from groupmembers import Member, owned_once, produce_round, seen_by, stop_all, wait_until

pytestmark = pytest.mark.broker_config({"group.initial.rebalance.delay.ms": "0"})

PARTITIONS = 6
SESSION_MS = 10000


@pytest.mark.timeout(120)
def test_restarted_static_member_rejoins_without_rebalancing_the_others(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"static-{uuid.uuid4().hex[:8]}", PARTITIONS)
    group = f"g-{uuid.uuid4().hex[:8]}"

    def member(n: int) -> Member:
        return Member("confluent-kafka", bootstrap, topic, group, "range", instance=f"instance-{n}",
                      session_ms=SESSION_MS)

    members = [member(0)]
    wait_until(lambda: members[0].assignment, 30, "the first member's assignment")
    members += [member(1), member(2)]
    try:
        wait_until(lambda: owned_once(members, PARTITIONS), 45, "three static members sharing every partition")
        time.sleep(2)  # let the last rebalance settle everywhere
        before = {id(m): len(m.rebalances) for m in members}
        restarted = members[1]
        old_share = restarted.assignment
        restarted.kill()
        members[1] = member(1)
        wait_until(lambda: members[1].assignment == old_share, SESSION_MS / 1000,
                   "the restarted member's old partitions, within its session timeout")
        sent = produce_round(bootstrap, topic, "s", PARTITIONS, 5)
        wait_until(lambda: sent <= seen_by(members), 30, "every record consumed")
        for other in (members[0], members[2]):
            assert len(other.rebalances) == before[id(other)], other.rebalances
        assert owned_once(members, PARTITIONS)
    finally:
        stop_all(members + [restarted])
