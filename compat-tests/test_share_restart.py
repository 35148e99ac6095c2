"""Share groups and their share-partition state across broker restarts (SIGTERM and SIGKILL), with
confluent-kafka's ShareConsumer.

The share coordinator keeps each share partition in `__share_group_state`: after a restart an
acknowledged or rejected record is not delivered again, a record that was acquired when the
broker went away is delivered again with its delivery count kept, and a record released at every
delivery is archived after `group.share.delivery.count.limit` deliveries, restarts or not.

The group coordinator keeps the share groups themselves in `__consumer_offsets`: after a restart
an idle group is listed and described with its epoch and offsets, a member carries on with its id
and epoch, and a deleted group stays deleted.
"""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from typing import Iterator

import pytest
from confluent_kafka import AcknowledgeType, ShareConsumer
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, NewTopic

from kproto import ErrorCode
from kproto.messages import ListGroupsRequest, MetadataRequest, ShareGroupDescribeRequest, ShareGroupHeartbeatRequest

from kbroker.tools.share_groups import share_groups

from brokerproc import BrokerProcess
from rawclient import RawClient
from test_share_groups import WAIT_S, Member, acquired, produce, start_offset, started, take, until, values

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


def described(bootstrap: str, group: str):
    """ShareGroupDescribe's answer for the group."""
    with RawClient(bootstrap) as client:
        [answer] = client.request(ShareGroupDescribeRequest(group_ids=[group]), 1).groups
    return answer


def listed(bootstrap: str) -> dict[str, str]:
    """The share groups ListGroups gives, with their states."""
    with RawClient(bootstrap) as client:
        return {g.group_id: g.group_state for g in client.request(ListGroupsRequest(types_filter=["share"]), 5).groups}


def tool(bootstrap: str, *args: str):
    """`kbroker share-groups --output json` against the broker."""
    done = CliRunner().invoke(share_groups, ["--bootstrap-server", bootstrap, "--output", "json", *args])
    assert done.exit_code == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def share_offsets(bootstrap: str, group: str) -> list[tuple[str, int, int, int]]:
    """The tool's offsets view: topic, partition, start offset and lag of each share partition."""
    [described] = tool(bootstrap, "--describe", "--group", group)
    return [(row["topic"], row["partition"], row["start_offset"], row["lag"]) for row in described["offsets"]]


def idle(bootstrap: str, group: str, member: ShareConsumer) -> None:
    """Close the group's only member and wait until the group is Empty."""
    member.close()
    until(f"{group} empty", lambda: described(bootstrap, group).group_state == "Empty")


@KILLS
def test_an_idle_share_group_is_known_after_a_restart(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer, kill: bool) -> None:
    """Listed, described (ShareGroupDescribe and the tool) with the epochs and start offset it had,
    and a new member takes up where the group stopped."""
    bootstrap = kafka_broker.bootstrap_server
    produce(bootstrap, topic, [b"one", b"two"])
    for m in take(member, 2):
        member.acknowledge(m, AcknowledgeType.ACCEPT)
    member.commit_sync(WAIT_S)
    idle(bootstrap, group, member)
    before = described(bootstrap, group)
    offsets = share_offsets(bootstrap, group)
    assert offsets == [(topic, 0, 2, 0)]
    kafka_broker.restart(kill=kill)
    after = described(bootstrap, group)
    assert (after.error_code, after.group_state, after.group_epoch, after.assignment_epoch, after.members) == (
        0, "Empty", before.group_epoch, before.assignment_epoch, [])
    assert listed(bootstrap).get(group) == "Empty"
    assert group in [row["group"] for row in tool(bootstrap, "--list")]
    assert share_offsets(bootstrap, group) == offsets
    [state] = tool(bootstrap, "--describe", "--group", group, "--state", "--verbose")[0]["state"]
    assert (state["group_epoch"], state["members"]) == (before.group_epoch, 0)
    produce(bootstrap, topic, [b"three"])
    with closing(ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                                "share.acknowledgement.mode": "explicit"})) as again:
        again.subscribe([topic])
        [m] = take(again, 1)
        assert (m.value(), m.offset(), m.delivery_count()) == (b"three", 2, 1)
        again.acknowledge(m, AcknowledgeType.ACCEPT)
        again.commit_sync(WAIT_S)
    assert described(bootstrap, group).group_epoch > before.group_epoch


@KILLS
def test_a_member_carries_on_with_its_epoch_across_a_restart(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer, kill: bool) -> None:
    """Another member joined and left, so the group is at epoch 3; after the restart the member
    heartbeats with its id and epoch, is still the group's at that epoch, and goes on fetching."""
    bootstrap = kafka_broker.bootstrap_server
    with RawClient(bootstrap) as client:
        passing = str(uuid.uuid4())
        for epoch in (0, -1):
            assert client.request(ShareGroupHeartbeatRequest(
                group_id=group, member_id=passing, member_epoch=epoch,
                subscribed_topic_names=[topic] if epoch == 0 else None), 1).error_code == 0

    def settled() -> bool:
        member.poll(0.2)
        answer = described(bootstrap, group)
        return [m.member_epoch for m in answer.members] == [answer.group_epoch]
    until("the member at the group's epoch", settled)
    before = described(bootstrap, group)
    assert before.group_epoch == 3
    kafka_broker.restart(kill=kill)
    produce(bootstrap, topic, [b"after"])
    [m] = take(member, 1)
    assert m.value() == b"after"
    member.acknowledge(m, AcknowledgeType.ACCEPT)
    member.commit_sync(WAIT_S)
    after = described(bootstrap, group)
    assert (after.group_epoch, [(m.member_id, m.member_epoch) for m in after.members]) == (
        before.group_epoch, [(m.member_id, m.member_epoch) for m in before.members])


def test_a_deleted_share_group_stays_deleted_after_a_restart(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer) -> None:
    """Deleted with the tool, the group and its share-partition state stay gone: a new member of
    that name starts at the latest offset, not where the old group stopped."""
    bootstrap = kafka_broker.bootstrap_server
    produce(bootstrap, topic, [b"kept", b"left"])
    kept, _ = take(member, 2)
    member.acknowledge(kept, AcknowledgeType.ACCEPT)
    member.commit_sync(WAIT_S)
    idle(bootstrap, group, member)  # "left" goes back to the group
    assert start_offset(bootstrap, group, topic)[0] == 1
    done = CliRunner().invoke(share_groups, ["--bootstrap-server", bootstrap, "--delete", "--group", group])
    assert done.exit_code == 0, done.stderr + done.stdout
    kafka_broker.restart()
    assert described(bootstrap, group).error_code == ErrorCode.GROUP_ID_NOT_FOUND
    assert group not in listed(bootstrap)
    assert start_offset(bootstrap, group, topic) == (-1, -1)
    with closing(ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})) as again:
        again.subscribe([topic])
        started(bootstrap, group, topic, again)
        assert start_offset(bootstrap, group, topic)[0] == 2


def test_offsets_of_a_partition_not_fetched_since_a_restart_can_be_deleted(
        kafka_broker: BrokerProcess, topic: str, group: str, member: ShareConsumer) -> None:
    """The group's record of its initialized share partitions names them: the tool deletes the
    partition's kept state although no member fetched it since the restart."""
    bootstrap = kafka_broker.bootstrap_server
    produce(bootstrap, topic, [b"left"])
    take(member, 1)
    idle(bootstrap, group, member)  # "left" goes back to the group
    kafka_broker.restart()
    assert share_offsets(bootstrap, group) == [(topic, 0, 0, 1)]
    deleted = tool(bootstrap, "--delete-offsets", "--group", group, "--topic", topic)
    assert deleted == {"group": group, "topics": [{"topic": topic, "status": "Successful"}]}
    assert share_offsets(bootstrap, group) == []
    with closing(ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})) as again:
        again.subscribe([topic])
        started(bootstrap, group, topic, again)
        assert start_offset(bootstrap, group, topic)[0] == 1
