"""Share-partition state across broker restarts (SIGTERM and SIGKILL), with confluent-kafka's ShareConsumer.

The share coordinator keeps each share partition in `__share_group_state`: after a restart an
acknowledged or rejected record is not delivered again, a record that was acquired when the
broker went away is delivered again with its delivery count kept, and a record released at every
delivery is archived after `group.share.delivery.count.limit` deliveries, restarts or not.
"""

from __future__ import annotations

import uuid
from contextlib import closing
from typing import Iterator

import pytest
from confluent_kafka import AcknowledgeType, ShareConsumer
from confluent_kafka.admin import AdminClient, NewTopic

from kproto.messages import MetadataRequest, ShareGroupHeartbeatRequest

from brokerproc import BrokerProcess
from rawclient import RawClient
from test_share_groups import WAIT_S, Member, acquired, produce, start_offset, take, until, values

LIMIT = 3
pytestmark = pytest.mark.broker_config({
    "group.share.min.record.lock.duration.ms": "1000",
    "group.share.record.lock.duration.ms": "2000",
    "group.share.delivery.count.limit": str(LIMIT),
    "log.flush.interval.messages": "1",  # what SIGKILL must not lose is on disk, as test_durability asks
})
KILLS = pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])


@pytest.fixture
def topic(kafka_broker: BrokerProcess) -> str:
    name = f"share-restart-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_server})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(WAIT_S)
    return name


@pytest.fixture
def group() -> str:
    return f"share-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def member(kafka_broker: BrokerProcess, topic: str, group: str) -> Iterator[ShareConsumer]:
    """A member of `group` reading `topic`, which it has begun to fetch: records produced from now
    on are the group's."""
    c = ShareConsumer({"bootstrap.servers": kafka_broker.bootstrap_server, "group.id": group,
                       "share.acknowledgement.mode": "explicit"})
    c.subscribe([topic])

    def step() -> bool:
        assert not c.poll(0.2)
        return start_offset(kafka_broker.bootstrap_server, group, topic)[0] >= 0
    until(f"{group} fetching {topic}", step)
    yield c
    c.close()  # a second close is a no-op


@KILLS
def test_acknowledged_records_stay_acknowledged_and_held_ones_come_back(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer, kill: bool) -> None:
    """The member accepts one record and rejects another; a member speaking the protocol by hand
    (which, unlike librdkafka, can hold records without polling on) holds a third when the broker
    goes. After the restart only the held one comes back, delivered a second time."""
    bootstrap = kafka_broker.bootstrap_server
    produce(bootstrap, topic, [b"accepted", b"rejected"])
    accepted, rejected = take(member, 2)
    member.acknowledge(accepted, AcknowledgeType.ACCEPT)
    member.acknowledge(rejected, AcknowledgeType.REJECT)
    member.commit_sync(WAIT_S)
    member.close()
    with RawClient(bootstrap) as client:
        topic_id = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                                  12).topics[0].topic_id
        holder = Member(client, group, topic_id)
        assert client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=holder.member_id, member_epoch=0,
                                                         subscribed_topic_names=[topic]), 1).error_code == 0
        assert holder.fetch(0).error_code == 0
        produce(bootstrap, topic, [b"held"])
        assert acquired(holder.fetch(1, wait_ms=WAIT_S * 1000)) == [(2, 2, 1)]
        kafka_broker.restart(kill=kill)
    with closing(ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                                "share.acknowledgement.mode": "explicit"})) as again:
        again.subscribe([topic])
        [held] = take(again, 1)
        assert (held.value(), held.offset(), held.delivery_count()) == (b"held", 2, 2)
        produce(bootstrap, topic, [b"after"])
        again.acknowledge(held, AcknowledgeType.ACCEPT)
        [after] = take(again, 1)
        assert (after.value(), after.delivery_count()) == (b"after", 1)
        again.acknowledge(after, AcknowledgeType.ACCEPT)
        again.commit_sync(WAIT_S)
        until("every record settled", lambda: start_offset(bootstrap, group, topic) == (4, 0))


@KILLS
def test_a_poison_record_is_archived_at_the_limit_across_restarts(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer, kill: bool) -> None:
    """Released at every delivery, with a restart after each: delivered LIMIT times in all, then
    archived, and the next record is delivered instead."""
    bootstrap = kafka_broker.bootstrap_server
    produce(bootstrap, topic, [b"poison"])
    counts: list[int] = []
    while not counts or counts[-1] < LIMIT:
        [m] = take(member, 1)
        assert m.value() == b"poison"
        counts.append(m.delivery_count())
        member.acknowledge(m, AcknowledgeType.RELEASE)
        member.commit_sync(WAIT_S)
        kafka_broker.restart(kill=kill)
    assert counts == sorted(set(counts)) and counts[-1] == LIMIT  # each delivery counted once, none lost
    produce(bootstrap, topic, [b"next"])
    [m] = take(member, 1)
    assert values([m]) == [b"next"]
    member.acknowledge(m, AcknowledgeType.ACCEPT)
    member.commit_sync(WAIT_S)
    until("both settled", lambda: start_offset(bootstrap, group, topic) == (2, 0))
