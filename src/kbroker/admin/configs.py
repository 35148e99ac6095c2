"""Describing and changing topic, broker and group configs, with the rules Kafka's controller applies.

A topic's overrides live in the topic registry; a change reaches the partition logs at once. A
broker's dynamic settings come in two scopes, as in Kafka: this node (resource name = node id)
and the cluster default (resource name ""). They are kept in `kbroker-dynamic-configs.json` and
applied again at start, over server.properties, so an operator's change survives a restart.
A group's configs (single node only) are kept and checked by kbroker.groups.group_configs.
"""

from __future__ import annotations

import copy
import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol

from kproto import ErrorCode

from kbroker.admin.store import load_json, save_json
from kbroker.config import BROKER_DEFS, TOPIC_DEFS, BrokerConfig, ConfigEntry, ConfigError, ConfigType, UpdateMode
from kbroker.config.kafka_keys import LISTENER_PREFIX_ONLY
from kbroker.config.settings import broker_key_def, listener_key
from kbroker.groups.group_configs import GROUP_DEFS, GroupConfigStore, InvalidGroupConfig

if TYPE_CHECKING:
    from kbroker.cluster.topics import TopicRegistry
    from kbroker.log import LogManager

log = logging.getLogger("kbroker.admin")

DYNAMIC_CONFIG_FILE = "kbroker-dynamic-configs.json"


class ResourceType(enum.IntEnum):
    """ConfigResource.Type codes on the wire."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    GROUP = 32


class AlterOp(enum.IntEnum):
    """IncrementalAlterConfigs operations."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    op: AlterOp
    value: str | None


class Refused(Exception):
    """A resource-level failure: the error code and message its result carries."""

    def __init__(self, error: ErrorCode, message: str | None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


class DynamicBrokerConfigs:
    """This node's and the cluster default's dynamic settings, as the strings operators gave."""

    def __init__(self, directory: Path, config: BrokerConfig) -> None:
        self.path = directory / DYNAMIC_CONFIG_FILE
        self.config = config
        doc = load_json(self.path, {"version": 1, "broker": {}, "default": {}})
        self._values: dict[bool, dict[str, str]] = {True: {}, False: {}}
        for per_broker, scope in ((False, "default"), (True, "broker")):
            for key, value in doc[scope].items():
                try:
                    config.set_dynamic({key: value}, per_broker=per_broker)
                except ConfigError as exc:
                    log.warning("ignoring stored dynamic broker config: %s", exc)
                    continue
                self._values[per_broker][canonical_broker_key(key)] = value

    def values(self, per_broker: bool) -> dict[str, str]:
        return dict(self._values[per_broker])

    def replace(self, per_broker: bool, wanted: Mapping[str, str], validate_only: bool) -> None:
        """Make `wanted` the whole dynamic layer of this scope; ConfigError if a value is refused."""
        updates: dict[str, str | None] = {key: None for key in self._values[per_broker] if key not in wanted}
        updates.update(wanted)
        copy.deepcopy(self.config).set_dynamic(updates, per_broker=per_broker)
        if validate_only:
            return
        self.config.set_dynamic(updates, per_broker=per_broker)
        self._values[per_broker] = dict(wanted)
        save_json(self.path, {"version": 1, "broker": self._values[True], "default": self._values[False]})


class ConfigHost(Protocol):
    """What describing and changing configs asks of the node."""

    node_id: int
    config: BrokerConfig
    topics: TopicRegistry
    logs: LogManager
    dynamic_configs: DynamicBrokerConfigs
    group_configs: GroupConfigStore | None  # None in a cluster: group configs are a single node's

    def topic_config(self, name: str) -> dict[str, Any]: ...

    def set_topic_configs(self, name: str, overrides: dict[str, str]) -> None: ...


# -- which resource

def broker_scope(broker: ConfigHost, name: str) -> bool:
    """True for this node's own settings, False for the cluster default; Refused for another node."""
    if name == "":
        return False
    if name.strip().lstrip("-").isdigit() and int(name) == broker.node_id:
        return True
    raise Refused(ErrorCode.INVALID_REQUEST,
                  f"Unexpected broker id, expected {broker.node_id} or empty string, but received {name}")


def existing_topic(broker: ConfigHost, name: str) -> str:
    if name == "":
        raise Refused(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    if broker.topics.get(name) is None:
        raise Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic {name} does not exist.")
    return name


def group_store(broker: ConfigHost, name: str, empty_message: str) -> GroupConfigStore:
    if broker.group_configs is None:
        raise unsupported(ResourceType.GROUP)
    if name == "":
        raise Refused(ErrorCode.INVALID_REQUEST, empty_message)
    return broker.group_configs


def unsupported(resource_type: int) -> Refused:
    return Refused(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {resource_type}")


# -- describing

def describe(broker: ConfigHost, resource_type: int, name: str, keys: Iterable[str] | None) -> list[ConfigEntry]:
    """Entries of a topic or broker resource; names this broker does not know are left out, as Kafka does."""
    if resource_type == ResourceType.TOPIC:
        info = broker.topics.get(existing_topic(broker, name))
        wanted = None if keys is None else [k for k in dict.fromkeys(keys) if k in TOPIC_DEFS]
        return broker.config.describe_topic(info.configs, wanted)
    if resource_type == ResourceType.BROKER:
        per_broker = broker_scope(broker, name)
        wanted = None if keys is None else list(dict.fromkeys(canonical_broker_key(k) for k in keys if broker_key_def(k)))
        entries = broker.config.describe_broker(wanted, cluster_default=not per_broker)
        if per_broker:
            return entries
        defaults = broker.dynamic_configs.values(per_broker=False)
        return [entry for entry in entries if entry.name in defaults]
    if resource_type == ResourceType.GROUP:
        return group_store(broker, name, "Group name must not be empty").describe(name, keys)
    raise unsupported(resource_type)


# -- changing

def alter(broker: ConfigHost, resource_type: int, name: str, changes: list[Change], *, incremental: bool,
          validate_only: bool) -> None:
    """Apply one resource's changes: the whole override set (AlterConfigs) or operations on it."""
    if resource_type == ResourceType.BROKER:
        changes = [Change(canonical_broker_key(change.name), change.op, change.value) for change in changes]
    names = [change.name for change in changes]
    if len(set(names)) != len(names):
        raise Refused(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    if resource_type == ResourceType.TOPIC:
        topic = existing_topic(broker, name)
        current = dict(broker.topics.get(topic).configs)
        wanted = apply_changes(current, changes, TOPIC_DEFS, "topic") if incremental else replacement(changes, TOPIC_DEFS, "topic")
        set_topic_configs(broker, topic, wanted, validate_only)
    elif resource_type == ResourceType.BROKER:
        per_broker = broker_scope(broker, name)
        current = broker.dynamic_configs.values(per_broker)
        defs = BROKER_DEFS | {c.name: d for c in changes if c.name not in BROKER_DEFS and (d := broker_key_def(c.name))}
        wanted = apply_changes(current, changes, defs, "broker") if incremental else replacement(changes, defs, "broker")
        check_broker_keys(wanted, per_broker)
        try:
            broker.dynamic_configs.replace(per_broker, wanted, validate_only)
        except ConfigError as exc:
            raise Refused(ErrorCode.INVALID_REQUEST, f"Invalid config value for resource broker {name!r}: {exc}") from None
        if not validate_only:
            refresh_logs(broker, [info.name for info in broker.topics])
    elif resource_type == ResourceType.GROUP:
        store = group_store(broker, name, "Default group resources are not allowed.")
        if incremental:
            wanted = apply_changes(store.overrides(name), changes, GROUP_DEFS, "group")
        elif nulls := [change.name for change in changes if change.value is None]:
            raise Refused(ErrorCode.INVALID_CONFIG, f"Null value not supported for group configs: {','.join(nulls)}")
        else:
            wanted = replacement(changes, GROUP_DEFS, "group")
        try:
            store.replace(name, wanted, validate_only)
        except InvalidGroupConfig as exc:
            raise Refused(ErrorCode.INVALID_CONFIG, str(exc)) from None
    else:
        raise unsupported(resource_type)


def canonical_broker_key(key: str) -> str:
    """A listener.name.* key as Kafka spells it (listener and mechanism in lower case); others as given."""
    found = listener_key(key)
    return found[0] if found else key


def known(key: str, defs: Mapping, what: str) -> None:
    if key not in defs:
        raise Refused(ErrorCode.INVALID_CONFIG, f"Unknown {what} config name: {key}")


def replacement(changes: list[Change], defs: Mapping, what: str) -> dict[str, str]:
    """AlterConfigs: the given values become the whole set; a null value just leaves the key out."""
    for change in changes:
        known(change.name, defs, what)
    return {change.name: change.value for change in changes if change.value is not None}


def apply_changes(current: dict[str, str], changes: list[Change], defs: Mapping, what: str) -> dict[str, str]:
    """IncrementalAlterConfigs: SET and DELETE one key; APPEND and SUBTRACT items of a list key,
    starting from the key's default when it has no value of its own, as Kafka does."""
    result = dict(current)
    for change in changes:
        known(change.name, defs, what)
        defn = defs[change.name]
        if change.op == AlterOp.DELETE:
            result.pop(change.name, None)
            continue
        if change.value is None:
            raise Refused(ErrorCode.INVALID_REQUEST, f"Null value not supported for {what} config {change.name}")
        if change.op == AlterOp.SET:
            result[change.name] = change.value
            continue
        if defn.type is not ConfigType.LIST:
            verb = "append" if change.op == AlterOp.APPEND else "subtract"
            raise Refused(ErrorCode.INVALID_REQUEST, f"Config value {verb} is not allowed for config key: {change.name}")
        base = result.get(change.name)
        items = split_list(base if base is not None else defn.render(defn.default) or "")
        given = split_list(change.value)
        items = items + given if change.op == AlterOp.APPEND else [item for item in items if item not in given]
        result[change.name] = ",".join(dict.fromkeys(items))
    return result


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def check_broker_keys(wanted: Mapping[str, str], per_broker: bool) -> None:
    """Read-only keys need a restart, key stores a listener prefix and per-broker keys a node:
    INVALID_REQUEST, as Kafka answers."""
    for key in wanted:
        if listener_key(key) is not None:  # what a listener's keys may take, set_dynamic says
            continue
        mode = BROKER_DEFS[key].mode
        if mode is UpdateMode.READ_ONLY:
            raise Refused(ErrorCode.INVALID_REQUEST, f"Cannot update these configs dynamically: {{{key}}}")
        if key in LISTENER_PREFIX_ONLY:
            raise Refused(ErrorCode.INVALID_REQUEST,
                          f"These security configs can be dynamically updated only per-listener using the listener prefix: {{{key}}}")
        if mode is UpdateMode.PER_BROKER and not per_broker:
            raise Refused(ErrorCode.INVALID_REQUEST,
                          f"Cannot update these configs at default cluster level, broker id must be specified: {{{key}}}")


def set_topic_configs(broker: ConfigHost, topic: str, wanted: dict[str, str], validate_only: bool) -> None:
    try:
        broker.config.validate_topic_overrides(wanted)
    except ConfigError as exc:
        raise Refused(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if validate_only:
        return
    broker.set_topic_configs(topic, wanted)
    log.info("topic %s configs now %s", topic, wanted)


def refresh_logs(broker: ConfigHost, topics: Iterable[str]) -> None:
    """Hand open partition logs their new effective settings (segment size, retention, flush...)."""
    for name in topics:
        info = broker.topics.get(name)
        effective = broker.topic_config(name)
        for index in range(info.partitions):
            if broker.logs.get(name, index) is not None:  # in a cluster, only the replicas this broker holds
                broker.logs.open(name, index, info.topic_id, effective)
