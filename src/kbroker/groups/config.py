"""The coordinator's settings, read once from the broker's config (Kafka's key names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from kbroker.groups.assignors import assignor_name

#: Kafka's fixed limit for a new member to complete its first join: it holds no member id yet, so
#: it cannot heartbeat, and a client that gave up would otherwise leave a ghost in the rebalance.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class GroupConfig:
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    initial_rebalance_delay_ms: int = 3000
    max_size: int = 2**31 - 1
    offset_metadata_max_bytes: int = 4096
    offsets_retention_ms: int = 7 * 24 * 60 * 60 * 1000
    offsets_retention_check_interval_ms: int = 600_000
    new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS
    consumer_session_timeout_ms: int = 45000
    consumer_heartbeat_interval_ms: int = 5000
    consumer_max_size: int = 2**31 - 1
    #: short names (uniform, range); the first is the default of a group whose members name none
    consumer_assignors: tuple[str, ...] = ("uniform", "range")
    #: `group.consumer.migration.policy`: which way a group in use may change protocol
    migration_policy: str = "bidirectional"

    @property
    def upgrade_enabled(self) -> bool:
        """A classic group in use may become a consumer group when a KIP-848 member joins."""
        return self.migration_policy in ("bidirectional", "upgrade")

    @property
    def downgrade_enabled(self) -> bool:
        """A consumer group may become classic again when its last KIP-848 member goes."""
        return self.migration_policy in ("bidirectional", "downgrade")

    @classmethod
    def from_broker(cls, config: Mapping[str, Any]) -> GroupConfig:
        return cls(
            min_session_timeout_ms=config["group.min.session.timeout.ms"],
            max_session_timeout_ms=config["group.max.session.timeout.ms"],
            initial_rebalance_delay_ms=config["group.initial.rebalance.delay.ms"],
            max_size=config["group.max.size"],
            offset_metadata_max_bytes=config["offset.metadata.max.bytes"],
            offsets_retention_ms=config["offsets.retention.minutes"] * 60 * 1000,
            offsets_retention_check_interval_ms=config["offsets.retention.check.interval.ms"],
            consumer_session_timeout_ms=config["group.consumer.session.timeout.ms"],
            consumer_heartbeat_interval_ms=config["group.consumer.heartbeat.interval.ms"],
            consumer_max_size=config["group.consumer.max.size"],
            consumer_assignors=tuple(assignor_name(name) for name in config["group.consumer.assignors"]),
            migration_policy=str(config["group.consumer.migration.policy"]).strip().lower(),
        )
