"""Describe and alter configs through kafka-python's and librdkafka's admin clients, against a real broker.

Topic overrides and dynamic broker values must be visible at once, reach the partition logs, be
refused as Kafka refuses them, and survive a restart.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource
from kafka.admin import ConfigResource as KPResource
from kafka.admin import ConfigResourceType, KafkaAdminClient

from kproto import ErrorCode
from kproto.messages import DescribeConfigsRequest, IncrementalAlterConfigsRequest

from brokerproc import BrokerProcess
from conftest import create_topic, unique_topic
from rawclient import RawClient

TIMEOUT = 15


def kp_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT * 1000)


def ck_admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def ck_describe(admin: AdminClient, resource: ConfigResource) -> dict:
    return admin.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT)


def test_describe_lists_every_topic_config_with_defaults(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(config={"retention.ms": "3600000"})
    entries = ck_describe(ck_admin(bootstrap), ConfigResource("topic", topic))
    assert len(entries) >= 30
    assert entries["retention.ms"].value == "3600000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["cleanup.policy"].value == "delete"
    assert entries["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["cleanup.policy"].is_default
    assert not entries["segment.bytes"].is_read_only


def test_kafka_python_describe_with_synonyms_and_all_filter(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(config={"retention.ms": "3600000"})
    admin = kp_admin(bootstrap)
    modified = admin.describe_configs([KPResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True)
    entry = modified["topic"][topic]["retention.ms"]
    assert set(modified["topic"][topic]) == {"retention.ms"}
    assert [(s["name"], s["source"]) for s in entry["synonyms"]] == [("retention.ms", "DYNAMIC_TOPIC_CONFIG")]
    everything = admin.describe_configs([KPResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    assert "max.message.bytes" in everything["topic"][topic]


def test_topic_synonyms_start_at_the_first_broker_key_with_a_value(bootstrap: str, topic_factory) -> None:
    """Kafka lists no synonym for retention.ms while log.retention.ms is unset, not even
    log.retention.hours's default, and then reports the value as DEFAULT_CONFIG."""
    topic = topic_factory()
    resource = KPResource(ConfigResourceType.TOPIC, topic)
    entries = kp_admin(bootstrap).describe_configs([resource], config_filter="all", include_synonyms=True)["topic"][topic]
    listed = {key: [(s["name"], s["value"], s["source"]) for s in entries[key]["synonyms"]]
              for key in ("retention.ms", "segment.ms", "flush.ms", "cleanup.policy")}
    assert listed == {"retention.ms": [], "segment.ms": [], "flush.ms": [],
                      "cleanup.policy": [("log.cleanup.policy", "delete", "DEFAULT_CONFIG")]}
    assert (entries["retention.ms"]["value"], entries["retention.ms"]["config_source"]) == ("604800000", "DEFAULT_CONFIG")


def test_kafka_python_alter_both_apis(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    admin = kp_admin(bootstrap)
    resource = KPResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "1234567"})
    assert admin.alter_configs([resource], incremental=True) == {"topic": {topic: "OK"}}
    resource = KPResource(ConfigResourceType.TOPIC, topic, configs={"segment.ms": "7654321"})
    assert admin.alter_configs([resource], incremental=False) == {"topic": {topic: "OK"}}
    found = admin.describe_configs([KPResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    assert {k: v["value"] for k, v in found.items()} == {"retention.ms": "1234567", "segment.ms": "7654321"}


def test_kafka_python_validate_only_changes_nothing(bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    admin = kp_admin(bootstrap)
    resource = KPResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "1000"})
    assert admin.alter_configs([resource], validate_only=True) == {"topic": {topic: "OK"}}
    assert admin.describe_configs([KPResource(ConfigResourceType.TOPIC, topic)])["topic"][topic] == {}


def test_confluent_incremental_set_append_subtract_delete(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(config={"retention.ms": "60000"})
    admin = ck_admin(bootstrap)
    resource = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("max.message.bytes", "200000", incremental_operation=AlterConfigOpType.SET),
    ])
    admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    entries = ck_describe(admin, ConfigResource("topic", topic))
    assert entries["cleanup.policy"].value == "delete,compact"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["max.message.bytes"].value == "200000"
    resource = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    assert ck_describe(admin, ConfigResource("topic", topic))["cleanup.policy"].value == "compact"


def test_confluent_alter_configs_replaces_the_whole_set(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(config={"retention.ms": "60000"})
    admin = ck_admin(bootstrap)
    resource = ConfigResource("topic", topic, set_config={"segment.ms": "3600000"})
    admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    entries = ck_describe(admin, ConfigResource("topic", topic))
    assert entries["segment.ms"].value == "3600000"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


@pytest.mark.parametrize("configs, error", [
    ({"no.such.config": "1"}, "INVALID_CONFIG"),
    ({"retention.ms": "soon"}, "INVALID_CONFIG"),
    ({"cleanup.policy": "shred"}, "INVALID_CONFIG"),
])
def test_bad_topic_configs_are_refused(bootstrap: str, topic_factory, configs: dict, error: str) -> None:
    topic = topic_factory()
    admin = ck_admin(bootstrap)
    resource = ConfigResource("topic", topic, set_config=configs)
    with pytest.raises(KafkaException) as caught:
        admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    assert caught.value.args[0].name() == error


def test_unknown_topic_is_refused(bootstrap: str, request: pytest.FixtureRequest) -> None:
    resource = ConfigResource("topic", unique_topic(request))
    admin = ck_admin(bootstrap)
    with pytest.raises(KafkaException) as caught:
        admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    assert caught.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART"


def test_topic_change_reaches_the_partition_log(bootstrap: str, topic_factory) -> None:
    """max.message.bytes lowered on a live topic: the next large produce is refused."""
    from confluent_kafka import Producer

    topic = topic_factory()
    admin = ck_admin(bootstrap)
    resource = ConfigResource("topic", topic, set_config={"max.message.bytes": "1000"})
    admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 100_000})
    producer.produce(topic, b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(TIMEOUT)
    assert errors and errors[0] is not None and errors[0].name() == "MSG_SIZE_TOO_LARGE"


def test_broker_describe_marks_static_keys_read_only(bootstrap: str) -> None:
    entries = ck_describe(ck_admin(bootstrap), ConfigResource("broker", "1"))
    assert entries["log.dirs"].is_read_only
    assert not entries["log.retention.ms"].is_read_only
    assert entries["num.partitions"].source in (ConfigSource.STATIC_BROKER_CONFIG.value, ConfigSource.DEFAULT_CONFIG.value)
    assert entries["broker.id"].value == "1"


@pytest.mark.parametrize("key, value, reason", [
    ("log.dirs", "/elsewhere", "Cannot update these configs dynamically"),
    # Kafka lets a key store change only under a listener.name.<listener>. prefix.
    ("ssl.keystore.type", "PKCS12", "only per-listener using the listener prefix"),
    # Of a listener's keys only the connection quotas (and network threads) change at run time.
    ("listener.name.plaintext.ssl.keystore.location", "/elsewhere", "cannot be updated dynamically"),
])
def test_broker_keys_refused_with_invalid_request(bootstrap: str, key: str, value: str, reason: str) -> None:
    admin = ck_admin(bootstrap)
    resource = ConfigResource("broker", "1", incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as caught:
        admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    assert caught.value.args[0].name() == "INVALID_REQUEST"
    assert reason in caught.value.args[0].str()


# The key store keys that have a value: a tool must leave them out, for the reason above.
KEY_STORE_KEYS = {"ssl.keystore.type", "ssl.truststore.type"}


@pytest.mark.parametrize("incremental", [True, False], ids=["IncrementalAlterConfigs", "AlterConfigs"])
def test_every_dynamic_broker_config_read_can_be_sent_back(kafka_broker: BrokerProcess, incremental: bool) -> None:
    """What an admin tool does to change one broker setting: read them all, send back every one
    Kafka lets change, with the change. Keys of features kbroker lacks (SASL, TLS, tiered storage)
    are among them and must be accepted, kept and described."""
    admin = ck_admin(kafka_broker.bootstrap_server)
    current = ck_describe(admin, ConfigResource("broker", "1"))
    values = {name: entry.value for name, entry in current.items()
              if not entry.is_read_only and entry.value is not None and name not in KEY_STORE_KEYS}
    assert {"sasl.kerberos.min.time.before.relogin", "ssl.client.auth", "remote.fetch.max.wait.ms"} <= set(values)
    values["sasl.kerberos.min.time.before.relogin"] = "120000"
    if incremental:
        resource = ConfigResource("broker", "1", incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in values.items()])
        admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    else:
        resource = ConfigResource("broker", "1", set_config=values)
        admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    after = ck_describe(admin, ConfigResource("broker", "1"))
    assert {name: after[name].value for name in values} == values
    relogin = after["sasl.kerberos.min.time.before.relogin"]
    assert (relogin.source, relogin.is_read_only) == (ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
    # confluent-kafka keeps one synonym per name; kafka-python shows the whole list.
    broker = KPResource(ConfigResourceType.BROKER, "1", configs={"sasl.kerberos.min.time.before.relogin": None})
    listed = kp_admin(kafka_broker.bootstrap_server).describe_configs([broker], include_synonyms=True)["broker"]["1"]
    assert [(s["value"], s["source"]) for s in listed["sasl.kerberos.min.time.before.relogin"]["synonyms"]] == [
        ("120000", "DYNAMIC_BROKER_CONFIG"), ("60000", "DEFAULT_CONFIG")]


def test_other_broker_id_is_refused(bootstrap: str) -> None:
    """A single node answers for itself (its id) and the cluster default (""), nothing else."""
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=4, resource_name="7")
    with RawClient(bootstrap) as client:
        result = client.request(DescribeConfigsRequest(resources=[resource]), 4).results[0]
    assert result.error_code == ErrorCode.INVALID_REQUEST
    assert "7" in result.error_message


def test_dynamic_configs_survive_a_restart(kafka_broker: BrokerProcess, request: pytest.FixtureRequest) -> None:
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    admin = ck_admin(bootstrap)
    changes = [
        ConfigResource("broker", "1", incremental_configs=[
            ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)]),
        ConfigResource("topic", topic, incremental_configs=[
            ConfigEntry("retention.bytes", "1000000", incremental_operation=AlterConfigOpType.SET)]),
    ]
    for resource, future in admin.incremental_alter_configs(changes).items():
        future.result(timeout=TIMEOUT)
    # Neither stock client names the cluster-default resource (""), so send that one by hand.
    default = IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=4, resource_name="", configs=[
        IncrementalAlterConfigsRequest.AlterableConfig(name="log.segment.bytes", config_operation=0, value="50000000")])
    with RawClient(bootstrap) as client:
        answer = client.request(IncrementalAlterConfigsRequest(resources=[default]), 1)
    assert answer.responses[0].error_code == ErrorCode.NONE
    kafka_broker.restart()
    admin = ck_admin(kafka_broker.bootstrap_server)
    node = ck_describe(admin, ConfigResource("broker", "1"))
    assert node["log.retention.ms"].value == "86400000"
    assert node["log.retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert node["log.segment.bytes"].source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    with RawClient(kafka_broker.bootstrap_server) as client:
        resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=4, resource_name="")
        resource.configuration_keys = None
        described = client.request(DescribeConfigsRequest(resources=[resource]), 4).results[0].configs
    assert [(e.name, e.value) for e in described] == [("log.segment.bytes", "50000000")]
    entries = ck_describe(admin, ConfigResource("topic", topic))
    assert entries["retention.bytes"].value == "1000000"
    assert entries["retention.ms"].value == "86400000"  # inherited from the broker's dynamic value
    assert entries["segment.bytes"].value == "50000000"
