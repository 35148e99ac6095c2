"""The broker keys: Kafka's names, types, code defaults, validators and update modes.

Defaults are Kafka's code defaults (3.9 line), not the values of Kafka's sample server.properties;
`DEV_PROFILE` holds those, for the one-command single node. The table is data: parsing,
DescribeConfigs and docs/configuration.md all read it. Kafka's keys for features kbroker lacks
are in kafka_keys.py; `IGNORED_KEYS` are the few non-broker keys a server.properties may carry.
"""

from __future__ import annotations

import re
from typing import Any

from kbroker.config.definitions import (
    INT_MAX, LONG_MAX, Check, ConfigDef, ConfigType, Importance, OneOf, Range, UpdateMode,
)

BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST, CLASS, PASSWORD = (
    ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.SHORT, ConfigType.LONG,
    ConfigType.DOUBLE, ConfigType.LIST, ConfigType.CLASS, ConfigType.PASSWORD)
HIGH, MEDIUM, LOW = Importance.HIGH, Importance.MEDIUM, Importance.LOW
CLUSTER, PER_BROKER = UpdateMode.CLUSTER_WIDE, UpdateMode.PER_BROKER

# LegacyRecord.RECORD_OVERHEAD_V0: the smallest segment that holds one old-format message.
MIN_SEGMENT_BYTES = 14
# 1 MiB plus the 12-byte log overhead (offset and size) Kafka adds to its record size limit.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 + 12
WEEK_MS = 7 * 24 * 60 * 60 * 1000
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("compact", "delete")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# Mechanism names Kafka knows; kbroker serves all but GSSAPI (Kerberos).
SASL_MECHANISMS = ("GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

_LISTENER = re.compile(r"([A-Za-z0-9_.-]+)://(\[[0-9A-Fa-f:.]*\]|[^:/\[\]]*):(\d+)")


def parse_listeners(text: str) -> list[tuple[str, str, int]]:
    """Split `NAME://host:port,...` into (name, host, port); an IPv6 host keeps no brackets."""
    result = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _LISTENER.fullmatch(item)
        if not match or int(match[3]) > 65535:
            raise ValueError(f"{item!r} is not of the form NAME://host:port")
        result.append((match[1].upper(), match[2].strip("[]"), int(match[3])))
    return result


def parse_protocol_map(text: str) -> dict[str, str]:
    """Parse `NAME:PROTOCOL,...` as Kafka's listener.security.protocol.map."""
    mapping = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, protocol = item.partition(":")
        if not sep or not name.strip() or protocol.strip().upper() not in SECURITY_PROTOCOLS:
            raise ValueError(f"{item!r} is not NAME:PROTOCOL with PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}")
        mapping[name.strip().upper()] = protocol.strip().upper()
    return mapping


def parse_connection_overrides(text: str) -> dict[str, int]:
    """`host:count,...` (max.connections.per.ip.overrides) as {host: count}; an IPv6 host may be bracketed."""
    overrides = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        host, _, count = entry.rpartition(":")
        if not host or not count.isdigit():
            raise ValueError(f"{entry!r} is not host:count")
        overrides[host.strip("[]")] = int(count)
    return overrides


def _reason_of(parser: Any) -> Any:
    """Wrap a parser into a validator function: its ValueError message becomes the reason."""
    def check(value: Any) -> str | None:
        try:
            parser(value)
        except ValueError as exc:
            return str(exc)
        return None
    return check


LISTENERS = Check(_reason_of(parse_listeners), "NAME://host:port, comma-separated")
PROTOCOL_MAP = Check(_reason_of(parse_protocol_map), "NAME:PROTOCOL, comma-separated")
CONNECTION_OVERRIDES = Check(_reason_of(parse_connection_overrides), "host:count, comma-separated")
GZIP_LEVEL = Check(lambda v: None if v == -1 or 1 <= v <= 9 else f"value {v} is not in [1,...,9] or -1",
                   "[1,...,9] or -1")
# Kafka's authorizer classes; kbroker's ACL authorizer answers to either name, and to none of Java's others.
AUTHORIZER_CLASSES = ("org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer")
AUTHORIZER = Check(lambda v: None if not v or v in AUTHORIZER_CLASSES else
                   f"kbroker's ACL authorizer answers to {' or '.join(AUTHORIZER_CLASSES)}, not {v}",
                   " or ".join(AUTHORIZER_CLASSES) + ", or empty for none")
# A socket buffer size: -1 for the OS's own sizing; Java refuses 0 and below when Kafka applies it.
SOCKET_BUFFER = Check(lambda v: None if v == -1 or v >= 1 else f"value {v} is not -1 or at least 1", "-1, or [1,...]")
NO_TIERED_STORAGE = Check(lambda v: "kbroker has no tiered storage" if v else None, "false")


def d(name: str, kind: ConfigType, default: Any, importance: Importance, doc: str,
      validator: Any = None, mode: UpdateMode = UpdateMode.READ_ONLY, *, internal: bool = False) -> ConfigDef:
    return ConfigDef(name, kind, default, importance, doc, validator, mode, internal)


BROKER_CONFIGS: tuple[ConfigDef, ...] = (
    # -- identity and cluster
    d("node.id", INT, -1, HIGH, "This broker's id; broker.id is the older name of the same setting."),
    d("broker.id", INT, -1, HIGH, "This broker's id (ZooKeeper-era name of node.id); -1 lets the broker choose."),
    d("broker.rack", STRING, None, MEDIUM, "Rack of this broker, reported in metadata for rack-aware clients."),
    d("broker.id.generation.enable", BOOLEAN, True, MEDIUM, "Let a broker without an id take one above reserved.broker.max.id; accepted, not applied: node.id must be given."),
    d("reserved.broker.max.id", INT, 1000, MEDIUM, "Highest id an operator may assign; accepted, not applied: no id is generated or checked against it.", Range(0)),
    d("zookeeper.connect", STRING, None, HIGH, "ZooKeeper hosts (host:port,...[/chroot]) for a multi-broker cluster; unset runs one node."),
    d("zookeeper.session.timeout.ms", INT, 18000, HIGH, "ZooKeeper session timeout: how long a silent broker stays a member."),
    d("zookeeper.connection.timeout.ms", INT, None, HIGH, "How long to wait for a ZooKeeper connection; unset uses the session timeout."),
    d("zookeeper.set.acl", BOOLEAN, False, HIGH, "Create ZooKeeper nodes with secure ACLs; accepted, not applied: nodes are created open."),
    d("zookeeper.max.in.flight.requests", INT, 10, HIGH, "ZooKeeper requests a broker may have outstanding; accepted, not applied.", Range(1)),
    # -- listeners and sockets
    d("listeners", STRING, "PLAINTEXT://:9092", HIGH, "Addresses to listen on, as NAME://host:port; an empty host binds every interface.", LISTENERS),
    d("advertised.listeners", STRING, None, HIGH, "Addresses given to clients in metadata; unset means the listeners.", LISTENERS),
    d("listener.security.protocol.map", STRING, "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT", LOW,
      "Security protocol of each listener name.", PROTOCOL_MAP, PER_BROKER),
    d("socket.send.buffer.bytes", INT, 102400, HIGH,
      "SO_SNDBUF of client sockets, applied when set; unset or -1, the OS sizes them (its TCP autotuning).",
      SOCKET_BUFFER),
    d("socket.receive.buffer.bytes", INT, 102400, HIGH,
      "SO_RCVBUF of client sockets, applied when set; unset or -1, the OS sizes them (its TCP autotuning).",
      SOCKET_BUFFER),
    d("socket.request.max.bytes", INT, 104857600, HIGH, "Largest request accepted; a bigger size prefix closes the connection.", Range(1)),
    d("socket.listen.backlog.size", INT, 50, MEDIUM, "Pending connections the listen socket queues; accepted, not applied: kbroker's backlog is 1024.", Range(1)),
    d("connections.max.idle.ms", LONG, 600000, MEDIUM, "Close a client connection idle this long."),
    d("connection.failed.authentication.delay.ms", INT, 100, LOW, "Delay before closing a connection that failed to authenticate.", Range(0)),
    d("max.connections", INT, INT_MAX, MEDIUM, "Most client connections the broker holds at once; past it, accepting waits, except on the inter-broker listener when there are others; above it (lowered, or passed there), the other listeners close their least recently active connections. listener.name.<l>.max.connections bounds one listener's own count (this value by default).", Range(0), CLUSTER),
    d("max.connections.per.ip", INT, INT_MAX, MEDIUM, "Most connections from one address; one more is closed at once.", Range(0), CLUSTER),
    d("max.connections.per.ip.overrides", STRING, "", MEDIUM, "Per-address limits as host:count,...; they beat max.connections.per.ip.", CONNECTION_OVERRIDES, CLUSTER),
    d("quota.window.num", INT, 11, LOW, "Samples kept for client quotas (and the connection creation rates): a rate is measured over this many windows.", Range(1)),
    d("quota.window.size.seconds", INT, 1, LOW, "Length of one client quota sample.", Range(1)),
    d("controller.quota.window.num", INT, 11, LOW, "Samples of a controller mutation quota: its token bucket holds this many windows of the quota.", Range(1)),
    d("controller.quota.window.size.seconds", INT, 1, LOW, "Length of one controller mutation quota sample.", Range(1)),
    d("max.connection.creation.rate", INT, INT_MAX, MEDIUM, "Most new connections accepted a second (over quota.window.num windows of quota.window.size.seconds); past it, accepting waits, at most one window. The inter-broker listener, if there are others, counts only towards its own listener.name.<l>.max.connection.creation.rate (this value by default), which bounds one listener.", Range(0), CLUSTER),
    d("queued.max.requests", INT, 500, HIGH, "Kafka's bound on requests read but not yet handled; accepted, not applied: each connection stops reading past 4 MiB not yet handled.", Range(1)),
    d("queued.max.request.bytes", LONG, -1, MEDIUM, "Kafka's byte bound on queued requests; accepted, not applied, like queued.max.requests."),
    d("num.network.threads", INT, 3, HIGH, "Kafka's network thread count; kbroker serves sockets on one event loop.", Range(1), CLUSTER),
    d("num.io.threads", INT, 8, HIGH, "Kafka's request handler thread count; accepted for compatibility.", Range(1), CLUSTER),
    d("background.threads", INT, 10, HIGH, "Kafka's background task thread count; accepted for compatibility.", Range(1), CLUSTER),
    d("request.timeout.ms", INT, 30000, HIGH, "Timeout of requests the broker itself sends."),
    # -- TLS and SASL on the listeners; each may also be set for one listener as listener.name.<name>.<key>
    d("ssl.keystore.type", STRING, "JKS", MEDIUM, "Format of the key store: PEM or PKCS12 (a JKS type reads a PKCS12 file, as Java does).",
      None, PER_BROKER),
    d("ssl.keystore.location", STRING, None, MEDIUM, "Key store file with the broker's private key and certificate chain.", None, PER_BROKER),
    d("ssl.keystore.password", PASSWORD, None, MEDIUM, "Password of a PKCS12 key store file.", None, PER_BROKER),
    d("ssl.key.password", PASSWORD, None, MEDIUM, "Password of the private key (an encrypted PEM key, or PKCS12).", None, PER_BROKER),
    d("ssl.keystore.key", PASSWORD, None, MEDIUM, "The private key in PEM, in place of a key store file.", None, PER_BROKER),
    d("ssl.keystore.certificate.chain", PASSWORD, None, MEDIUM, "The certificate chain in PEM, in place of a key store file.", None, PER_BROKER),
    d("ssl.truststore.type", STRING, "JKS", MEDIUM, "Format of the trust store: PEM or PKCS12.", None, PER_BROKER),
    d("ssl.truststore.location", STRING, None, MEDIUM, "Trust store file: the CA certificates client certificates are checked against.",
      None, PER_BROKER),
    d("ssl.truststore.password", PASSWORD, None, MEDIUM, "Password of a PKCS12 trust store file.", None, PER_BROKER),
    d("ssl.truststore.certificates", PASSWORD, None, MEDIUM, "Trusted certificates in PEM, in place of a trust store file.", None, PER_BROKER),
    d("ssl.client.auth", STRING, "none", MEDIUM, "Whether TLS clients must (required), may (requested) or need not present a certificate.",
      OneOf(("required", "requested", "none")), PER_BROKER),
    d("ssl.protocol", STRING, "TLSv1.3", MEDIUM, "TLS protocol the context is made for; ssl.enabled.protocols decides what is accepted.",
      None, PER_BROKER),
    d("ssl.enabled.protocols", LIST, ("TLSv1.2", "TLSv1.3"), MEDIUM, "TLS versions accepted on connections.",
      OneOf(("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")), PER_BROKER),
    d("ssl.cipher.suites", LIST, (), MEDIUM, "TLS 1.2 cipher suites allowed (IANA or OpenSSL names); empty allows OpenSSL's defaults.",
      None, PER_BROKER),
    d("ssl.endpoint.identification.algorithm", STRING, "https", LOW,
      "Check a peer's host name against its certificate (https), or not (empty); the broker checks no client host names.", None, PER_BROKER),
    d("ssl.principal.mapping.rules", STRING, "DEFAULT", LOW,
      "Rules turning a client certificate's distinguished name into the user name of its principal."),
    d("sasl.enabled.mechanisms", LIST, ("GSSAPI",), MEDIUM, "SASL mechanisms the broker accepts: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER.",
      None, PER_BROKER),
    d("sasl.jaas.config", PASSWORD, None, MEDIUM, "JAAS login line of a mechanism (PLAIN's users, OAUTHBEARER's validator options).",
      None, PER_BROKER),
    d("sasl.server.max.receive.size", INT, 512 * 1024, MEDIUM, "Largest frame a client may send before it has authenticated.", Range(1)),
    d("inter.broker.listener.name", STRING, None, MEDIUM,
      "Listener brokers use with each other; unset: the first of security.inter.broker.protocol."),
    d("sasl.mechanism.inter.broker.protocol", STRING, "GSSAPI", MEDIUM,
      "SASL mechanism brokers log in to each other with, on a SASL inter-broker listener; the broker's own "
      "username and password come from that listener's JAAS line.", None, PER_BROKER),
    d("security.inter.broker.protocol", STRING, "PLAINTEXT", MEDIUM, "Security protocol between brokers when no inter-broker listener is named.",
      OneOf(SECURITY_PROTOCOLS)),
    d("connections.max.reauth.ms", LONG, 0, MEDIUM,
      "Longest a SASL session lasts before the client must authenticate again (KIP-368); 0 means forever.", Range(0)),
    # -- topics
    d("auto.create.topics.enable", BOOLEAN, True, HIGH, "Create a topic when a client asks for metadata of a missing one."),
    d("delete.topic.enable", BOOLEAN, True, HIGH, "Allow DeleteTopics; when false it fails with TOPIC_DELETION_DISABLED."),
    d("num.partitions", INT, 1, MEDIUM, "Partitions of a topic created without a count.", Range(1)),
    d("default.replication.factor", INT, 1, MEDIUM, "Replication factor of a topic created without one."),
    d("create.topic.policy.class.name", CLASS, None, LOW, "Java policy class vetting topic creation; kbroker rejects any value.",
      Check(lambda v: "kbroker cannot load Java policy classes" if v else None, "empty")),
    d("message.max.bytes", INT, DEFAULT_MAX_MESSAGE_BYTES, HIGH, "Largest record batch a topic accepts by default (max.message.bytes).", Range(0), CLUSTER),
    d("compression.type", STRING, "producer", HIGH, "Default topic compression; producer keeps what the producer sent.", OneOf(COMPRESSION_TYPES), CLUSTER),
    d("compression.gzip.level", INT, -1, MEDIUM, "gzip level when the broker compresses; -1 is zlib's default.", GZIP_LEVEL, CLUSTER),
    d("compression.lz4.level", INT, 9, MEDIUM, "lz4 level when the broker compresses.", Range(1, 17), CLUSTER),
    d("compression.zstd.level", INT, 3, MEDIUM, "zstd level when the broker compresses.", Range(-131072, 22), CLUSTER),
    d("min.insync.replicas", INT, 1, HIGH, "Replicas that must have a write before acks=all succeeds.", Range(1), CLUSTER),
    d("unclean.leader.election.enable", BOOLEAN, False, HIGH, "Let an out-of-sync replica become leader, losing data, rather than go offline.", None, CLUSTER),
    d("max.incremental.fetch.session.cache.slots", INT, 1000, MEDIUM, "Incremental fetch sessions (KIP-227) kept at once.", Range(0)),
    d("fetch.max.bytes", INT, 57671680, MEDIUM, "Most bytes one fetch response returns, whatever the request asks (its first batch comes whole).", Range(1024)),
    d("max.request.partition.size.limit", INT, 2000, MEDIUM, "Most partitions one DescribeTopicPartitions response holds.", Range(1)),
    # -- authorization (super.users and allow.everyone.if.no.acl.found are the authorizer's, not KafkaConfig's:
    # described only when set, as Kafka describes a server.properties key it does not define)
    d("authorizer.class.name", STRING, "", LOW, "The ACL authorizer; empty allows everything and the ACL APIs answer SECURITY_DISABLED.",
      AUTHORIZER),
    d("super.users", STRING, None, LOW, "Principals the authorizer allows everything, as User:name;User:other.", internal=True),
    d("allow.everyone.if.no.acl.found", BOOLEAN, False, LOW, "Allow an operation on a resource that has no ACLs at all.",
      internal=True),
    # -- log storage
    d("log.dirs", STRING, None, HIGH, "Comma-separated directories holding partition logs; unset means log.dir."),
    d("log.dir", STRING, "/tmp/kafka-logs", HIGH, "Directory holding partition logs when log.dirs is unset."),
    d("log.segment.bytes", INT, 1024 * 1024 * 1024, HIGH, "Roll a new segment when the active one reaches this size.", Range(MIN_SEGMENT_BYTES), CLUSTER),
    d("log.roll.ms", LONG, None, HIGH, "Roll a new segment after this long; unset means log.roll.hours.", None, CLUSTER),
    d("log.roll.hours", INT, 168, HIGH, "Roll a new segment after this many hours, if log.roll.ms is unset.", Range(1)),
    d("log.roll.jitter.ms", LONG, None, HIGH, "Random jitter subtracted from the roll time; accepted, not applied: rolls have no jitter (storage.md).", None, CLUSTER),
    d("log.roll.jitter.hours", INT, 0, HIGH, "Roll jitter in hours; accepted, not applied, like log.roll.jitter.ms.", Range(0)),
    d("log.retention.ms", LONG, None, HIGH, "Delete segments older than this; -1 keeps them forever; unset means minutes, then hours.", None, CLUSTER),
    d("log.retention.minutes", INT, None, HIGH, "Retention in minutes, if log.retention.ms is unset."),
    d("log.retention.hours", INT, 168, HIGH, "Retention in hours, if neither log.retention.ms nor log.retention.minutes is set."),
    d("log.retention.bytes", LONG, -1, HIGH, "Delete old segments while a partition is larger than this; -1 means no size limit.", None, CLUSTER),
    d("log.retention.check.interval.ms", LONG, 300000, MEDIUM, "How often retention looks for segments to delete.", Range(1)),
    d("log.cleanup.policy", LIST, ("delete",), MEDIUM, "Default cleanup: delete old segments, compact by key, or both.", OneOf(CLEANUP_POLICIES), CLUSTER),
    d("log.index.size.max.bytes", INT, 10 * 1024 * 1024, MEDIUM, "Most bytes of an offset index; a full index rolls the segment.", Range(4), CLUSTER),
    d("log.index.interval.bytes", INT, 4096, MEDIUM, "Bytes of log between two offset index entries.", Range(0), CLUSTER),
    d("log.flush.interval.messages", LONG, LONG_MAX, HIGH, "fsync a partition after this many messages.", Range(1), CLUSTER),
    d("log.flush.interval.ms", LONG, None, HIGH, "fsync a partition whose oldest unflushed write is this old; unset means the scheduler interval.", None, CLUSTER),
    d("log.flush.scheduler.interval.ms", LONG, LONG_MAX, HIGH, "How often to look for partitions due a time-based flush."),
    d("log.flush.offset.checkpoint.interval.ms", INT, 60000, HIGH, "How often the recovery-point checkpoint is written.", Range(0)),
    d("log.flush.start.offset.checkpoint.interval.ms", INT, 60000, HIGH, "How often the log-start-offset checkpoint is written; accepted, not applied: it is written with the recovery points (log.flush.offset.checkpoint.interval.ms).", Range(0)),
    d("log.segment.delete.delay.ms", LONG, 60000, HIGH, "Keep a deleted segment's files this long; accepted, not applied: they are removed at once (storage.md).", Range(0), CLUSTER),
    d("log.preallocate", BOOLEAN, False, MEDIUM, "Preallocate a new segment's file at full size; accepted, not applied: only index files are preallocated.", None, CLUSTER),
    d("num.recovery.threads.per.data.dir", INT, 1, HIGH, "Threads recovering logs at startup, per directory; accepted, not applied: a log is recovered when first opened.", Range(1), CLUSTER),
    d("log.message.format.version", STRING, "3.0-IV1", MEDIUM, "Deprecated; record format is always v2 since Kafka 3.0."),
    d("log.message.timestamp.type", STRING, "CreateTime", MEDIUM, "Timestamp stored in records: the producer's or the broker's append time.", OneOf(TIMESTAMP_TYPES), CLUSTER),
    d("log.message.timestamp.difference.max.ms", LONG, LONG_MAX, MEDIUM, "Deprecated: both timestamp bounds at once.", Range(0), CLUSTER),
    d("log.message.timestamp.before.max.ms", LONG, LONG_MAX, MEDIUM, "Reject a CreateTime record older than the broker's clock by more than this.", Range(0), CLUSTER),
    d("log.message.timestamp.after.max.ms", LONG, LONG_MAX, MEDIUM, "Reject a CreateTime record ahead of the broker's clock by more than this.", Range(0), CLUSTER),
    d("log.message.downconversion.enable", BOOLEAN, True, LOW, "Convert records for clients that only read old message formats.", None, CLUSTER),
    d("log.dir.failure.timeout.ms", LONG, 30000, LOW, "How long a broker with a failed log directory waits before shutting down; accepted, not applied: a failed write takes its partition offline, not the broker.", Range(1)),
    d("log.local.retention.ms", LONG, -2, MEDIUM, "Local retention with tiered storage; -2 means log.retention.ms.", Range(-2), CLUSTER),
    d("log.local.retention.bytes", LONG, -2, MEDIUM, "Local size limit with tiered storage; -2 means log.retention.bytes.", Range(-2), CLUSTER),
    d("remote.log.storage.system.enable", BOOLEAN, False, MEDIUM, "Tiered storage; kbroker has none, so only false is accepted.", NO_TIERED_STORAGE),
    # -- log cleaner (compaction)
    d("log.cleaner.enable", BOOLEAN, True, MEDIUM, "Run the cleaner that compacts topics with cleanup.policy=compact."),
    d("log.cleaner.threads", INT, 1, MEDIUM, "Cleaner threads; accepted, not applied: the cleaner runs on the event loop (storage.md).", Range(0), CLUSTER),
    d("log.cleaner.io.max.bytes.per.second", DOUBLE, 1.7976931348623157e308, MEDIUM, "Throttle on the cleaner's reads plus writes; accepted, not applied (storage.md).", None, CLUSTER),
    d("log.cleaner.dedupe.buffer.size", LONG, 128 * 1024 * 1024, MEDIUM, "Memory for the cleaner's key map; accepted, not applied: a pass cleans up to 64 MiB (storage.md).", None, CLUSTER),
    d("log.cleaner.io.buffer.size", INT, 512 * 1024, MEDIUM, "Memory for cleaner read and write buffers; accepted, not applied (storage.md).", Range(0), CLUSTER),
    d("log.cleaner.io.buffer.load.factor", DOUBLE, 0.9, MEDIUM, "How full the cleaner's key map may get; accepted, not applied (storage.md).", None, CLUSTER),
    d("log.cleaner.backoff.ms", LONG, 15000, MEDIUM, "Sleep when no log needs cleaning.", Range(0), CLUSTER),
    d("log.cleaner.min.cleanable.ratio", DOUBLE, 0.5, MEDIUM, "Clean a log once this share of it is dirty.", Range(0, 1), CLUSTER),
    d("log.cleaner.delete.retention.ms", LONG, 24 * 60 * 60 * 1000, MEDIUM, "Keep tombstones of compacted topics this long.", Range(0), CLUSTER),
    d("log.cleaner.min.compaction.lag.ms", LONG, 0, MEDIUM, "A record stays uncompacted at least this long.", Range(0), CLUSTER),
    d("log.cleaner.max.compaction.lag.ms", LONG, LONG_MAX, MEDIUM, "A record becomes eligible for compaction after this long at most.", Range(1), CLUSTER),
    # -- replication
    d("replica.fetch.max.bytes", INT, 1024 * 1024, MEDIUM, "Bytes a follower asks for per partition in one fetch.", Range(0)),
    d("replica.fetch.response.max.bytes", INT, 10 * 1024 * 1024, MEDIUM, "Bytes a follower asks for in one whole fetch.", Range(0)),
    d("replica.fetch.wait.max.ms", INT, 500, HIGH, "How long a follower's fetch may wait for data."),
    d("replica.fetch.min.bytes", INT, 1, HIGH, "Bytes a follower's fetch waits for."),
    d("replica.fetch.backoff.ms", INT, 1000, MEDIUM, "Pause after a follower's fetch fails.", Range(0)),
    d("replica.lag.time.max.ms", LONG, 30000, HIGH, "A follower that has not caught up for this long leaves the ISR."),
    d("replica.socket.timeout.ms", INT, 30000, HIGH, "Socket timeout of follower fetches."),
    d("replica.socket.receive.buffer.bytes", INT, 64 * 1024, HIGH, "SO_RCVBUF of follower fetch connections; accepted, not applied: the OS sizes them."),
    d("replica.high.watermark.checkpoint.interval.ms", LONG, 5000, HIGH, "How often high watermarks are checkpointed."),
    d("num.replica.fetchers", INT, 1, HIGH, "Fetcher threads per source broker; accepted, not applied: one fetcher task per leader.", None, CLUSTER),
    d("controller.socket.timeout.ms", INT, 30000, MEDIUM, "Socket timeout of controller-to-broker requests; accepted, not applied: they time out after 30 s."),
    d("auto.leader.rebalance.enable", BOOLEAN, True, HIGH, "Move leadership back to preferred replicas in the background."),
    d("controlled.shutdown.enable", BOOLEAN, True, MEDIUM, "Hand leadership to other replicas before the broker stops."),
    d("controlled.shutdown.max.retries", INT, 3, MEDIUM, "Attempts at a controlled shutdown before stopping anyway."),
    d("controlled.shutdown.retry.backoff.ms", LONG, 5000, MEDIUM, "Pause between controlled shutdown attempts."),
    d("leader.imbalance.check.interval.seconds", LONG, 300, HIGH, "How often leadership is checked against the preferred replicas.",
      Range(1)),
    d("leader.imbalance.per.broker.percentage", INT, 10, HIGH, "Share of a broker's partitions led elsewhere that triggers a rebalance."),
    # -- consumer groups (classic protocol, and KIP-848 consumer groups)
    d("group.min.session.timeout.ms", INT, 6000, MEDIUM, "Shortest session timeout a classic group member may ask for."),
    d("group.max.session.timeout.ms", INT, 1800000, MEDIUM, "Longest session timeout a classic group member may ask for."),
    d("group.initial.rebalance.delay.ms", INT, 3000, MEDIUM, "Wait for more members before the first rebalance of an empty group."),
    d("group.max.size", INT, INT_MAX, MEDIUM, "Most members in one classic group.", Range(1)),
    d("group.coordinator.rebalance.protocols", LIST, ("classic", "consumer"), MEDIUM, "Group protocols the coordinator serves; accepted, not applied: classic, consumer and share are all served.",
      OneOf(("classic", "consumer", "share"))),
    d("group.consumer.session.timeout.ms", INT, 45000, MEDIUM, "Session timeout of KIP-848 consumer group members.", Range(1)),
    d("group.consumer.min.session.timeout.ms", INT, 45000, MEDIUM, "Lowest group.consumer.session.timeout.ms allowed.", Range(1)),
    d("group.consumer.max.session.timeout.ms", INT, 60000, MEDIUM, "Highest group.consumer.session.timeout.ms allowed.", Range(1)),
    d("group.consumer.heartbeat.interval.ms", INT, 5000, MEDIUM, "Heartbeat interval given to KIP-848 consumer group members.", Range(1)),
    d("group.consumer.min.heartbeat.interval.ms", INT, 5000, MEDIUM, "Lowest group.consumer.heartbeat.interval.ms allowed.", Range(1)),
    d("group.consumer.max.heartbeat.interval.ms", INT, 15000, MEDIUM, "Highest group.consumer.heartbeat.interval.ms allowed.", Range(1)),
    d("group.consumer.max.size", INT, INT_MAX, MEDIUM, "Most members in one KIP-848 consumer group.", Range(1)),
    d("group.share.session.timeout.ms", INT, 45000, MEDIUM, "Session timeout of share group members.", Range(1)),
    d("group.share.min.session.timeout.ms", INT, 45000, MEDIUM, "Lowest group.share.session.timeout.ms allowed.", Range(1)),
    d("group.share.max.session.timeout.ms", INT, 60000, MEDIUM, "Highest group.share.session.timeout.ms allowed.", Range(1)),
    d("group.share.heartbeat.interval.ms", INT, 5000, MEDIUM, "Heartbeat interval given to share group members.", Range(1)),
    d("group.share.min.heartbeat.interval.ms", INT, 5000, MEDIUM, "Lowest group.share.heartbeat.interval.ms allowed.", Range(1)),
    d("group.share.max.heartbeat.interval.ms", INT, 15000, MEDIUM, "Highest group.share.heartbeat.interval.ms allowed.", Range(1)),
    d("group.share.max.size", INT, 200, MEDIUM, "Most members in one share group.", Range(10, 1000)),
    d("group.share.record.lock.duration.ms", INT, 30000, MEDIUM,
      "How long a share group member holds the records it acquired before they go back to the group.", Range(1000, 3600000)),
    d("group.share.min.record.lock.duration.ms", INT, 15000, MEDIUM, "Lowest group.share.record.lock.duration.ms allowed.",
      Range(1000, 30000)),
    d("group.share.max.record.lock.duration.ms", INT, 60000, MEDIUM, "Highest group.share.record.lock.duration.ms allowed.",
      Range(30000, 3600000)),
    d("group.share.delivery.count.limit", INT, 5, MEDIUM,
      "Deliveries of a record to a share group after which it is archived instead of made available again.", Range(2, 10)),
    d("group.share.partition.max.record.locks", INT, 2000, MEDIUM,
      "Most records of one share partition in flight (acquired or waiting for redelivery) at a time.", Range(100, 10000)),
    d("group.consumer.assignors", LIST, ("org.apache.kafka.coordinator.group.assignor.UniformAssignor",
                                         "org.apache.kafka.coordinator.group.assignor.RangeAssignor"), MEDIUM,
      "Server-side assignors of KIP-848 groups, first is the default; kbroker matches them by short name (uniform, range)."),
    d("group.consumer.migration.policy", STRING, "bidirectional", MEDIUM, "Whether groups convert between classic and consumer protocols.",
      OneOf(("disabled", "downgrade", "upgrade", "bidirectional")), internal=True),
    # -- committed offsets
    d("offset.metadata.max.bytes", INT, 4096, HIGH, "Largest metadata string stored with a committed offset."),
    d("offsets.load.buffer.size", INT, 5 * 1024 * 1024, HIGH, "Read batch size when loading committed offsets; accepted, not applied: kbroker reads 1 MiB at a time.", Range(1)),
    d("offsets.topic.replication.factor", SHORT, 3, HIGH, "Replication factor of __consumer_offsets.", Range(1)),
    d("offsets.topic.num.partitions", INT, 50, HIGH, "Partitions of __consumer_offsets; do not change once created.", Range(1)),
    d("offsets.topic.segment.bytes", INT, 100 * 1024 * 1024, HIGH, "Segment size of __consumer_offsets.", Range(1)),
    d("offsets.topic.compression.codec", INT, 0, HIGH,
      "Codec of __consumer_offsets writes by id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.", Range(0, 4)),
    d("offsets.retention.minutes", INT, 7 * 24 * 60, HIGH, "Drop a group's committed offsets this long after it becomes empty.", Range(1)),
    d("offsets.retention.check.interval.ms", LONG, 600000, HIGH, "How often expired offsets are looked for.", Range(1)),
    d("offsets.commit.timeout.ms", INT, 5000, HIGH, "How long an offset commit waits for replication.", Range(1)),
    # -- transactions and producer ids
    d("transaction.state.log.replication.factor", SHORT, 3, HIGH, "Replication factor of __transaction_state.", Range(1)),
    d("transaction.state.log.min.isr", INT, 2, HIGH, "min.insync.replicas of __transaction_state, set when it is created.", Range(1)),
    d("transaction.state.log.num.partitions", INT, 50, HIGH, "Partitions of __transaction_state; do not change once created.", Range(1)),
    d("transaction.state.log.segment.bytes", INT, 100 * 1024 * 1024, HIGH, "Segment size of __transaction_state.", Range(1)),
    d("transaction.state.log.load.buffer.size", INT, 5 * 1024 * 1024, HIGH, "Read batch size when loading transaction state; accepted, not applied: kbroker reads 1 MiB at a time.", Range(1)),
    d("transactional.id.expiration.ms", INT, WEEK_MS, HIGH, "Forget a transactional id unused for this long.", Range(1)),
    d("transaction.max.timeout.ms", INT, 15 * 60 * 1000, HIGH, "Longest transaction timeout a producer may ask for.", Range(1)),
    d("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, 10000, LOW, "How often timed-out transactions are aborted.", Range(1)),
    d("transaction.remove.expired.transaction.cleanup.interval.ms", INT, 3600000, LOW, "How often expired transactional ids are removed.", Range(1)),
    d("transaction.partition.verification.enable", BOOLEAN, True, LOW, "Check a partition joined the transaction before a transactional write.", None, CLUSTER),
    d("producer.id.expiration.ms", INT, 86400000, LOW, "Forget an idle producer id's sequence state after this long.", Range(1), CLUSTER),
    d("producer.id.expiration.check.interval.ms", INT, 600000, LOW, "How often expired producer ids are removed.", Range(1), internal=True),
    # -- the share coordinator (KIP-932)
    d("share.coordinator.state.topic.replication.factor", SHORT, 3, HIGH, "Replication factor of __share_group_state.", Range(1)),
    d("share.coordinator.state.topic.min.isr", SHORT, 2, HIGH, "min.insync.replicas of __share_group_state, set when it is created.", Range(1)),
    d("share.coordinator.state.topic.num.partitions", INT, 50, HIGH, "Partitions of __share_group_state; do not change once created.", Range(1)),
    d("share.coordinator.state.topic.segment.bytes", INT, 100 * 1024 * 1024, HIGH, "Segment size of __share_group_state.", Range(1)),
    d("share.coordinator.load.buffer.size", INT, 5 * 1024 * 1024, HIGH, "Read batch size when loading share state.", Range(1)),
    d("share.coordinator.snapshot.update.records.per.snapshot", INT, 500, MEDIUM,
      "ShareUpdate records the share coordinator writes between two ShareSnapshot records of a share partition.", Range(0)),
)

# Keys a user's server.properties may carry that kbroker ignores with a warning (none now that the
# authorizer's are served). Everything else unknown is an error.
IGNORED_KEYS: frozenset[str] = frozenset()
# Per-listener overrides (listener.name.<name>.<key>) of keys kbroker does not know are accepted and ignored likewise.
IGNORED_PREFIXES: tuple[str, ...] = ("listener.name.",)

# What Kafka's own sample server.properties sets for one node, so `kbroker serve` works as is:
# internal topics with one replica, no initial rebalance delay, loopback listener, local data dir.
DEV_PROFILE: dict[str, str] = {
    "node.id": "1",
    "listeners": "PLAINTEXT://127.0.0.1:9092",
    "log.dirs": "./kbroker-data",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
}
