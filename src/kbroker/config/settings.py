"""The broker's effective configuration: typed values, their sources, topic resolution, describing.

Values live in layers, as in Kafka: per-broker dynamic > cluster-default dynamic > static (the
dev profile, server.properties, environment, --set) > code default. `BrokerConfig` answers
with the first layer that has a key; topics add their own overrides on top, reached through the
synonyms in topic.py.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from kbroker.config.broker import (
    BROKER_CONFIGS, DEV_PROFILE, IGNORED_KEYS, IGNORED_PREFIXES, LONG_MAX, SASL_MECHANISMS, parse_listeners,
    parse_protocol_map,
)
from kbroker.config.definitions import ConfigDef, ConfigError, ConfigSource, ConfigType, UpdateMode
from kbroker.config.kafka_keys import KAFKA_ONLY_CONFIGS
from kbroker.config.properties import config_from_env, read_properties_file
from kbroker.config.topic import TOPIC_CONFIGS, TOPIC_SYNONYMS

log = logging.getLogger("kbroker.config")

# Keys kbroker acts on, then Kafka's keys for features kbroker lacks (a key in both: broker.py's wins).
BROKER_DEFS: dict[str, ConfigDef] = {defn.name: defn for defn in (*KAFKA_ONLY_CONFIGS, *BROKER_CONFIGS)}
_INERT_KEYS = frozenset(BROKER_DEFS) - {defn.name for defn in BROKER_CONFIGS}
TOPIC_DEFS: dict[str, ConfigDef] = {defn.name: defn for defn in TOPIC_CONFIGS}
_CODE_DEFAULTS: dict[str, Any] = {name: defn.default for name, defn in BROKER_DEFS.items() if defn.default is not None}

# Broker keys that spell one setting in several units, first wins (Kafka's brokerConfigSynonyms).
# log.flush.scheduler.interval.ms stands in for log.flush.interval.ms, but not the other way round.
_ROLL = ("log.roll.ms", "log.roll.hours")
_JITTER = ("log.roll.jitter.ms", "log.roll.jitter.hours")
_RETENTION = ("log.retention.ms", "log.retention.minutes", "log.retention.hours")
_BROKER_SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_ROLL, _ROLL), **dict.fromkeys(_JITTER, _JITTER), **dict.fromkeys(_RETENTION, _RETENTION),
    "log.flush.interval.ms": ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
}
# Keys naming the same setting: a value set under one name in a higher layer hides the dev
# profile's value under the other, so a file with log.dir or broker.id still means what it says.
_SAME_SETTING = {"log.dir": "log.dirs", "broker.id": "node.id"}


# listener.name.<listener>.[<sasl mechanism>.]<key>: a key for one listener, or one mechanism on it.
_LISTENER_PREFIX = "listener.name."
# The keys of one listener that AlterConfigs may change, for one broker or as the cluster default:
# the connection quotas, applied at each accept, and Kafka's network thread count (kbroker has none).
DYNAMIC_LISTENER_KEYS = frozenset({"max.connections", "max.connection.creation.rate", "num.network.threads"})
_CONNECTION_QUOTAS = frozenset({"max.connections", "max.connection.creation.rate"})  # above 0 on a listener
# The keys a listener may also set for one SASL mechanism: listener.name.<l>.<mechanism>.<key>.
_MECHANISM_KEYS = frozenset({"sasl.jaas.config", "sasl.login.callback.handler.class", "sasl.login.class",
                             "sasl.server.callback.handler.class", "connections.max.reauth.ms"})


def listener_key(key: str) -> tuple[str, str] | None:
    """(canonical name, broker key) of listener.name.<l>.[<mechanism>.]<key> naming a broker key,
    the listener and mechanism in lower case as Kafka spells them; None for any other key."""
    if not key.startswith(_LISTENER_PREFIX):
        return None
    listener, _, rest = key[len(_LISTENER_PREFIX):].partition(".")
    mechanism, _, base = rest.partition(".")
    if not listener:
        return None
    if rest in BROKER_DEFS:
        return f"{_LISTENER_PREFIX}{listener.lower()}.{rest}", rest
    if mechanism.upper() in SASL_MECHANISMS and base in _MECHANISM_KEYS:
        return f"{_LISTENER_PREFIX}{listener.lower()}.{mechanism.lower()}.{base}", base
    return None


def broker_key_def(key: str) -> ConfigDef | None:
    """The definition of a broker key, or of the key a listener.name.* key sets for one listener."""
    found = listener_key(key)
    return BROKER_DEFS[found[1]] if found else BROKER_DEFS.get(key)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listener: its name, its security protocol and the address it binds (empty host: all)."""

    name: str
    protocol: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    """One place a described value could come from, highest precedence first."""

    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """A DescribeConfigs entry: value rendered as Kafka renders it (None when sensitive or unset)."""

    name: str
    value: str | None
    source: ConfigSource
    is_default: bool
    read_only: bool
    is_sensitive: bool
    synonyms: tuple[ConfigSynonym, ...]
    config_type: ConfigType
    documentation: str

    @property
    def sensitive(self) -> bool:
        """Short name used by the CreateTopics handler."""
        return self.is_sensitive


def _unknown(key: str, known: Iterable[str], what: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    return ConfigError(key, f"unknown {what} config" + (f"; did you mean {close[0]}?" if close else ""))


def _is_ignored(key: str) -> bool:
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def _canonical_key(key: str) -> str:
    """Match a key case-insensitively, since environment variables lose case (zookeeper.clientCnxnSocket)."""
    if key in BROKER_DEFS:
        return key
    lowered = {name.lower(): name for name in BROKER_DEFS}
    return lowered.get(key.lower(), key)


class BrokerConfig(Mapping[str, Any]):
    """Typed broker settings: `config["num.partitions"]`, `config.num_partitions`, and derived views."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        self._static: dict[str, Any] = {}
        self._dynamic_broker: dict[str, Any] = {}
        self._dynamic_default: dict[str, Any] = {}
        self.ignored: dict[str, str] = {}  # listener.name.* keys are kept in the layers under their canonical names
        for key, raw in (static or {}).items():
            key = _canonical_key(key.strip())
            if key.startswith(_LISTENER_PREFIX) and self._set_per_listener(key, raw):
                continue
            if key in BROKER_DEFS:
                self._static[key] = BROKER_DEFS[key].parse(raw)
                if key in _INERT_KEYS:
                    log.warning("%s is a Kafka setting for a feature kbroker lacks; it has no effect", key)
            elif _is_ignored(key):
                log.warning("%s is a Kafka setting kbroker ignores", key)
                self.ignored[key] = str(raw)
            else:
                raise _unknown(key, BROKER_DEFS, "broker")
        for first, second in (("node.id", "broker.id"), ("broker.id", "node.id")):
            if first in self._static and second not in self._static:
                self._static[second] = self._static[first]
        self._check_together()

    def _set_per_listener(self, key: str, raw: Any) -> bool:
        """Keep listener.name.<l>.<key> typed; False for a key kbroker does not know (it is ignored)."""
        found = listener_key(key)
        if found is None:
            return False
        try:
            self._static[found[0]] = BROKER_DEFS[found[1]].parse(raw)
        except ConfigError as exc:
            raise ConfigError(key, exc.reason) from None
        return True

    def for_listener(self, listener: str, key: str, mechanism: str | None = None) -> Any:
        """`key` on one listener: listener.name.<l>.<mechanism>.<key>, listener.name.<l>.<key> (each
        in any layer: a listener's value beats the broker's, as in Kafka), then the broker's."""
        return self[self.listener_key_name(listener, key, mechanism)]

    def listener_key_name(self, listener: str, key: str, mechanism: str | None = None) -> str:
        """The name under which `key` is set for `listener`, as an error about its value should say it."""
        prefix = f"{_LISTENER_PREFIX}{listener.lower()}."
        candidates = ([f"{prefix}{mechanism.lower()}.{key}"] if mechanism else []) + [prefix + key]
        return next((name for name in candidates if any(name in layer for layer, _ in self._layers())), key)

    # -- mapping access

    def __getitem__(self, key: str) -> Any:
        for layer in (self._dynamic_broker, self._dynamic_default, self._static):
            if key in layer:
                return layer[key]
        return BROKER_DEFS[key].default

    def __iter__(self) -> Iterator[str]:
        return iter(BROKER_DEFS)

    def __len__(self) -> int:
        return len(BROKER_DEFS)

    def __getattr__(self, name: str) -> Any:
        """`config.log_retention_check_interval_ms` is `config["log.retention.check.interval.ms"]`."""
        key = name.replace("_", ".")
        if key in BROKER_DEFS:
            return self[key]
        raise AttributeError(name)

    def source(self, key: str) -> ConfigSource:
        """Which layer the value of `key` comes from."""
        for layer, source in self._layers():
            if key in layer:
                return source
        return ConfigSource.DEFAULT_CONFIG

    def _layers(self) -> tuple[tuple[dict[str, Any], ConfigSource], ...]:
        return ((self._dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
                (self._dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
                (self._static, ConfigSource.STATIC_BROKER_CONFIG))

    # -- derived views

    @property
    def node_id(self) -> int:
        return self["node.id"]

    @property
    def log_dirs(self) -> list[str]:
        """log.dirs, else log.dir, split on commas as Kafka does."""
        text = self["log.dirs"] if self["log.dirs"] is not None else self["log.dir"]
        return [part.strip() for part in text.split(",") if part.strip()]

    @property
    def listeners(self) -> list[tuple[str, str, int]]:
        """(name, host, port) of each listener; an empty host means every interface."""
        return parse_listeners(self["listeners"])

    @property
    def listener(self) -> tuple[str, int]:
        """(host, port) of the first listener."""
        _, host, port = self.listeners[0]
        return host, port

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every listener with its security protocol, in the order `listeners` names them."""
        protocols = parse_protocol_map(self["listener.security.protocol.map"])
        return [Endpoint(name, protocols[name], host, port) for name, host, port in self.listeners]

    @property
    def inter_broker_listener(self) -> str | None:
        """The listener brokers reach each other on: inter.broker.listener.name, else the first listener
        of security.inter.broker.protocol; None when there is none."""
        if self["inter.broker.listener.name"]:
            return self["inter.broker.listener.name"].upper()
        return next((e.name for e in self.endpoints if e.protocol == self["security.inter.broker.protocol"]), None)

    @property
    def advertised_listeners(self) -> list[tuple[str, str, int]]:
        """What metadata tells clients: advertised.listeners, else the listeners with a real host name."""
        if self["advertised.listeners"] is not None:
            return parse_listeners(self["advertised.listeners"])
        return [(name, host or socket.getfqdn(), port) for name, host, port in self.listeners]

    @property
    def advertised_listener(self) -> tuple[str, int]:
        """(host, port) advertised for the first listener; port 0 means 'the port actually bound'."""
        return self.advertised_endpoint(self.listeners[0][0])

    def advertised_endpoint(self, name: str) -> tuple[str, int]:
        """(host, port) advertised for listener `name`: its advertised.listeners entry, else its own address."""
        entries = self.advertised_listeners
        found = next((entry for entry in entries if entry[0] == name), None)
        if found is None:  # advertised.listeners leaves this listener out: Kafka advertises it as it binds
            found = next(entry for entry in self.listeners if entry[0] == name)
            return found[1] or socket.getfqdn(), found[2]
        return found[1], found[2]

    @property
    def socket_request_max_bytes(self) -> int:
        return self["socket.request.max.bytes"]

    # -- checks across keys

    def _check_together(self) -> None:
        """Rules Kafka applies to combinations of keys at startup."""
        if self["node.id"] != self["broker.id"]:
            raise ConfigError("node.id", f"value {self['node.id']} differs from broker.id {self['broker.id']}; they name one setting")
        if not self.log_dirs:
            raise ConfigError("log.dirs", "no log directory given")
        listeners = self.listeners
        if not listeners:
            raise ConfigError("listeners", "no listener given")
        names = [name for name, _, _ in listeners]
        if len(set(names)) != len(names):
            raise ConfigError("listeners", "each listener must have a different name")
        protocols = parse_protocol_map(self["listener.security.protocol.map"])
        missing = [name for name in names if name not in protocols]
        if missing:
            raise ConfigError("listener.security.protocol.map", f"no security protocol for listener {missing[0]}")
        if self["zookeeper.connect"]:
            self._check_inter_broker_listener(names)
        if self["max.connections.per.ip"] == 0 and not self["max.connections.per.ip.overrides"]:
            raise ConfigError("max.connections.per.ip", "can be 0 only if max.connections.per.ip.overrides is set")
        for name, host, _ in self.advertised_listeners:
            if name not in names:
                raise ConfigError("advertised.listeners", f"listener {name} is not among the listeners")
            if host in ("0.0.0.0", "::"):
                raise ConfigError("advertised.listeners", f"cannot advertise the non-routable address {host}; "
                                  "set advertised.listeners to an address clients can reach")
        for low, mid, high in (("group.consumer.min.session.timeout.ms", "group.consumer.session.timeout.ms",
                                "group.consumer.max.session.timeout.ms"),
                               ("group.consumer.min.heartbeat.interval.ms", "group.consumer.heartbeat.interval.ms",
                                "group.consumer.max.heartbeat.interval.ms"),
                               ("group.share.min.session.timeout.ms", "group.share.session.timeout.ms",
                                "group.share.max.session.timeout.ms"),
                               ("group.share.min.heartbeat.interval.ms", "group.share.heartbeat.interval.ms",
                                "group.share.max.heartbeat.interval.ms"),
                               ("group.share.min.record.lock.duration.ms", "group.share.record.lock.duration.ms",
                                "group.share.max.record.lock.duration.ms")):
            if not self[low] <= self[mid] <= self[high]:
                raise ConfigError(mid, f"value {self[mid]} must lie between {low} ({self[low]}) and {high} ({self[high]})")
        if self["group.consumer.heartbeat.interval.ms"] >= self["group.consumer.session.timeout.ms"]:
            raise ConfigError("group.consumer.heartbeat.interval.ms", "must be less than group.consumer.session.timeout.ms")
        if self["log.cleaner.min.compaction.lag.ms"] > self["log.cleaner.max.compaction.lag.ms"]:
            raise ConfigError("log.cleaner.min.compaction.lag.ms", "must not exceed log.cleaner.max.compaction.lag.ms")

    def _check_inter_broker_listener(self, names: list[str]) -> None:
        """A cluster's brokers replicate over one of the listeners, logging in there, when it is a
        SASL one, with a mechanism it enables, as Kafka requires."""
        name = self.inter_broker_listener
        if name is None or name not in names:
            raise ConfigError("inter.broker.listener.name", "brokers need a listener to reach each other: name one of "
                              f"{', '.join(names)}, or add a {self['security.inter.broker.protocol']} listener")
        endpoint = next(e for e in self.endpoints if e.name == name)
        mechanism = self["sasl.mechanism.inter.broker.protocol"].upper()
        enabled = [m.strip().upper() for m in self.for_listener(name, "sasl.enabled.mechanisms")]
        if endpoint.sasl and mechanism not in enabled:
            raise ConfigError("sasl.mechanism.inter.broker.protocol", f"{mechanism} must be included in "
                              f"{self.listener_key_name(name, 'sasl.enabled.mechanisms')} when SASL is used for "
                              "inter-broker communication")

    # -- dynamic updates (AlterConfigs / IncrementalAlterConfigs on a broker resource)

    def set_dynamic(self, updates: Mapping[str, Any], *, per_broker: bool) -> None:
        """Apply dynamic broker settings (None removes one) for this broker or as the cluster default.

        All updates are checked before any is applied, so a refused request changes nothing.
        """
        parsed = {}
        for key, raw in updates.items():
            found = listener_key(key)
            if found is not None:
                if found[1] not in DYNAMIC_LISTENER_KEYS:
                    raise ConfigError(key, "cannot be updated dynamically; set it in server.properties and restart")
                try:
                    parsed[found[0]] = None if raw is None else BROKER_DEFS[found[1]].parse(raw)
                except ConfigError as exc:
                    raise ConfigError(key, exc.reason) from None
                listener = found[0].split(".")[2].upper()
                if (found[1] in _CONNECTION_QUOTAS and parsed[found[0]] is not None and parsed[found[0]] <= 0
                        and any(endpoint.name == listener for endpoint in self.endpoints)):
                    raise ConfigError(key, f"must be above 0 for an existing listener, got {raw}")  # as Kafka's listener quota
                continue
            defn = BROKER_DEFS.get(key)
            if defn is None:
                raise _unknown(key, BROKER_DEFS, "broker")
            if defn.mode is UpdateMode.READ_ONLY:
                raise ConfigError(key, "cannot be updated dynamically; set it in server.properties and restart")
            if defn.mode is UpdateMode.PER_BROKER and not per_broker:
                raise ConfigError(key, "can only be set for one broker, not as a cluster default")
            parsed[key] = None if raw is None else defn.parse(raw)
        layer = self._dynamic_broker if per_broker else self._dynamic_default
        before = dict(layer)
        for key, value in parsed.items():
            if value is None:
                layer.pop(key, None)
            else:
                layer[key] = value
        try:
            self._check_together()
        except ConfigError:
            layer.clear()
            layer.update(before)
            raise

    # -- topics

    def validate_topic_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Check a topic's overrides (CreateTopics, AlterConfigs): typed values, or ConfigError for INVALID_CONFIG."""
        parsed = {}
        for key, raw in overrides.items():
            defn = TOPIC_DEFS.get(key)
            if defn is None:
                raise _unknown(key, TOPIC_DEFS, "topic")
            parsed[key] = defn.parse(raw)
        if parsed.get("remote.storage.enable"):
            raise ConfigError("remote.storage.enable", "tiered storage is disabled in this broker (kbroker has none)")
        effective = self._resolve_topic(parsed)
        if effective["min.compaction.lag.ms"] > effective["max.compaction.lag.ms"]:
            raise ConfigError("min.compaction.lag.ms", f"value {effective['min.compaction.lag.ms']} is above "
                              f"max.compaction.lag.ms ({effective['max.compaction.lag.ms']})")
        return parsed

    def topic_config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every topic key's effective typed value, for the log layer.

        The deprecated message.timestamp.difference.max.ms stands in for an unset before/after
        bound, as Kafka does while both exist.
        """
        effective = self._resolve_topic(self.validate_topic_overrides(overrides or {}))
        difference = effective["message.timestamp.difference.max.ms"]
        for key in ("message.timestamp.before.max.ms", "message.timestamp.after.max.ms"):
            if effective[key] == LONG_MAX:
                effective[key] = difference
        return effective

    def _resolve_topic(self, parsed: Mapping[str, Any]) -> dict[str, Any]:
        return {name: parsed[name] if name in parsed else self._topic_default(name) for name in TOPIC_DEFS}

    def _topic_default(self, name: str) -> Any:
        """The broker's value for a topic key: the first synonym with a value, else the topic default."""
        for synonym in TOPIC_SYNONYMS[name]:
            value = self[synonym.broker_key]
            if value is not None:
                return synonym.convert(value)
        return TOPIC_DEFS[name].default

    # -- describing

    def describe_topic(self, overrides: Mapping[str, Any] | None = None,
                       keys: Iterable[str] | None = None) -> list[ConfigEntry]:
        """DescribeConfigs entries of a topic with these overrides (all keys, or those named)."""
        parsed = self.validate_topic_overrides(overrides or {})
        effective = self._resolve_topic(parsed)
        entries = []
        for name in keys if keys is not None else TOPIC_DEFS:
            defn = TOPIC_DEFS[name]
            broker_keys = TOPIC_SYNONYMS[name]
            synonyms = self._synonyms(broker_keys[0].broker_key, defn.sensitive) if broker_keys else []
            if name in parsed:
                synonyms.insert(0, ConfigSynonym(name, defn.render(parsed[name]), ConfigSource.DYNAMIC_TOPIC_CONFIG))
            entries.append(self._entry(name, defn, effective[name], synonyms, read_only=False))
        return entries

    def describe_broker(self, keys: Iterable[str] | None = None, *, cluster_default: bool = False) -> list[ConfigEntry]:
        """DescribeConfigs entries of this broker, or of the cluster default (resource name '')."""
        set_for_listeners = sorted({key for layer, _ in self._layers() for key in layer if listener_key(key)})
        entries = []
        for name in keys if keys is not None else [*BROKER_DEFS, *set_for_listeners]:
            defn = broker_key_def(name)
            if defn is None or defn.internal and not any(name in layer for layer, _ in self._layers()):
                continue
            if name not in BROKER_DEFS and name not in set_for_listeners:  # a listener's key set nowhere
                continue
            synonyms = self._synonyms(name, defn.sensitive)
            if cluster_default:
                synonyms = [s for s in synonyms if s.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
                value = self._dynamic_default.get(name)
            else:
                value = self[name]
            # Kafka calls a listener's key read-only in its answer, even the ones it lets change.
            read_only = defn.mode is UpdateMode.READ_ONLY or name not in BROKER_DEFS
            entries.append(self._entry(name, defn, value, synonyms, read_only=read_only))
        return entries

    def _synonyms(self, name: str, sensitive: bool) -> list[ConfigSynonym]:
        """Kafka's synonyms of broker key `name`: each spelling of the setting (a listener's key, then
        the broker key it stands for) in the dynamic broker layer, then the cluster default, static
        and code defaults; those before the first value of `name` itself are dropped, so an unset
        log.retention.ms lists none, as in Kafka."""
        found = listener_key(name)
        spellings = (name, found[1]) if found else _BROKER_SYNONYMS.get(name, (name,))
        synonyms = []
        for layer, source in self._layers() + ((_CODE_DEFAULTS, ConfigSource.DEFAULT_CONFIG),):
            for key in spellings:
                if key in layer:
                    value = None if sensitive else broker_key_def(key).render(layer[key])
                    synonyms.append(ConfigSynonym(key, value, source))
        return list(itertools.dropwhile(lambda synonym: synonym.name != name, synonyms))

    @staticmethod
    def _entry(name: str, defn: ConfigDef, value: Any, synonyms: list[ConfigSynonym], *,
               read_only: bool) -> ConfigEntry:
        source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
        return ConfigEntry(
            name=name, value=None if defn.sensitive else defn.render(value), source=source,
            is_default=source is ConfigSource.DEFAULT_CONFIG, read_only=read_only, is_sensitive=defn.sensitive,
            synonyms=tuple(synonyms), config_type=defn.type, documentation=defn.doc)


def load_broker_config(config_file: str | Path | None = None, overrides: Mapping[str, str] | None = None,
                       listen: str | None = None, data_dir: str | None = None,
                       environ: Mapping[str, str] | None = None, dev_profile: bool = True) -> BrokerConfig:
    """Build the broker's config: dev profile < file < environment < --listen/--data-dir < --set.

    `environ` defaults to os.environ; tests pass their own. A ConfigError names the key and
    where the bad value came from (file, environment variable, option or dev profile).
    """
    layers: list[tuple[str, Mapping[str, str]]] = []
    if config_file is not None:
        layers.append((str(config_file), read_properties_file(config_file)))
    for key, (value, variable) in config_from_env(os.environ if environ is None else environ).items():
        layers.append((f"environment variable {variable}", {key: value}))
    shorthands = {}
    if listen is not None:
        shorthands["listeners"] = f"PLAINTEXT://{listen}"
    if data_dir is not None:
        shorthands["log.dirs"] = data_dir
    clash = next((key for key in shorthands if key in (overrides or {})), None)
    if clash:
        raise ConfigError(clash, "given both by --set and by its shorthand option (--listen or --data-dir)")
    layers.append(("command line", shorthands))
    layers.append(("--set", dict(overrides or {})))

    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    if dev_profile:
        set_later = {_canonical_key(k.strip()) for _, values in layers for k in values}
        for key, value in DEV_PROFILE.items():
            if key not in set_later and not any(_SAME_SETTING.get(k) == key for k in set_later):
                merged[key], origin[key] = value, "the dev profile"
    for where, values in layers:
        for key, value in values.items():
            key = _canonical_key(key.strip())
            merged[key], origin[key] = value, where
    try:
        return BrokerConfig(merged)
    except ConfigError as exc:
        where = origin.get(exc.key)
        raise ConfigError(exc.key, f"{exc.reason} (from {where})" if where else exc.reason) from None

