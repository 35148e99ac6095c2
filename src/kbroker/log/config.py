"""The topic-level configs the log layer obeys, with Apache Kafka's names and defaults.

The broker's config module owns parsing and validation of every config; the log takes a plain
mapping of topic config names to values (ints or their string forms) and reads the ones it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from kproto.compression import Codec

LONG_MAX = 2**63 - 1  # Kafka's "never" for flush.messages and flush.ms, "unbounded" for timestamps
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"


@dataclass(frozen=True, slots=True)
class LogConfig:
    """One partition's effective settings; field names are Kafka's config names with underscores."""

    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 3600 * 1000  # -1: keep forever
    retention_bytes: int = -1  # -1: no size limit
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    max_message_bytes: int = 1024 * 1024 + 12  # 1 MiB of records plus the batch's log overhead
    message_timestamp_type: str = CREATE_TIME
    message_timestamp_before_max_ms: int = LONG_MAX  # LONG_MAX: no bound on CreateTime records' age
    message_timestamp_after_max_ms: int = LONG_MAX  # LONG_MAX: no bound on how far ahead they may be
    cleanup_policy: str = "delete"  # "delete", "compact" or "compact,delete"
    delete_retention_ms: int = 24 * 3600 * 1000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX
    min_insync_replicas: int = 1  # in a cluster: in-sync replicas an acks=all write needs
    compression_type: str = "producer"  # "producer" keeps each batch's own codec; else produced batches are rewritten
    compression_gzip_level: int = -1
    compression_lz4_level: int = 9
    compression_zstd_level: int = 3

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None) -> LogConfig:
        """Read the known keys ('segment.bytes', ...); absent keys keep Kafka's defaults."""
        values = values or {}
        chosen: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name.replace("_", ".")
            if values.get(name) is None:
                continue
            raw = values[name]
            if field.type == "str":
                chosen[field.name] = raw if isinstance(raw, str) else ",".join(raw)  # lists come as tuples
            else:
                chosen[field.name] = float(raw) if field.type == "float" else int(raw)
        return cls(**chosen)

    @property
    def compact(self) -> bool:
        """True when the cleaner keeps the last record per key (`compact` or `compact,delete`)."""
        return "compact" in self.cleanup_policy  # a substring test will do: the config takes no other words

    @property
    def delete(self) -> bool:
        """True when retention by time and size applies (`delete` or `compact,delete`)."""
        return "delete" in self.cleanup_policy

    @property
    def codec(self) -> Codec | None:
        """The codec compression.type names, that every batch is stored in; None for `producer`
        (each batch keeps the producer's)."""
        if self.compression_type == "producer":
            return None
        return Codec.NONE if self.compression_type == "uncompressed" else Codec[self.compression_type.upper()]

    @property
    def codec_level(self) -> int | None:
        """compression.<codec>.level of the topic's codec; None for a codec without levels."""
        return {Codec.GZIP: self.compression_gzip_level, Codec.LZ4: self.compression_lz4_level,
                Codec.ZSTD: self.compression_zstd_level}.get(self.codec)

    @property
    def log_append_time(self) -> bool:
        """True when the broker, not the producer, stamps record timestamps."""
        return self.message_timestamp_type == LOG_APPEND_TIME
