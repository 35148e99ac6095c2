"""Configs on groups (config resource type GROUP, 32) through confluent-kafka's AdminClient and by hand.

Set before a group exists, they decide where its share partitions start, how long its records
stay locked, and the heartbeat interval its members are given; out-of-range values are refused
with INVALID_CONFIG and the broker's bounds in the message, as Kafka refuses them; and they
survive a restart.
"""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType,
)

from kproto import ErrorCode
from kproto.messages import (
    AlterConfigsRequest, ConsumerGroupHeartbeatRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    ShareGroupHeartbeatRequest,
)

from kbroker.tools.configs import configs

from brokerproc import BrokerProcess
from rawclient import RawClient
from share_requests import open_session

TIMEOUT = 15
GROUP = 32
pytestmark = pytest.mark.broker_config({"group.share.min.record.lock.duration.ms": "1000",
                                        "group.consumer.min.heartbeat.interval.ms": "1000",
                                        "group.consumer.min.session.timeout.ms": "10000"})


def new_group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def set_group_configs(bootstrap: str, group: str, values: dict[str, str]) -> None:
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in values.items()])
    client = admin(bootstrap)  # kept until the answer came: a handle destroyed early fails its futures
    client.incremental_alter_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT)


def describe_group(bootstrap: str, group: str) -> dict:
    resource = ConfigResource(ResourceType.GROUP, group)
    client = admin(bootstrap)
    return client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT)


def alter_raw(bootstrap: str, group: str, values: dict[str, str | None]) -> tuple[int, str | None]:
    R = IncrementalAlterConfigsRequest
    with RawClient(bootstrap) as client:
        [answer] = client.request(R(resources=[R.AlterConfigsResource(
            resource_type=GROUP, resource_name=group,
            configs=[R.AlterableConfig(name=k, config_operation=0, value=v) for k, v in values.items()])]), 1).responses
    return answer.error_code, answer.error_message


def test_the_admin_client_sets_and_describes_a_group_config(bootstrap: str) -> None:
    group = new_group()
    set_group_configs(bootstrap, group, {"share.record.lock.duration.ms": "20000"})
    entries = describe_group(bootstrap, group)
    assert {"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms", "share.auto.offset.reset",
            "share.session.timeout.ms", "share.heartbeat.interval.ms", "share.isolation.level",
            "share.record.lock.duration.ms"} <= set(entries)
    assert (entries["share.record.lock.duration.ms"].value,
            entries["share.record.lock.duration.ms"].source) == ("20000", ConfigSource.GROUP_CONFIG.value)
    assert (entries["share.auto.offset.reset"].value, entries["share.auto.offset.reset"].source) == \
        ("latest", ConfigSource.DEFAULT_CONFIG.value)
    assert entries["consumer.session.timeout.ms"].value == "45000"  # group.consumer.session.timeout.ms


def test_earliest_set_through_the_admin_client_makes_a_new_share_consumer_read_from_the_start(
        bootstrap: str, topic_factory) -> None:
    topic, group = topic_factory(), new_group()
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(3):
        p.produce(topic, b"early%d" % i, partition=0)
    assert p.flush(TIMEOUT) == 0
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})
    c.subscribe([topic])
    try:
        got: list[bytes] = []
        for _ in range(60):
            got += [m.value() for m in c.poll(0.5) or [] if m.error() is None]
            if len(got) >= 3:
                break
        assert got == [b"early0", b"early1", b"early2"]
    finally:
        c.close()


def test_members_are_given_the_groups_own_heartbeat_interval_and_lock_duration(bootstrap: str, topic_factory) -> None:
    topic, share, consumer = topic_factory(), new_group(), new_group()
    set_group_configs(bootstrap, share, {"share.heartbeat.interval.ms": "6000", "share.record.lock.duration.ms": "1500"})
    set_group_configs(bootstrap, consumer, {"consumer.heartbeat.interval.ms": "1200"})
    with RawClient(bootstrap) as client:
        member = str(uuid.uuid4())
        joined = client.request(ShareGroupHeartbeatRequest(group_id=share, member_id=member, member_epoch=0,
                                                           subscribed_topic_names=[topic]), 1)
        assert (joined.error_code, joined.heartbeat_interval_ms) == (0, 6000)
        fetched = open_session(client, share, member, topic)
        assert (fetched.error_code, fetched.acquisition_lock_timeout_ms) == (0, 1500)
        beat = client.request(ConsumerGroupHeartbeatRequest(
            group_id=consumer, member_id=str(uuid.uuid4()), member_epoch=0, rebalance_timeout_ms=30_000,
            subscribed_topic_names=[topic], topic_partitions=[]), 0)
        assert (beat.error_code, beat.heartbeat_interval_ms) == (0, 1200)


@pytest.mark.parametrize("values, error, message", [
    ({"share.record.lock.duration.ms": "120000"}, ErrorCode.INVALID_CONFIG,
     "share.record.lock.duration.ms must be less than or equal to group.share.max.record.lock.duration.ms"),
    ({"consumer.session.timeout.ms": "1000"}, ErrorCode.INVALID_CONFIG,
     "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"),
    ({"share.session.timeout.ms": "45000", "share.heartbeat.interval.ms": "15000"}, ErrorCode.NONE, None),
    ({"consumer.heartbeat.interval.ms": "45000"}, ErrorCode.INVALID_CONFIG,
     "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"),
    ({"share.auto.offset.reset": "none"}, ErrorCode.INVALID_CONFIG,
     "Invalid value `none` for configuration share.auto.offset.reset. The value must be either 'earliest', "
     "'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."),
    ({"share.auto.offset.reset": "by_duration:PT1H30M"}, ErrorCode.NONE, None),
    ({"share.isolation.level": "READ_COMMITTED"}, ErrorCode.INVALID_CONFIG, None),
    ({"retention.ms": "1000"}, ErrorCode.INVALID_CONFIG, "Unknown group config name: retention.ms"),
])
def test_values_are_checked_as_kafka_checks_them(bootstrap: str, values, error, message) -> None:
    got_error, got_message = alter_raw(bootstrap, new_group(), values)
    assert got_error == error
    if message is not None:
        assert got_message == message


def test_a_session_timeout_must_stay_above_the_heartbeat_interval(bootstrap: str) -> None:
    group = new_group()
    assert alter_raw(bootstrap, group, {"consumer.heartbeat.interval.ms": "15000"}) == (ErrorCode.NONE, None)
    # the group's own heartbeat interval counts, not the broker's
    R = IncrementalAlterConfigsRequest
    with RawClient(bootstrap) as client:
        [answer] = client.request(R(resources=[R.AlterConfigsResource(resource_type=GROUP, resource_name=group, configs=[
            R.AlterableConfig(name="consumer.heartbeat.interval.ms", config_operation=0, value="15000"),
            R.AlterableConfig(name="consumer.session.timeout.ms", config_operation=0, value="15000")])]), 1).responses
    assert (answer.error_code, answer.error_message) == (
        ErrorCode.INVALID_CONFIG, "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms")


def test_empty_names_nulls_and_validate_only(bootstrap: str) -> None:
    assert alter_raw(bootstrap, "", {"share.isolation.level": "read_committed"}) == \
        (ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")
    group = new_group()
    with RawClient(bootstrap) as client:
        D = DescribeConfigsRequest
        [empty] = client.request(D(resources=[D.DescribeConfigsResource(resource_type=GROUP, resource_name="",
                                                                         configuration_keys=None)]), 4).results
        assert (empty.error_code, empty.error_message) == (ErrorCode.INVALID_REQUEST, "Group name must not be empty")
        A = AlterConfigsRequest
        [null] = client.request(A(resources=[A.AlterConfigsResource(resource_type=GROUP, resource_name=group, configs=[
            A.AlterableConfig(name="share.isolation.level", value=None)])]), 2).responses
        assert (null.error_code, null.error_message) == \
            (ErrorCode.INVALID_CONFIG, "Null value not supported for group configs: share.isolation.level")
        I = IncrementalAlterConfigsRequest
        [checked] = client.request(I(validate_only=True, resources=[I.AlterConfigsResource(
            resource_type=GROUP, resource_name=group, configs=[
                I.AlterableConfig(name="share.isolation.level", config_operation=0, value="read_committed")])]),
            1).responses
        assert checked.error_code == 0
    assert describe_group(bootstrap, group)["share.isolation.level"].value == "read_uncommitted"


def test_group_configs_survive_a_restart(kafka_broker: BrokerProcess) -> None:
    group = new_group()
    set_group_configs(kafka_broker.bootstrap_server, group, {"share.auto.offset.reset": "earliest",
                                                             "consumer.session.timeout.ms": "50000"})
    kafka_broker.restart()
    entries = describe_group(kafka_broker.bootstrap_server, group)
    assert (entries["share.auto.offset.reset"].value, entries["consumer.session.timeout.ms"].value) == \
        ("earliest", "50000")
    assert entries["consumer.session.timeout.ms"].source == ConfigSource.GROUP_CONFIG.value


def test_kbroker_configs_alters_and_describes_a_group(bootstrap: str) -> None:
    group = new_group()
    runner = CliRunner()
    done = runner.invoke(configs, ["--bootstrap-server", bootstrap, "--alter", "--entity-type", "groups",
                                   "--entity-name", group, "--add-config", "share.isolation.level=read_committed"])
    assert (done.exit_code, done.stdout.strip()) == (0, f"Completed updating config for group {group}.")
    shown = runner.invoke(configs, ["--bootstrap-server", bootstrap, "--describe", "--entity-type", "groups",
                                    "--entity-name", group])
    assert shown.stdout.splitlines() == [
        f"Dynamic configs for group {group} are:",
        "  share.isolation.level=read_committed sensitive=false "
        "synonyms={GROUP_CONFIG:share.isolation.level=read_committed}"]


def read_all(bootstrap: str, group: str, topic: str, count: int) -> list[bytes]:
    c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})
    c.subscribe([topic])
    got: list[bytes] = []
    try:
        for _ in range(60):
            got += [m.value() for m in c.poll(0.5) or [] if m.error() is None]
            if len(got) >= count:
                break
    finally:
        c.close()
    return got


def test_a_read_committed_share_group_passes_over_aborted_transactions(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(TIMEOUT)
    for values, commit in (([b"aborted0", b"aborted1"], False), ([b"committed"], True)):
        p.begin_transaction()
        for v in values:
            p.produce(topic, v, partition=0)
        p.flush(TIMEOUT)
        (p.commit_transaction if commit else p.abort_transaction)(TIMEOUT)
    committed, uncommitted = new_group(), new_group()
    set_group_configs(bootstrap, committed, {"share.auto.offset.reset": "earliest",
                                             "share.isolation.level": "read_committed"})
    set_group_configs(bootstrap, uncommitted, {"share.auto.offset.reset": "earliest"})
    assert read_all(bootstrap, committed, topic, 1) == [b"committed"]
    assert read_all(bootstrap, uncommitted, topic, 3) == [b"aborted0", b"aborted1", b"committed"]
