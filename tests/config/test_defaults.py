"""Every important default is Kafka's (3.9 code defaults, as its documentation lists them)."""

import pytest

from kbroker.config import BROKER_DEFS, TOPIC_DEFS, BrokerConfig, UpdateMode

LONG_MAX = 9223372036854775807
INT_MAX = 2147483647

KAFKA_BROKER_DEFAULTS = {
    "broker.id": -1, "node.id": -1, "listeners": "PLAINTEXT://:9092", "advertised.listeners": None,
    "listener.security.protocol.map": "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
    "log.dirs": None, "log.dir": "/tmp/kafka-logs", "num.partitions": 1, "default.replication.factor": 1,
    "auto.create.topics.enable": True, "delete.topic.enable": True,
    "log.segment.bytes": 1073741824, "log.roll.ms": None, "log.roll.hours": 168,
    "log.retention.ms": None, "log.retention.minutes": None, "log.retention.hours": 168,
    "log.retention.bytes": -1, "log.retention.check.interval.ms": 300000,
    "log.index.interval.bytes": 4096, "log.index.size.max.bytes": 10485760,
    "log.flush.interval.messages": LONG_MAX, "log.flush.interval.ms": None,
    "log.flush.scheduler.interval.ms": LONG_MAX, "log.cleanup.policy": ("delete",),
    "log.cleaner.enable": True, "log.cleaner.threads": 1, "log.cleaner.dedupe.buffer.size": 134217728,
    "log.cleaner.delete.retention.ms": 86400000, "log.cleaner.min.cleanable.ratio": 0.5,
    "log.cleaner.min.compaction.lag.ms": 0, "log.cleaner.max.compaction.lag.ms": LONG_MAX,
    "log.cleaner.backoff.ms": 15000, "log.segment.delete.delay.ms": 60000,
    "log.message.timestamp.type": "CreateTime", "log.message.timestamp.before.max.ms": LONG_MAX,
    "log.message.timestamp.after.max.ms": LONG_MAX, "message.max.bytes": 1048588,
    "compression.type": "producer", "min.insync.replicas": 1, "unclean.leader.election.enable": False,
    "socket.request.max.bytes": 104857600, "socket.send.buffer.bytes": 102400,
    "socket.receive.buffer.bytes": 102400, "num.network.threads": 3, "num.io.threads": 8,
    "queued.max.requests": 500, "replica.fetch.max.bytes": 1048576, "fetch.max.bytes": 57671680,
    "group.initial.rebalance.delay.ms": 3000, "group.min.session.timeout.ms": 6000,
    "group.max.session.timeout.ms": 1800000, "group.max.size": INT_MAX,
    "group.consumer.heartbeat.interval.ms": 5000, "group.consumer.session.timeout.ms": 45000,
    "group.consumer.max.size": INT_MAX,
    "group.consumer.assignors": ("org.apache.kafka.coordinator.group.assignor.UniformAssignor",
                                 "org.apache.kafka.coordinator.group.assignor.RangeAssignor"),
    "offsets.topic.replication.factor": 3, "offsets.topic.num.partitions": 50,
    "offsets.retention.minutes": 10080, "offsets.retention.check.interval.ms": 600000,
    "offset.metadata.max.bytes": 4096, "transaction.state.log.replication.factor": 3,
    "transaction.state.log.min.isr": 2, "transaction.state.log.num.partitions": 50,
    "share.coordinator.state.topic.num.partitions": 50, "share.coordinator.state.topic.replication.factor": 3,
    "share.coordinator.state.topic.min.isr": 2, "share.coordinator.snapshot.update.records.per.snapshot": 500,
    "transactional.id.expiration.ms": 604800000, "transaction.max.timeout.ms": 900000,
    "producer.id.expiration.ms": 86400000, "max.incremental.fetch.session.cache.slots": 1000,
    "connections.max.idle.ms": 600000, "zookeeper.connect": None, "zookeeper.session.timeout.ms": 18000,
    # keys of features kbroker lacks (kafka_keys.py)
    "sasl.kerberos.min.time.before.relogin": 60000, "sasl.enabled.mechanisms": ("GSSAPI",),
    "sasl.login.refresh.buffer.seconds": 300, "sasl.kerberos.ticket.renew.window.factor": 0.8,
    "ssl.keystore.type": "JKS", "ssl.keystore.location": None, "ssl.client.auth": "none",
    "ssl.enabled.protocols": ("TLSv1.2", "TLSv1.3"), "ssl.endpoint.identification.algorithm": "https",
    "process.roles": (), "controller.quorum.voters": (), "authorizer.class.name": "",
    "metric.reporters": ("org.apache.kafka.common.metrics.JmxReporter",), "remote.log.manager.thread.pool.size": 10,
    "group.share.record.lock.duration.ms": 30000, "delegation.token.max.lifetime.ms": 604800000,
}

KAFKA_TOPIC_DEFAULTS = {
    "cleanup.policy": ("delete",), "compression.type": "producer", "delete.retention.ms": 86400000,
    "file.delete.delay.ms": 60000, "flush.messages": LONG_MAX, "flush.ms": LONG_MAX,
    "index.interval.bytes": 4096, "max.compaction.lag.ms": LONG_MAX, "max.message.bytes": 1048588,
    "message.timestamp.type": "CreateTime", "message.timestamp.before.max.ms": LONG_MAX,
    "message.timestamp.after.max.ms": LONG_MAX, "min.cleanable.dirty.ratio": 0.5,
    "min.compaction.lag.ms": 0, "min.insync.replicas": 1, "preallocate": False, "retention.bytes": -1,
    "retention.ms": 604800000, "segment.bytes": 1073741824, "segment.index.bytes": 10485760,
    "segment.jitter.ms": 0, "segment.ms": 604800000, "unclean.leader.election.enable": False,
    "message.downconversion.enable": True, "local.retention.ms": -2, "local.retention.bytes": -2,
    "remote.storage.enable": False,
}


@pytest.mark.parametrize("key, default", KAFKA_BROKER_DEFAULTS.items())
def test_broker_default_is_kafkas(key, default):
    assert BROKER_DEFS[key].default == default


@pytest.mark.parametrize("key, default", KAFKA_TOPIC_DEFAULTS.items())
def test_topic_default_is_kafkas(key, default):
    assert TOPIC_DEFS[key].default == default


def test_code_defaults_resolve_to_the_topic_defaults():
    """With no broker settings, each topic key's broker synonyms give the topic's own default."""
    effective = BrokerConfig().topic_config()
    assert {key: effective[key] for key in KAFKA_TOPIC_DEFAULTS} == KAFKA_TOPIC_DEFAULTS


@pytest.mark.parametrize("key, mode", [
    # Kafka 4 reports the listener keys read-only (kafka-python's suite checks it on real brokers).
    ("listeners", UpdateMode.READ_ONLY), ("advertised.listeners", UpdateMode.READ_ONLY),
    ("listener.security.protocol.map", UpdateMode.PER_BROKER),
    ("num.network.threads", UpdateMode.CLUSTER_WIDE), ("num.io.threads", UpdateMode.CLUSTER_WIDE),
    ("log.retention.ms", UpdateMode.CLUSTER_WIDE), ("log.retention.hours", UpdateMode.READ_ONLY),
    ("log.roll.ms", UpdateMode.CLUSTER_WIDE), ("log.roll.hours", UpdateMode.READ_ONLY),
    ("message.max.bytes", UpdateMode.CLUSTER_WIDE), ("num.partitions", UpdateMode.READ_ONLY),
    ("log.cleaner.threads", UpdateMode.CLUSTER_WIDE), ("log.cleaner.enable", UpdateMode.READ_ONLY),
    ("log.flush.scheduler.interval.ms", UpdateMode.READ_ONLY), ("max.connections", UpdateMode.CLUSTER_WIDE),
    ("producer.id.expiration.ms", UpdateMode.CLUSTER_WIDE), ("node.id", UpdateMode.READ_ONLY),
    ("sasl.kerberos.min.time.before.relogin", UpdateMode.PER_BROKER), ("sasl.jaas.config", UpdateMode.PER_BROKER),
    ("ssl.keystore.location", UpdateMode.PER_BROKER), ("ssl.client.auth", UpdateMode.PER_BROKER),
    ("principal.builder.class", UpdateMode.PER_BROKER), ("sasl.login.retry.backoff.ms", UpdateMode.READ_ONLY),
    ("metric.reporters", UpdateMode.CLUSTER_WIDE), ("remote.fetch.max.wait.ms", UpdateMode.CLUSTER_WIDE),
    ("process.roles", UpdateMode.READ_ONLY), ("authorizer.class.name", UpdateMode.READ_ONLY),
])
def test_update_modes_are_kafkas(key, mode):
    assert BROKER_DEFS[key].mode is mode


def test_every_topic_synonym_is_a_broker_key_with_a_compatible_type():
    from kbroker.config.topic import TOPIC_SYNONYMS
    for name, synonyms in TOPIC_SYNONYMS.items():
        for synonym in synonyms:
            assert synonym.broker_key in BROKER_DEFS, (name, synonym.broker_key)


def test_no_key_is_defined_twice():
    """A key kbroker starts to act on moves from kafka_keys.py to broker.py rather than being copied."""
    from kbroker.config.broker import BROKER_CONFIGS
    from kbroker.config.kafka_keys import KAFKA_ONLY_CONFIGS
    names = [defn.name for defn in (*BROKER_CONFIGS, *KAFKA_ONLY_CONFIGS)]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_every_key_has_a_one_line_doc():
    for defn in [*BROKER_DEFS.values(), *TOPIC_DEFS.values()]:
        assert defn.doc and "\n" not in defn.doc and defn.doc.endswith("."), defn.name
