"""Loading, precedence, typed values, validation messages, topic resolution and describing."""

from pathlib import Path

import pytest

from kbroker.config import BrokerConfig, ConfigError, ConfigSource, ConfigType, load_broker_config
from kbroker.config.docs import update_page

WEEK_MS = 604800000


def load(**kwargs):
    kwargs.setdefault("environ", {})
    return load_broker_config(**kwargs)


# -- values and errors

@pytest.mark.parametrize("key, raw, value", [
    ("auto.create.topics.enable", " TRUE ", True),
    ("auto.create.topics.enable", "false", False),
    ("num.partitions", "+3", 3),
    ("log.retention.bytes", "-1", -1),
    ("log.retention.ms", "9223372036854775807", 9223372036854775807),
    ("log.cleaner.min.cleanable.ratio", "0.25", 0.25),
    ("log.cleaner.io.max.bytes.per.second", "1e6", 1e6),
    ("log.cleanup.policy", " compact , delete ", ("compact", "delete")),
    ("offsets.topic.replication.factor", "2", 2),
    ("advertised.listeners", "PLAINTEXT://[::1]:9092", "PLAINTEXT://[::1]:9092"),
])
def test_values_are_typed(key, raw, value):
    assert BrokerConfig({key: raw})[key] == value


@pytest.mark.parametrize("key, raw, message", [
    ("log.segment.bytes", "abc", "log.segment.bytes: value 'abc' is not an int"),
    ("log.retention.ms", "1_000", "log.retention.ms: value '1_000' is not a long"),
    ("num.partitions", "2147483648", "num.partitions: value '2147483648' is not an int"),
    ("offsets.topic.replication.factor", "40000", "offsets.topic.replication.factor: value '40000' is not a short"),
    ("delete.topic.enable", "yes", "delete.topic.enable: value 'yes' is not a boolean (true or false)"),
    ("log.cleaner.min.cleanable.ratio", "x", "log.cleaner.min.cleanable.ratio: value 'x' is not a double"),
    ("num.partitions", "0", "num.partitions: value 0 is below the minimum 1"),
    ("log.cleaner.min.cleanable.ratio", "1.5", "log.cleaner.min.cleanable.ratio: value 1.5 is above the maximum 1"),
    ("log.segment.bytes", "13", "log.segment.bytes: value 13 is below the minimum 14"),
    ("compression.type", "GZIP", "compression.type: value 'GZIP' is not one of uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("log.cleanup.policy", "delete,keep", "log.cleanup.policy: value 'keep' is not one of compact, delete"),
    ("compression.gzip.level", "0", "compression.gzip.level: value 0 is not in [1,...,9] or -1"),
    ("listeners", "localhost:9092", "listeners: 'localhost:9092' is not of the form NAME://host:port"),
    ("log.retension.ms", "1", "log.retension.ms: unknown broker config; did you mean log.retention.ms?"),
    ("remote.log.storage.system.enable", "true", "remote.log.storage.system.enable: kbroker has no tiered storage"),
])
def test_bad_values_name_the_key_in_one_line(key, raw, message):
    with pytest.raises(ConfigError) as info:
        BrokerConfig({key: raw})
    assert str(info.value) == message
    assert info.value.key == key


@pytest.mark.parametrize("settings, key", [
    ({"node.id": "1", "broker.id": "2"}, "node.id"),
    ({"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"}, "listeners"),
    ({"listeners": "FOO://:9092"}, "listener.security.protocol.map"),
    ({"listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners"),
    ({"advertised.listeners": "OTHER://h:1"}, "advertised.listeners"),
    ({"log.dirs": " , "}, "log.dirs"),
    ({"group.consumer.heartbeat.interval.ms": "50000"}, "group.consumer.heartbeat.interval.ms"),
    ({"group.consumer.session.timeout.ms": "70000"}, "group.consumer.session.timeout.ms"),
    ({"max.connections.per.ip": "0"}, "max.connections.per.ip"),
])
def test_rules_across_keys(settings, key):
    with pytest.raises(ConfigError) as info:
        BrokerConfig(settings)
    assert info.value.key == key


def test_no_connection_per_address_is_allowed_with_overrides_naming_some():
    assert BrokerConfig({"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:5"})[
        "max.connections.per.ip.overrides"] == "127.0.0.1:5"


def test_ignored_kafka_keys_load_with_a_warning(caplog):
    config = BrokerConfig({"listener.name.internal.some.java.option": "x"})
    assert set(config.ignored) == {"listener.name.internal.some.java.option"}
    assert "listener.name.internal.some.java.option" in caplog.text


def test_authorizer_keys_are_served_by_kafkas_class_names(caplog):
    config = BrokerConfig({"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                           "super.users": "User:admin;User:ops", "allow.everyone.if.no.acl.found": "true"})
    assert (config["super.users"], config["allow.everyone.if.no.acl.found"]) == ("User:admin;User:ops", True)
    assert config.ignored == {} and "no effect" not in caplog.text
    with pytest.raises(ConfigError, match="authorizer.class.name"):
        BrokerConfig({"authorizer.class.name": "com.example.MyAuthorizer"})


def test_listener_overrides_beat_the_broker_value_per_listener_and_mechanism():
    config = BrokerConfig({
        "listeners": "PLAINTEXT://:9092,SASL_SSL://:9094", "ssl.client.auth": "requested",
        "listener.name.sasl_ssl.ssl.client.auth": "required", "connections.max.reauth.ms": "1000",
        "listener.name.sasl_ssl.scram-sha-512.connections.max.reauth.ms": "5000"})
    assert config.for_listener("SASL_SSL", "ssl.client.auth") == "required"
    assert config.for_listener("PLAINTEXT", "ssl.client.auth") == "requested"
    assert config.for_listener("SASL_SSL", "connections.max.reauth.ms", "SCRAM-SHA-512") == 5000
    assert config.for_listener("SASL_SSL", "connections.max.reauth.ms", "PLAIN") == 1000
    assert [(e.name, e.protocol) for e in config.endpoints] == [("PLAINTEXT", "PLAINTEXT"), ("SASL_SSL", "SASL_SSL")]
    with pytest.raises(ConfigError, match="listener.name.sasl_ssl.ssl.client.auth"):
        BrokerConfig({"listener.name.sasl_ssl.ssl.client.auth": "maybe"})


def test_each_listener_is_advertised_by_its_own_entry():
    config = BrokerConfig({"listeners": "PLAINTEXT://0.0.0.0:9092,SASL_SSL://0.0.0.0:9094",
                           "advertised.listeners": "PLAINTEXT://kafka-1:9092,SASL_SSL://kafka-1.example.com:19094"})
    assert config.advertised_endpoint("SASL_SSL") == ("kafka-1.example.com", 19094)
    assert config.advertised_endpoint("PLAINTEXT") == ("kafka-1", 9092)


def test_keys_of_features_kbroker_lacks_load_typed_with_a_warning(caplog):
    config = BrokerConfig({"process.roles": "broker,controller", "sasl.kerberos.min.time.before.relogin": "1000",
                           "ssl.keystore.password": "secret"})
    assert config["ssl.keystore.password"].value == "secret"
    assert config["process.roles"] == ("broker", "controller")
    assert config["sasl.kerberos.min.time.before.relogin"] == 1000
    assert config.source("sasl.kerberos.min.time.before.relogin") is ConfigSource.STATIC_BROKER_CONFIG
    assert config.ignored == {}
    assert "sasl.kerberos.min.time.before.relogin is a Kafka setting for a feature kbroker lacks" in caplog.text
    with pytest.raises(ConfigError, match="ssl.client.auth: value 'maybe' is not one of required, requested, none"):
        BrokerConfig({"ssl.client.auth": "maybe"})


def test_node_id_and_broker_id_are_one_setting():
    assert BrokerConfig({"broker.id": "7"}).node_id == 7
    assert BrokerConfig({"node.id": "7"})["broker.id"] == 7


def test_mapping_and_attribute_access():
    config = BrokerConfig({"num.partitions": "4"})
    assert config["num.partitions"] == config.num_partitions == config.get("num.partitions") == 4
    assert "log.retention.ms" in config and "nope" not in config
    assert len(dict(config)) == len(config)
    with pytest.raises(AttributeError):
        config.no_such_key


def test_listeners_and_advertised_listener():
    config = BrokerConfig({"listeners": "PLAINTEXT://[::1]:0,SSL://:9093",
                           "advertised.listeners": "SSL://b:1,PLAINTEXT://a:0"})
    assert config.listeners == [("PLAINTEXT", "::1", 0), ("SSL", "", 9093)]
    assert config.listener == ("::1", 0)
    assert config.advertised_listener == ("a", 0)
    assert BrokerConfig({"listeners": "PLAINTEXT://h:5"}).advertised_listener == ("h", 5)


def test_log_dirs_fall_back_to_log_dir():
    assert BrokerConfig().log_dirs == ["/tmp/kafka-logs"]
    assert BrokerConfig({"log.dirs": "/a, /b"}).log_dirs == ["/a", "/b"]


# -- loading and precedence

def test_precedence_profile_file_env_shorthand_set(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\nlog.retention.hours=5\nlog.segment.bytes=1000\ndefault.replication.factor=2\n")
    environ = {"KAFKA_CFG_LOG_RETENTION_HOURS": "6", "KBROKER_LOG_SEGMENT_BYTES": "2000"}
    config = load(config_file=path, environ=environ, overrides={"log.segment.bytes": "3000"},
                  listen="127.0.0.1:0", data_dir=str(tmp_path / "d"))
    assert config["num.partitions"] == 2                     # file
    assert config["log.retention.hours"] == 6                # env beats file
    assert config["log.segment.bytes"] == 3000               # --set beats env
    assert config["offsets.topic.replication.factor"] == 1   # dev profile
    assert config["group.initial.rebalance.delay.ms"] == 0   # dev profile
    assert config["transaction.state.log.min.isr"] == 1      # dev profile
    assert config["socket.request.max.bytes"] == 104857600   # code default
    assert config.listener == ("127.0.0.1", 0)
    assert config.log_dirs == [str(tmp_path / "d")]
    assert config.source("num.partitions") is ConfigSource.STATIC_BROKER_CONFIG
    assert config.source("fetch.max.bytes") is ConfigSource.DEFAULT_CONFIG


def test_dev_profile_defaults_and_opt_out():
    config = load()
    assert config.node_id == 1 and config.listener == ("127.0.0.1", 9092) and config.log_dirs == ["./kbroker-data"]
    assert load(dev_profile=False)["offsets.topic.replication.factor"] == 3


def test_a_file_naming_the_other_spelling_hides_the_profile(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("log.dir=/data\nbroker.id=4\n")
    config = load(config_file=path)
    assert config.log_dirs == ["/data"] and config.node_id == 4


def test_errors_say_where_the_value_came_from(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("log.segment.bytes=abc\n")
    with pytest.raises(ConfigError, match=r"^log.segment.bytes: value 'abc' is not an int \(from .*server.properties\)$"):
        load(config_file=path)
    with pytest.raises(ConfigError, match=r"\(from environment variable KAFKA_CFG_NUM_PARTITION\)$"):
        load(environ={"KAFKA_CFG_NUM_PARTITION": "1"})
    with pytest.raises(ConfigError, match=r"^num.partitions: value 0 is below the minimum 1 \(from --set\)$"):
        load(overrides={"num.partitions": "0"})


def test_shorthand_and_set_of_one_key_clash():
    with pytest.raises(ConfigError, match="^listeners: "):
        load(listen="h:1", overrides={"listeners": "PLAINTEXT://h:2"})


def test_env_keys_match_without_case():
    config = load(environ={"KBROKER_ZOOKEEPER_CONNECT": "zk:2181", "KBROKER_ZOOKEEPER_CLIENTCNXNSOCKET": "Netty"})
    assert config["zookeeper.connect"] == "zk:2181"
    assert config["zookeeper.clientCnxnSocket"] == "Netty"


def test_environ_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("KBROKER_NUM_PARTITIONS", "9")
    assert load_broker_config()["num.partitions"] == 9


# -- topics

def test_retention_ms_resolution_follows_kafkas_synonym_order():
    assert BrokerConfig().topic_config()["retention.ms"] == WEEK_MS
    assert BrokerConfig({"log.retention.hours": "2"}).topic_config()["retention.ms"] == 2 * 3600000
    assert BrokerConfig({"log.retention.hours": "2", "log.retention.minutes": "3"}).topic_config()["retention.ms"] == 180000
    both = BrokerConfig({"log.retention.ms": "5", "log.retention.minutes": "3", "log.retention.hours": "2"})
    assert both.topic_config()["retention.ms"] == 5
    assert both.topic_config({"retention.ms": "7"})["retention.ms"] == 7
    assert BrokerConfig({"log.retention.hours": "-1"}).topic_config()["retention.ms"] == -1
    assert BrokerConfig({"log.retention.ms": "-5"}).topic_config()["retention.ms"] == -1


@pytest.mark.parametrize("broker, topic_key, value", [
    ({"log.roll.hours": "1"}, "segment.ms", 3600000),
    ({"log.roll.ms": "10", "log.roll.hours": "1"}, "segment.ms", 10),
    ({"log.roll.jitter.hours": "1"}, "segment.jitter.ms", 3600000),
    ({"log.flush.interval.messages": "1"}, "flush.messages", 1),
    ({"log.flush.scheduler.interval.ms": "100"}, "flush.ms", 100),
    ({"log.flush.interval.ms": "50", "log.flush.scheduler.interval.ms": "100"}, "flush.ms", 50),
    ({"message.max.bytes": "100"}, "max.message.bytes", 100),
    ({"log.index.size.max.bytes": "4096"}, "segment.index.bytes", 4096),
    ({"log.cleaner.min.cleanable.ratio": "0.1"}, "min.cleanable.dirty.ratio", 0.1),
    ({"log.segment.delete.delay.ms": "0"}, "file.delete.delay.ms", 0),
    ({"log.message.timestamp.type": "LogAppendTime"}, "message.timestamp.type", "LogAppendTime"),
    ({"log.cleanup.policy": "compact"}, "cleanup.policy", ("compact",)),
    ({"compression.type": "zstd"}, "compression.type", "zstd"),
])
def test_broker_synonyms_feed_topic_keys(broker, topic_key, value):
    assert BrokerConfig(broker).topic_config()[topic_key] == value


def test_deprecated_timestamp_difference_fills_unset_bounds():
    effective = BrokerConfig().topic_config({"message.timestamp.difference.max.ms": "1000",
                                             "message.timestamp.after.max.ms": "5"})
    assert effective["message.timestamp.before.max.ms"] == 1000
    assert effective["message.timestamp.after.max.ms"] == 5


@pytest.mark.parametrize("overrides, message", [
    ({"retention.mss": "1"}, "retention.mss: unknown topic config; did you mean retention.ms?"),
    ({"retention.ms": "-2"}, "retention.ms: value -2 is below the minimum -1"),
    ({"segment.bytes": "x"}, "segment.bytes: value 'x' is not an int"),
    ({"cleanup.policy": "compact,forever"}, "cleanup.policy: value 'forever' is not one of compact, delete"),
    ({"message.timestamp.type": "createtime"}, "message.timestamp.type: value 'createtime' is not one of CreateTime, LogAppendTime"),
    ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
     "min.compaction.lag.ms: value 10 is above max.compaction.lag.ms (5)"),
    ({"remote.storage.enable": "true"}, "remote.storage.enable: tiered storage is disabled in this broker (kbroker has none)"),
    ({"leader.replication.throttled.replicas": "0:x"}, "leader.replication.throttled.replicas: value '0:x' is not * or a list of partition:broker"),
])
def test_topic_override_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        BrokerConfig().validate_topic_overrides(overrides)
    assert str(info.value) == message


def test_valid_topic_overrides_come_back_typed():
    parsed = BrokerConfig().validate_topic_overrides({"cleanup.policy": "compact,delete", "retention.ms": "-1",
                                                      "leader.replication.throttled.replicas": "0:1,1:2"})
    assert parsed == {"cleanup.policy": ("compact", "delete"), "retention.ms": -1,
                      "leader.replication.throttled.replicas": ("0:1", "1:2")}


# -- describing

def by_name(entries):
    return {entry.name: entry for entry in entries}


def test_describe_topic_sources_and_synonyms():
    config = BrokerConfig({"log.retention.hours": "1", "log.segment.bytes": "2048"})
    entries = by_name(config.describe_topic({"cleanup.policy": "compact"}))
    assert set(entries) == set(config.topic_config())
    policy = entries["cleanup.policy"]
    assert (policy.value, policy.source, policy.is_default, policy.read_only) == (
        "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG, False, False)
    assert [(s.name, s.value, s.source) for s in policy.synonyms] == [
        ("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG)]
    retention = entries["retention.ms"]
    assert (retention.value, retention.source, retention.synonyms) == ("3600000", ConfigSource.DEFAULT_CONFIG, ())
    assert entries["segment.bytes"].value == "2048"
    default = entries["max.message.bytes"]
    assert (default.value, default.source, default.is_default) == ("1048588", ConfigSource.DEFAULT_CONFIG, True)
    assert default.config_type is ConfigType.INT and default.documentation
    assert entries["remote.storage.enable"].synonyms == ()
    assert entries["min.cleanable.dirty.ratio"].value == "0.5"


STATIC, DEFAULT, TOPIC = ConfigSource.STATIC_BROKER_CONFIG, ConfigSource.DEFAULT_CONFIG, ConfigSource.DYNAMIC_TOPIC_CONFIG


@pytest.mark.parametrize("broker, overrides, key, synonyms", [
    # Kafka starts the list at the first value of the topic key's first broker synonym.
    ({}, {}, "retention.ms", []),
    ({"log.retention.hours": "1"}, {}, "retention.ms", []),
    ({"log.retention.minutes": "3"}, {"retention.ms": "7"}, "retention.ms", [("retention.ms", "7", TOPIC)]),
    ({"log.retention.ms": "5", "log.retention.hours": "2"}, {}, "retention.ms", [
        ("log.retention.ms", "5", STATIC), ("log.retention.hours", "2", STATIC), ("log.retention.hours", "168", DEFAULT)]),
    ({}, {}, "segment.ms", []),
    ({}, {}, "segment.jitter.ms", []),
    ({}, {}, "flush.ms", []),
    ({"log.flush.interval.ms": "50"}, {}, "flush.ms", [
        ("log.flush.interval.ms", "50", STATIC), ("log.flush.scheduler.interval.ms", "9223372036854775807", DEFAULT)]),
    ({}, {}, "cleanup.policy", [("log.cleanup.policy", "delete", DEFAULT)]),
    ({}, {}, "remote.storage.enable", []),
])
def test_describe_topic_synonyms_are_kafkas(broker, overrides, key, synonyms):
    entry = by_name(BrokerConfig(broker).describe_topic(overrides, keys=[key]))[key]
    assert [(s.name, s.value, s.source) for s in entry.synonyms] == synonyms
    assert entry.source is (synonyms[0][2] if synonyms else DEFAULT)


@pytest.mark.parametrize("broker, key, synonyms", [
    ({}, "log.retention.ms", []),
    ({}, "log.retention.hours", [("log.retention.hours", "168", DEFAULT)]),
    ({"log.retention.minutes": "3", "log.retention.ms": "5"}, "log.retention.minutes", [
        ("log.retention.minutes", "3", STATIC), ("log.retention.hours", "168", DEFAULT)]),
    ({"log.flush.interval.ms": "50"}, "log.flush.scheduler.interval.ms", [
        ("log.flush.scheduler.interval.ms", "9223372036854775807", DEFAULT)]),
    ({"log.flush.interval.ms": "50"}, "log.flush.interval.ms", [
        ("log.flush.interval.ms", "50", STATIC), ("log.flush.scheduler.interval.ms", "9223372036854775807", DEFAULT)]),
])
def test_describe_broker_synonyms_are_kafkas(broker, key, synonyms):
    entry = by_name(BrokerConfig(broker).describe_broker([key]))[key]
    assert [(s.name, s.value, s.source) for s in entry.synonyms] == synonyms


def test_describe_topic_named_keys_only():
    entries = BrokerConfig().describe_topic({}, keys=["retention.ms"])
    assert [entry.name for entry in entries] == ["retention.ms"]


def test_describe_broker():
    config = BrokerConfig({"log.retention.ms": "100", "zookeeper.connect": "zk:2181"})
    entries = by_name(config.describe_broker())
    ms = entries["log.retention.ms"]
    assert (ms.value, ms.source, ms.read_only) == ("100", ConfigSource.STATIC_BROKER_CONFIG, False)
    assert [(s.name, s.source) for s in ms.synonyms] == [
        ("log.retention.ms", ConfigSource.STATIC_BROKER_CONFIG), ("log.retention.hours", ConfigSource.DEFAULT_CONFIG)]
    hours = entries["log.retention.hours"]
    assert (hours.value, hours.source, hours.is_default, hours.read_only) == ("168", ConfigSource.DEFAULT_CONFIG, True, True)
    assert entries["log.roll.ms"].value is None
    assert entries["log.cleanup.policy"].value == "delete"
    assert entries["log.cleaner.io.max.bytes.per.second"].value == "1.7976931348623157E308"
    assert entries["listener.security.protocol.map"].read_only is False


def test_describe_broker_lists_internal_keys_only_when_set():
    names = {entry.name for entry in BrokerConfig().describe_broker()}
    assert {"sasl.kerberos.min.time.before.relogin", "ssl.keystore.type", "process.roles"} <= names
    assert not {"unstable.api.versions.enable", "group.consumer.migration.policy"} & names
    assert not BrokerConfig().describe_broker(["unstable.api.versions.enable"])
    entry = by_name(BrokerConfig({"unstable.api.versions.enable": "true"}).describe_broker())["unstable.api.versions.enable"]
    assert (entry.value, entry.source) == ("true", ConfigSource.STATIC_BROKER_CONFIG)


def test_describe_broker_hides_passwords_of_features_kbroker_lacks():
    entry = by_name(BrokerConfig({"ssl.keystore.password": "secret"}).describe_broker(["ssl.keystore.password"]))["ssl.keystore.password"]
    assert (entry.value, entry.is_sensitive, entry.config_type) == (None, True, ConfigType.PASSWORD)
    assert [(s.name, s.value) for s in entry.synonyms] == [("ssl.keystore.password", None)]


def test_dynamic_updates_of_keys_kbroker_does_not_act_on():
    config = BrokerConfig()
    config.set_dynamic({"sasl.kerberos.min.time.before.relogin": "1000", "metric.reporters": ""}, per_broker=True)
    assert config["sasl.kerberos.min.time.before.relogin"] == 1000 and config["metric.reporters"] == ()
    with pytest.raises(ConfigError, match="can only be set for one broker"):
        config.set_dynamic({"sasl.enabled.mechanisms": "PLAIN"}, per_broker=False)


def test_dynamic_broker_updates():
    config = BrokerConfig({"message.max.bytes": "1000"})
    config.set_dynamic({"message.max.bytes": "2000"}, per_broker=False)
    assert config["message.max.bytes"] == 2000
    assert config.source("message.max.bytes") is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    config.set_dynamic({"message.max.bytes": "3000"}, per_broker=True)
    assert config.topic_config()["max.message.bytes"] == 3000
    entry = by_name(config.describe_broker(["message.max.bytes"]))["message.max.bytes"]
    assert [s.source for s in entry.synonyms] == [
        ConfigSource.DYNAMIC_BROKER_CONFIG, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        ConfigSource.STATIC_BROKER_CONFIG, ConfigSource.DEFAULT_CONFIG]
    cluster = by_name(config.describe_broker(["message.max.bytes"], cluster_default=True))["message.max.bytes"]
    assert cluster.value == "2000" and [s.source for s in cluster.synonyms] == [ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
    config.set_dynamic({"message.max.bytes": None}, per_broker=True)
    assert config["message.max.bytes"] == 2000


def test_a_listener_key_set_at_run_time_beats_the_static_one_and_is_described_with_its_synonyms():
    config = BrokerConfig({"listeners": "PLAINTEXT://:9092,OTHER://:9093", "max.connections": "100",
                           "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
                           "listener.name.other.max.connections": "50"})
    config.set_dynamic({"listener.name.OTHER.max.connections": "20"}, per_broker=False)
    assert (config.for_listener("OTHER", "max.connections"), config.for_listener("PLAINTEXT", "max.connections")) == (20, 100)
    config.set_dynamic({"listener.name.other.max.connections": "10", "max.connections": "5"}, per_broker=True)
    assert (config.for_listener("OTHER", "max.connections"), config.for_listener("PLAINTEXT", "max.connections")) == (10, 5)
    entry = by_name(config.describe_broker())["listener.name.other.max.connections"]
    assert (entry.value, entry.source, entry.read_only, entry.config_type) == (
        "10", ConfigSource.DYNAMIC_BROKER_CONFIG, True, ConfigType.INT)
    assert [(s.name, s.value, s.source) for s in entry.synonyms] == [
        ("listener.name.other.max.connections", "10", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("max.connections", "5", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("listener.name.other.max.connections", "20", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("listener.name.other.max.connections", "50", ConfigSource.STATIC_BROKER_CONFIG),
        ("max.connections", "100", ConfigSource.STATIC_BROKER_CONFIG),
        ("max.connections", "2147483647", ConfigSource.DEFAULT_CONFIG)]
    cluster = by_name(config.describe_broker(cluster_default=True))["listener.name.other.max.connections"]
    assert cluster.value == "20"
    config.set_dynamic({"listener.name.other.max.connections": None}, per_broker=True)
    assert config.for_listener("OTHER", "max.connections") == 20


@pytest.mark.parametrize("updates, per_broker, reason", [
    ({"num.partitions": "3"}, True, "cannot be updated dynamically"),
    ({"listener.name.plaintext.ssl.client.auth": "required"}, True, "cannot be updated dynamically"),
    ({"listener.name.plaintext.max.connections": "-1"}, False, "listener.name.plaintext.max.connections"),
    ({"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}, False, "can only be set for one broker"),
    ({"message.max.bytes": "x"}, True, "is not an int"),
    ({"nope": "1"}, True, "unknown broker config"),
])
def test_refused_dynamic_updates_change_nothing(updates, per_broker, reason):
    config = BrokerConfig()
    with pytest.raises(ConfigError, match=reason):
        config.set_dynamic({"log.retention.ms": "1", **updates}, per_broker=per_broker)
    assert config["log.retention.ms"] is None


def test_a_dynamic_update_breaking_a_cross_key_rule_is_rolled_back():
    config = BrokerConfig()
    with pytest.raises(ConfigError):
        config.set_dynamic({"advertised.listeners": "PLAINTEXT://0.0.0.0:1"}, per_broker=True)
    assert config["advertised.listeners"] is None


# -- docs

def test_configuration_page_is_current():
    page = Path(__file__).parents[2] / "docs" / "configuration.md"
    text = page.read_text(encoding="utf-8")
    assert update_page(text) == text, "run: python -m kbroker.config.docs docs/configuration.md"


def test_password_values_never_show():
    from kbroker.config import ConfigDef, Importance, Password
    defn = ConfigDef("ssl.key.password", ConfigType.PASSWORD, None, Importance.HIGH, "Secret.")
    secret = defn.parse(" s3cret ")
    assert secret == Password(" s3cret ") and repr(secret) == "[hidden]" and defn.sensitive


def test_a_cluster_broker_needs_a_listener_between_brokers_and_a_mechanism_it_enables():
    cluster = {"zookeeper.connect": "127.0.0.1:2181"}
    assert BrokerConfig({**cluster, "listeners": "SASL_SSL://:9094,PLAINTEXT://:9092"}).inter_broker_listener == "PLAINTEXT"
    with pytest.raises(ConfigError, match="inter.broker.listener.name: brokers need a listener"):
        BrokerConfig({**cluster, "listeners": "SASL_SSL://:9094"})
    secured = {**cluster, "listeners": "SASL_SSL://:9094,PLAINTEXT://:9092", "inter.broker.listener.name": "SASL_SSL",
               "sasl.enabled.mechanisms": "PLAIN"}
    with pytest.raises(ConfigError, match="sasl.mechanism.inter.broker.protocol: GSSAPI must be included in "
                                          "sasl.enabled.mechanisms when SASL is used for inter-broker communication"):
        BrokerConfig(secured)
    assert BrokerConfig({**secured, "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                         "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512"}).inter_broker_listener == "SASL_SSL"
    assert BrokerConfig({"listeners": "SASL_SSL://:9094"}).inter_broker_listener is None  # a single node needs none
