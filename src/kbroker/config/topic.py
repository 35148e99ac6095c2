"""Topic-level keys (Kafka's TopicConfig) and the broker keys they fall back to.

A topic's effective value is its own override, else the first of its broker synonyms that has a
value (set by the operator or defaulted), converted to the topic key's unit, else the topic
default. The synonym order is Kafka's: retention.ms reads log.retention.ms, then
log.retention.minutes, then log.retention.hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kbroker.config.broker import (
    BOOLEAN, CLEANUP_POLICIES, COMPRESSION_TYPES, DEFAULT_MAX_MESSAGE_BYTES, DOUBLE, GZIP_LEVEL, INT, LIST,
    LONG, LONG_MAX, MEDIUM, LOW, MIN_SEGMENT_BYTES, STRING, TIMESTAMP_TYPES, WEEK_MS, d,
)
from kbroker.config.definitions import Check, ConfigDef, OneOf, Range

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS


def _same(value: Any) -> Any:
    return value


def _hours(value: int) -> int:
    return value * HOUR_MS


def _minutes(value: int) -> int:
    return value * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Synonym:
    """A broker key that sets a topic key's default, and how its value converts."""

    broker_key: str
    convert: Callable[[Any], Any] = _same


def _retention(convert: Callable[[int], int]) -> Callable[[int], int]:
    """Kafka turns any negative broker retention time into -1 (keep forever)."""
    return lambda value: max(convert(value), -1)


_REPLICA_LIST = Check(
    lambda v: None if v in ((), ("*",)) or all(_is_replica(item) for item in v)
    else f"value {','.join(v)!r} is not * or a list of partition:broker",
    "[partitionId]:[brokerId],... or *")


def _is_replica(item: str) -> bool:
    partition, sep, broker = item.partition(":")
    return bool(sep) and partition.strip().isdigit() and broker.strip().isdigit()


# (definition, broker synonyms in Kafka's order)
_TOPIC_TABLE: tuple[tuple[ConfigDef, tuple[Synonym, ...]], ...] = (
    (d("cleanup.policy", LIST, ("delete",), MEDIUM, "delete drops old segments, compact keeps the last record per key; both may be given.",
       OneOf(CLEANUP_POLICIES)), (Synonym("log.cleanup.policy"),)),
    (d("compression.type", STRING, "producer", MEDIUM, "Codec of stored batches: a produced batch in another is rewritten in it; producer keeps the producer's own.",
       OneOf(COMPRESSION_TYPES)), (Synonym("compression.type"),)),
    (d("compression.gzip.level", INT, -1, MEDIUM, "gzip level when the broker recompresses.", GZIP_LEVEL), (Synonym("compression.gzip.level"),)),
    (d("compression.lz4.level", INT, 9, MEDIUM, "lz4 level when the broker recompresses.", Range(1, 17)), (Synonym("compression.lz4.level"),)),
    (d("compression.zstd.level", INT, 3, MEDIUM, "zstd level when the broker recompresses.", Range(-131072, 22)), (Synonym("compression.zstd.level"),)),
    (d("delete.retention.ms", LONG, 24 * HOUR_MS, MEDIUM, "How long tombstones survive compaction, so consumers see deletes.", Range(0)),
     (Synonym("log.cleaner.delete.retention.ms"),)),
    (d("file.delete.delay.ms", LONG, 60000, MEDIUM, "Wait before a deleted segment's files are removed; accepted, not applied: they are removed at once (storage.md).", Range(0)),
     (Synonym("log.segment.delete.delay.ms"),)),
    (d("flush.messages", LONG, LONG_MAX, MEDIUM, "fsync after this many messages; 1 syncs every write.", Range(1)),
     (Synonym("log.flush.interval.messages"),)),
    (d("flush.ms", LONG, LONG_MAX, MEDIUM, "fsync when the oldest unflushed write is this old.", Range(0)),
     (Synonym("log.flush.interval.ms"), Synonym("log.flush.scheduler.interval.ms"))),
    (d("follower.replication.throttled.replicas", LIST, (), MEDIUM, "Replicas whose follower fetches are throttled; accepted, not applied: replication is not throttled (cluster.md).", _REPLICA_LIST), ()),
    (d("index.interval.bytes", INT, 4096, MEDIUM, "Bytes of log between offset index entries.", Range(0)), (Synonym("log.index.interval.bytes"),)),
    (d("leader.replication.throttled.replicas", LIST, (), MEDIUM, "Replicas whose leader-side replication is throttled; accepted, not applied: replication is not throttled (cluster.md).", _REPLICA_LIST), ()),
    (d("local.retention.bytes", LONG, -2, MEDIUM, "Local size limit with tiered storage; -2 means retention.bytes.", Range(-2)),
     (Synonym("log.local.retention.bytes"),)),
    (d("local.retention.ms", LONG, -2, MEDIUM, "Local retention with tiered storage; -2 means retention.ms.", Range(-2)),
     (Synonym("log.local.retention.ms"),)),
    (d("max.compaction.lag.ms", LONG, LONG_MAX, MEDIUM, "A record becomes eligible for compaction after this long at most.", Range(1)),
     (Synonym("log.cleaner.max.compaction.lag.ms"),)),
    (d("max.message.bytes", INT, DEFAULT_MAX_MESSAGE_BYTES, MEDIUM, "Largest record batch the topic accepts.", Range(0)),
     (Synonym("message.max.bytes"),)),
    (d("message.downconversion.enable", BOOLEAN, True, LOW, "Convert records for consumers that only read old message formats."),
     (Synonym("log.message.downconversion.enable"),)),
    (d("message.format.version", STRING, "3.0-IV1", MEDIUM, "Deprecated; record format is always v2 since Kafka 3.0."),
     (Synonym("log.message.format.version"),)),
    (d("message.timestamp.after.max.ms", LONG, LONG_MAX, MEDIUM, "Reject CreateTime records this far ahead of the broker's clock.", Range(0)),
     (Synonym("log.message.timestamp.after.max.ms"),)),
    (d("message.timestamp.before.max.ms", LONG, LONG_MAX, MEDIUM, "Reject CreateTime records this far behind the broker's clock.", Range(0)),
     (Synonym("log.message.timestamp.before.max.ms"),)),
    (d("message.timestamp.difference.max.ms", LONG, LONG_MAX, MEDIUM, "Deprecated: both timestamp bounds at once.", Range(0)),
     (Synonym("log.message.timestamp.difference.max.ms"),)),
    (d("message.timestamp.type", STRING, "CreateTime", MEDIUM, "Store the producer's timestamp (CreateTime) or the append time.",
       OneOf(TIMESTAMP_TYPES)), (Synonym("log.message.timestamp.type"),)),
    (d("min.cleanable.dirty.ratio", DOUBLE, 0.5, MEDIUM, "Compact once this share of the log is dirty.", Range(0, 1)),
     (Synonym("log.cleaner.min.cleanable.ratio"),)),
    (d("min.compaction.lag.ms", LONG, 0, MEDIUM, "A record stays uncompacted at least this long.", Range(0)),
     (Synonym("log.cleaner.min.compaction.lag.ms"),)),
    (d("min.insync.replicas", INT, 1, MEDIUM, "In-sync replicas needed for an acks=all write.", Range(1)), (Synonym("min.insync.replicas"),)),
    (d("preallocate", BOOLEAN, False, MEDIUM, "Preallocate new segment files at full size; accepted, not applied: only index files are preallocated."), (Synonym("log.preallocate"),)),
    (d("remote.log.copy.disable", BOOLEAN, False, MEDIUM, "Stop copying segments to tiered storage."), ()),
    (d("remote.log.delete.on.disable", BOOLEAN, False, MEDIUM, "Delete tiered data when tiered storage is turned off."), ()),
    (d("remote.storage.enable", BOOLEAN, False, MEDIUM, "Tiered storage for this topic; kbroker has none, so only false is accepted."), ()),
    (d("retention.bytes", LONG, -1, MEDIUM, "Delete old segments while a partition is larger than this; -1 means no limit."),
     (Synonym("log.retention.bytes"),)),
    (d("retention.ms", LONG, WEEK_MS, MEDIUM, "Delete segments older than this; -1 keeps them forever.", Range(-1)),
     (Synonym("log.retention.ms", _retention(_same)), Synonym("log.retention.minutes", _retention(_minutes)),
      Synonym("log.retention.hours", _retention(_hours)))),
    (d("segment.bytes", INT, 1024 * 1024 * 1024, MEDIUM, "Roll a new segment at this size.", Range(MIN_SEGMENT_BYTES)),
     (Synonym("log.segment.bytes"),)),
    (d("segment.index.bytes", INT, 10 * 1024 * 1024, MEDIUM, "Size of a segment's offset index; a full index rolls the segment.", Range(4)),
     (Synonym("log.index.size.max.bytes"),)),
    (d("segment.jitter.ms", LONG, 0, MEDIUM, "Random jitter subtracted from segment.ms; accepted, not applied: rolls have no jitter (storage.md).", Range(0)),
     (Synonym("log.roll.jitter.ms"), Synonym("log.roll.jitter.hours", _hours))),
    (d("segment.ms", LONG, WEEK_MS, MEDIUM, "Roll a new segment after this long, so retention can delete old data.", Range(1)),
     (Synonym("log.roll.ms"), Synonym("log.roll.hours", _hours))),
    (d("unclean.leader.election.enable", BOOLEAN, False, MEDIUM, "Let an out-of-sync replica lead, losing data, rather than go offline."),
     (Synonym("unclean.leader.election.enable"),)),
)

TOPIC_CONFIGS: tuple[ConfigDef, ...] = tuple(defn for defn, _ in _TOPIC_TABLE)
TOPIC_SYNONYMS: dict[str, tuple[Synonym, ...]] = {defn.name: synonyms for defn, synonyms in _TOPIC_TABLE}
