"""What a config key is: its type, default, validator, importance, update mode and one-line doc.

The broker and topic tables (broker.py, topic.py) are lists of `ConfigDef`; everything else —
parsing, validation, DescribeConfigs entries, docs/configuration.md — is derived from them, so a
key is described in exactly one place. Types and parsing follow Kafka's ConfigDef: values are
trimmed, booleans are true/false in any case, numbers are plain decimal within the Java type's range.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1


class ConfigError(ValueError):
    """A config key is unknown or its value is bad; str() is one line that names the key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class ConfigType(enum.Enum):
    """Kafka's ConfigDef.Type; `code` is the DescribeConfigs config_type (KIP-569)."""

    BOOLEAN = ("boolean", 1)
    STRING = ("string", 2)
    INT = ("int", 3)
    SHORT = ("short", 4)
    LONG = ("long", 5)
    DOUBLE = ("double", 6)
    LIST = ("list", 7)
    CLASS = ("class", 8)
    PASSWORD = ("password", 9)

    def __init__(self, label: str, code: int) -> None:
        self.label = label
        self.code = code


class Importance(enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class UpdateMode(enum.Enum):
    """How Kafka lets a broker key change at run time (DynamicBrokerConfig's classification)."""

    READ_ONLY = "read-only"
    PER_BROKER = "per-broker"
    CLUSTER_WIDE = "cluster-wide"


class ConfigSource(enum.IntEnum):
    """Where a described value came from: DescribeConfigs' config_source codes."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


class Password:
    """A secret value; its repr never shows it, so it cannot leak into logs."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[hidden]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass(frozen=True, slots=True)
class Range:
    """Kafka's Range.atLeast / Range.between, inclusive; None means unbounded on that side."""

    low: float | None = None
    high: float | None = None

    def check(self, value: Any) -> str | None:
        if self.low is not None and value < self.low:
            return f"value {format_value(value)} is below the minimum {format_value(self.low)}"
        if self.high is not None and value > self.high:
            return f"value {format_value(value)} is above the maximum {format_value(self.high)}"
        return None

    def describe(self) -> str:
        if self.high is None:
            return f"[{format_value(self.low)},...]"
        return f"[{format_value(self.low)},...,{format_value(self.high)}]"


@dataclass(frozen=True, slots=True)
class OneOf:
    """Kafka's ValidString.in (case-sensitive) and, for lists, ValidList.in: every item allowed."""

    choices: tuple[str, ...]

    def check(self, value: Any) -> str | None:
        for item in value if isinstance(value, tuple) else (value,):
            if item not in self.choices:
                return f"value {item!r} is not one of {', '.join(self.choices)}"
        return None

    def describe(self) -> str:
        return ", ".join(self.choices)


@dataclass(frozen=True, slots=True)
class Check:
    """A validator written as a function returning a reason, or None when the value is fine."""

    function: Callable[[Any], str | None]
    description: str

    def check(self, value: Any) -> str | None:
        return self.function(value)

    def describe(self) -> str:
        return self.description


Validator = Range | OneOf | Check


@dataclass(frozen=True, slots=True)
class ConfigDef:
    """One key. `default` is already typed (None: no default); `doc` is one line of our own.
    An `internal` key (Kafka's internalConfig) is described only where a value was set."""

    name: str
    type: ConfigType
    default: Any
    importance: Importance
    doc: str
    validator: Validator | None = None
    mode: UpdateMode = UpdateMode.READ_ONLY
    internal: bool = False

    @property
    def sensitive(self) -> bool:
        return self.type is ConfigType.PASSWORD

    def parse(self, raw: Any) -> Any:
        """Turn a string (or an already typed value) into this key's typed value, or raise ConfigError."""
        value = raw if raw is None else _convert(self, raw)
        if value is not None and self.validator is not None:
            reason = self.validator.check(value)
            if reason:
                raise ConfigError(self.name, reason)
        return value

    def render(self, value: Any) -> str | None:
        """The value as Kafka writes it in DescribeConfigs and in properties files."""
        return None if value is None else format_value(value)


_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[dDfF]?", re.ASCII)
_INTEGER_BOUNDS = {ConfigType.SHORT: 2**15, ConfigType.INT: 2**31, ConfigType.LONG: 2**63}
_ARTICLE = {ConfigType.INT: "an int", ConfigType.SHORT: "a short", ConfigType.LONG: "a long",
            ConfigType.DOUBLE: "a double", ConfigType.BOOLEAN: "a boolean (true or false)"}


def _convert(defn: ConfigDef, raw: Any) -> Any:
    kind = defn.type
    if not isinstance(raw, str):
        return _check_typed(defn, raw)
    text = raw if kind is ConfigType.PASSWORD else raw.strip()
    if kind is ConfigType.BOOLEAN:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif kind in _INTEGER_BOUNDS:
        bound = _INTEGER_BOUNDS[kind]
        if _INTEGER.fullmatch(text) and -bound <= int(text) < bound:
            return int(text)
    elif kind is ConfigType.DOUBLE:
        if _DOUBLE.fullmatch(text):
            return float(text.rstrip("dDfF").replace("Infinity", "inf"))
    elif kind is ConfigType.LIST:
        return tuple(item.strip() for item in text.split(",")) if text else ()
    elif kind is ConfigType.PASSWORD:
        return Password(text)
    else:
        return text
    raise ConfigError(defn.name, f"value {raw!r} is not {_ARTICLE[kind]}")


def _check_typed(defn: ConfigDef, value: Any) -> Any:
    """Accept Python values of the right type (from code and tests), so callers need not stringify."""
    kind = defn.type
    if kind is ConfigType.BOOLEAN and isinstance(value, bool):
        return value
    if kind in _INTEGER_BOUNDS and isinstance(value, int) and not isinstance(value, bool):
        bound = _INTEGER_BOUNDS[kind]
        if -bound <= value < bound:
            return value
    if kind is ConfigType.DOUBLE and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is ConfigType.LIST and isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value)
    if kind is ConfigType.PASSWORD and isinstance(value, Password):
        return value
    raise ConfigError(defn.name, f"value {value!r} is not {_ARTICLE.get(kind, 'a ' + kind.label)}")


def format_value(value: Any) -> str:
    """Render a typed value as Java would print it (true/false, comma lists, 1.0E10 doubles)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Password):
        return value.value
    if isinstance(value, float):
        return _java_double(value)
    return str(value)


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    head, tail = str(digits[0]), "".join(map(str, digits[1:])) or "0"
    return f"{'-' if sign else ''}{head}.{tail}E{exponent + len(digits) - 1}"
