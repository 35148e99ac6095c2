"""Configs on groups (config resource type GROUP): Kafka 4.2's group-level keys, their checks,
and the overrides an operator set, kept in the data dir.

A group's setting is its own override, else the broker's `group.consumer.*` / `group.share.*`
value, else the key's default. An override is checked as Kafka's controller checks it: the whole
resulting set of the group, with the broker's values for the keys it leaves out, must parse, stay
within the broker's `group.*.min/max.*` bounds, and keep each session timeout above its heartbeat
interval; otherwise INVALID_CONFIG. Overrides may name a group that does not exist yet: that is
how `share.auto.offset.reset` is set before the first share consumer starts. The groups read
their settings through `GroupSettings` on every use, so a change applies at the next heartbeat,
acquisition or new share partition. Kafka's streams keys are not offered: kbroker serves no
streams groups.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from kbroker.admin.store import load_json, save_json
from kbroker.config import ConfigDef, ConfigEntry, ConfigError, ConfigSource, ConfigSynonym, ConfigType, Importance
from kbroker.config.definitions import Check, OneOf, Range

log = logging.getLogger("kbroker.groups")

GROUP_CONFIG_FILE = "kbroker-group-configs.json"
EARLIEST, LATEST, BY_DURATION = "earliest", "latest", "by_duration"
READ_COMMITTED, READ_UNCOMMITTED = "read_committed", "read_uncommitted"

# java.time.Duration.parse's grammar (PnDTnHnMn.nS), without the sign Kafka refuses
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:[.,](\d{0,9}))?S)?)?", re.IGNORECASE)


def duration_ms(text: str) -> int | None:
    """The milliseconds of an ISO-8601 duration as Java's Duration.parse reads it, or None."""
    match = _DURATION.fullmatch(text)
    if match is None or text.upper().endswith("T") or text.upper() == "P":
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    whole = ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)
    return whole * 1000 + int((fraction or "").ljust(3, "0")[:3])


def _reset_problem(value: str) -> str | None:
    kind, sep, rest = value.partition(":")
    if value in (EARLIEST, LATEST) or (sep and kind == BY_DURATION and duration_ms(rest) is not None):
        return None
    return (f"Invalid value `{value}` for configuration share.auto.offset.reset. The value must be either"
            " 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.")


def _key(name: str, kind: ConfigType, default: Any, doc: str, validator: Any) -> ConfigDef:
    return ConfigDef(name, kind, default, Importance.MEDIUM, doc, validator)


GROUP_DEFS: dict[str, ConfigDef] = {d.name: d for d in (
    _key("consumer.heartbeat.interval.ms", ConfigType.INT, 5000,
         "The heartbeat interval given to the members of this consumer group.", Range(1)),
    _key("consumer.session.timeout.ms", ConfigType.INT, 45000,
         "How long a member of this consumer group may go without heartbeating.", Range(1)),
    _key("share.auto.offset.reset", ConfigType.STRING, LATEST,
         "Where a new share partition of this share group starts: earliest, latest or by_duration:<ISO-8601>.",
         Check(_reset_problem, "[latest, earliest, by_duration:PnDTnHnMn.nS]")),
    _key("share.heartbeat.interval.ms", ConfigType.INT, 5000,
         "The heartbeat interval given to the members of this share group.", Range(1)),
    _key("share.isolation.level", ConfigType.STRING, READ_UNCOMMITTED,
         "read_committed delivers transactional records once committed; read_uncommitted delivers all.",
         OneOf((READ_COMMITTED, READ_UNCOMMITTED))),
    _key("share.record.lock.duration.ms", ConfigType.INT, 30000,
         "How long a member of this share group holds the records it acquired.", Range(1000)),
    _key("share.session.timeout.ms", ConfigType.INT, 45000,
         "How long a member of this share group may go without heartbeating.", Range(1)),
)}

#: the broker key that gives each group key its value where a group has no override
BROKER_DEFAULTS = {
    "consumer.heartbeat.interval.ms": "group.consumer.heartbeat.interval.ms",
    "consumer.session.timeout.ms": "group.consumer.session.timeout.ms",
    "share.heartbeat.interval.ms": "group.share.heartbeat.interval.ms",
    "share.record.lock.duration.ms": "group.share.record.lock.duration.ms",
    "share.session.timeout.ms": "group.share.session.timeout.ms",
}
#: group key -> (broker minimum key, broker maximum key)
BOUNDS = {
    "consumer.heartbeat.interval.ms": ("group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"),
    "consumer.session.timeout.ms": ("group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
    "share.heartbeat.interval.ms": ("group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
    "share.session.timeout.ms": ("group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
    "share.record.lock.duration.ms": ("group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"),
}
#: (session timeout key, heartbeat interval key): the first must stay above the second
_SESSIONS = (("consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"),
             ("share.session.timeout.ms", "share.heartbeat.interval.ms"))


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """One group's effective settings; each field is its key with the dots as underscores."""

    consumer_heartbeat_interval_ms: int = 5000
    consumer_session_timeout_ms: int = 45000
    share_auto_offset_reset: str = LATEST
    share_heartbeat_interval_ms: int = 5000
    share_isolation_level: str = READ_UNCOMMITTED
    share_record_lock_duration_ms: int = 30000
    share_session_timeout_ms: int = 45000

    def value(self, key: str) -> Any:
        return getattr(self, key.replace(".", "_"))

    def with_values(self, values: Mapping[str, Any]) -> GroupSettings:
        return dataclasses.replace(self, **{key.replace(".", "_"): value for key, value in values.items()})

    @classmethod
    def from_broker(cls, config: Mapping[str, Any]) -> GroupSettings:
        return cls().with_values({key: config[broker_key] for key, broker_key in BROKER_DEFAULTS.items()})

    @classmethod
    def of(cls, config: Any, share_config: Any) -> GroupSettings:
        """Every group's settings from the coordinator's GroupConfig and ShareConfig (no group configs)."""
        return cls(consumer_heartbeat_interval_ms=config.consumer_heartbeat_interval_ms,
                   consumer_session_timeout_ms=config.consumer_session_timeout_ms,
                   share_heartbeat_interval_ms=share_config.heartbeat_interval_ms,
                   share_record_lock_duration_ms=share_config.record_lock_duration_ms,
                   share_session_timeout_ms=share_config.session_timeout_ms)


class InvalidGroupConfig(Exception):
    """A group's overrides are refused; str() is Kafka's message (INVALID_CONFIG)."""


def check(overrides: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
    """The typed overrides, if the group's resulting settings pass Kafka's checks; else InvalidGroupConfig."""
    parsed = {}
    for key, raw in overrides.items():
        defn = GROUP_DEFS.get(key)
        if defn is None:
            raise InvalidGroupConfig(f"Unknown group config name: {key}")
        try:
            parsed[key] = defn.parse(raw)
        except ConfigError as exc:
            raise InvalidGroupConfig(exc.reason if key == "share.auto.offset.reset"
                                     else f"Invalid value {raw} for configuration {key}: {exc.reason}") from None
    values = {key: config[broker_key] for key, broker_key in BROKER_DEFAULTS.items()} | parsed
    for key, (low, high) in BOUNDS.items():
        if values[key] < config[low]:
            raise InvalidGroupConfig(f"{key} must be greater than or equal to {low}")
        if values[key] > config[high]:
            raise InvalidGroupConfig(f"{key} must be less than or equal to {high}")
    for session, heartbeat in _SESSIONS:
        if values[session] <= values[heartbeat]:
            raise InvalidGroupConfig(f"{session} must be greater than {heartbeat}")
    return parsed


class GroupConfigStore:
    """The operators' overrides of each group, in `kbroker-group-configs.json`, and each group's settings."""

    def __init__(self, directory: Path, config: Mapping[str, Any]) -> None:
        self.path = directory / GROUP_CONFIG_FILE
        self.config = config
        self.defaults = GroupSettings.from_broker(config)
        self._overrides: dict[str, dict[str, str]] = {}
        self._settings: dict[str, GroupSettings] = {}
        for group_id, overrides in load_json(self.path, {"version": 1, "groups": {}})["groups"].items():
            try:
                self._remember(group_id, overrides, check(overrides, config))
            except InvalidGroupConfig as exc:  # the broker's bounds may have moved since
                log.warning("ignoring the stored configs of group %s: %s", group_id, exc)

    def settings(self, group_id: str) -> GroupSettings:
        return self._settings.get(group_id, self.defaults)

    def overrides(self, group_id: str) -> dict[str, str]:
        return dict(self._overrides.get(group_id, {}))

    def replace(self, group_id: str, wanted: Mapping[str, str], validate_only: bool) -> None:
        """Make `wanted` the group's whole set of overrides; InvalidGroupConfig if Kafka would refuse it."""
        parsed = check(wanted, self.config)
        if validate_only:
            return
        self._remember(group_id, dict(wanted), parsed)
        save_json(self.path, {"version": 1, "groups": self._overrides})
        log.info("group %s configs now %s", group_id, dict(wanted))

    def _remember(self, group_id: str, overrides: dict[str, str], parsed: Mapping[str, Any]) -> None:
        if overrides:
            self._overrides[group_id] = overrides
            self._settings[group_id] = self.defaults.with_values(parsed)
        else:
            self._overrides.pop(group_id, None)
            self._settings.pop(group_id, None)

    def describe(self, group_id: str, keys: Iterable[str] | None) -> list[ConfigEntry]:
        """DescribeConfigs entries: every group key (or those named that exist), GROUP_CONFIG where
        the group set it, DEFAULT_CONFIG otherwise, as Kafka answers."""
        settings, own = self.settings(group_id), self._overrides.get(group_id, {})
        entries = []
        for name in GROUP_DEFS if keys is None else [k for k in dict.fromkeys(keys) if k in GROUP_DEFS]:
            defn = GROUP_DEFS[name]
            value = defn.render(settings.value(name))
            source = ConfigSource.GROUP_CONFIG if name in own else ConfigSource.DEFAULT_CONFIG
            entries.append(ConfigEntry(
                name=name, value=value, source=source, is_default=source is ConfigSource.DEFAULT_CONFIG,
                read_only=False, is_sensitive=False, synonyms=(ConfigSynonym(name, value, source),),
                config_type=defn.type, documentation=defn.doc))
        return entries
