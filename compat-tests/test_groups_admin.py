"""The admin views of groups, through kafka-python's KafkaAdminClient and librdkafka's AdminClient:
list, describe and delete groups, list and delete a group's committed offsets."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka.admin import MemberToRemove
from kafka.structs import TopicPartition as KpTopicPartition

from conftest import create_topic
from groupmembers import Member, owned_once, produce_round, seen_by, stop_all, wait_until

pytestmark = pytest.mark.broker_config({"group.initial.rebalance.delay.ms": "0"})


@pytest.mark.timeout(120)
def test_admin_clients_see_a_live_group_and_an_empty_one(kafka_broker) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"admin-{uuid.uuid4().hex[:8]}", 2)
    produce_round(bootstrap, topic, "x", 2, 3)
    live, idle = f"live-{uuid.uuid4().hex[:6]}", f"idle-{uuid.uuid4().hex[:6]}"
    member = Member("confluent-kafka", bootstrap, topic, live, "range")
    ck = AdminClient({"bootstrap.servers": bootstrap})
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        wait_until(lambda: member.assignment == [0, 1] and len(member.seen) == 6, 30, "the member consuming")
        ck.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(idle, [TopicPartition(topic, 0, 2)])])[idle].result(15)

        listed = ck.list_consumer_groups(request_timeout=15).result()
        states = {g.group_id: g.state for g in listed.valid}
        assert states[live] == ConsumerGroupState.STABLE and states[idle] == ConsumerGroupState.EMPTY
        only_stable = ck.list_consumer_groups(states={ConsumerGroupState.STABLE}).result()
        assert {g.group_id for g in only_stable.valid} & {live, idle} == {live}
        kp_listed = {g["group_id"]: g for g in kp.list_groups()}
        assert kp_listed[live]["protocol_type"] == "consumer" and kp_listed[idle]["group_state"] == "Empty"

        described = ck.describe_consumer_groups([live])[live].result(15)
        assert described.state == ConsumerGroupState.STABLE and described.partition_assignor == "range"
        [m] = described.members
        assert sorted(tp.partition for tp in m.assignment.topic_partitions) == [0, 1]
        kp_described = kp.describe_groups([live])[live]
        assert kp_described["group_state"] == "Stable" and len(kp_described["members"]) == 1

        offsets = ck.list_consumer_group_offsets([ConsumerGroupTopicPartitions(live)])[live].result(15)
        assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 3), (1, 3)]
        assert kp.list_group_offsets(idle)[idle][KpTopicPartition(topic, 0)].offset == 2

        kp.delete_group_offsets(idle, [KpTopicPartition(topic, 0)])
        assert kp.list_group_offsets(idle)[idle] == {}
        deleted = ck.delete_consumer_groups([idle, live], request_timeout=15)
        deleted[idle].result(15)
        with pytest.raises(Exception, match="NON_EMPTY_GROUP|not empty"):
            deleted[live].result(15)
        assert idle not in {g.group_id for g in ck.list_consumer_groups().result().valid}
    finally:
        stop_all([member])
        kp.close()


@pytest.mark.timeout(120)
def test_admin_clients_describe_a_kip848_group_as_kafka_does(kafka_broker) -> None:
    """DescribeGroups covers classic groups only, so kafka-python sees a `group.protocol=consumer`
    group as Dead with no members (listed with type consumer); librdkafka and `kbroker groups`
    describe it through ConsumerGroupDescribe, with each member's assignment."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"admin848-{uuid.uuid4().hex[:8]}", 4)
    group = f"kip848-{uuid.uuid4().hex[:6]}"
    members = [Member("confluent-kafka", bootstrap, topic, group, protocol="consumer") for _ in range(2)]
    ck = AdminClient({"bootstrap.servers": bootstrap})
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        wait_until(lambda: all(m.assignment for m in members) and owned_once(members, 4), 30,
                   "two members sharing the topic")
        described = ck.describe_consumer_groups([group])[group].result(15)
        assert (described.type, described.state) == (ConsumerGroupType.CONSUMER, ConsumerGroupState.STABLE)
        assert sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions) == [0, 1, 2, 3]

        kp_described = kp.describe_groups([group])[group]
        assert (kp_described["error"], kp_described["group_state"], kp_described["protocol_type"],
                kp_described["members"]) == (None, "Dead", "", [])
        assert {g["group_id"]: g["protocol_type"] for g in kp.list_groups()}[group] == "consumer"

        tool = subprocess.run([sys.executable, "-m", "kbroker", "groups", "--bootstrap-server", bootstrap, "--describe",
                               "--group", group, "--members", "--output", "json"], capture_output=True, text=True,
                              timeout=60)
        assert tool.returncode == 0, tool.stderr
        [doc] = json.loads(tool.stdout)
        assert doc["state"] == "Stable" and sorted(m["partitions"] for m in doc["members"]) == [2, 2]
    finally:
        stop_all(members)
        kp.close()


@pytest.mark.timeout(120)
def test_kafka_python_removes_gone_static_members_and_reads_several_groups_at_once(kafka_broker) -> None:
    """Batched LeaveGroup (v3+) by group.instance.id empties a group whose static members stopped
    without leaving; one OffsetFetch (v8+) after one batched FindCoordinator (v4+) answers two groups."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, f"admin-static-{uuid.uuid4().hex[:8]}", 2)
    produce_round(bootstrap, topic, "x", 2, 2)
    group, other = f"static-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    members = [Member("confluent-kafka", bootstrap, topic, group, "range", instance=f"i{n}") for n in (1, 2)]
    kp = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        wait_until(lambda: owned_once(members, 2) and len(seen_by(members)) == 4, 30, "two static members consuming")
        for member in members:  # a static member's close does not leave the group
            member.stop()
        assert len(kp.describe_groups([group])[group]["members"]) == 2

        removed = kp.remove_group_members(group, [MemberToRemove(group_instance_id=i) for i in ("i1", "i2", "i3")])
        assert {key: error.__name__ for key, error in removed.items()} == {
            "i1": "NoError", "i2": "NoError", "i3": "UnknownMemberIdError"}
        described = kp.describe_groups([group])[group]
        assert (described["group_state"], described["members"]) == ("Empty", [])

        offsets = kp.list_group_offsets({group: None, other: [KpTopicPartition(topic, 1)]})
        assert {tp.partition: o.offset for tp, o in offsets[group].items()} == {0: 2, 1: 2}
        assert {tp.partition: o.offset for tp, o in offsets[other].items()} == {1: -1}
    finally:
        stop_all(members)
        kp.close()
