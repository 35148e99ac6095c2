"""Reading config sources: Java .properties text and container-style environment variables.

`parse_properties` follows java.util.Properties.load: `#` and `!` comments, `key=value`,
`key: value` or `key value`, backslash line continuations, and `\\t \\n \\r \\f \\uXXXX` escapes
(any other escaped character stands for itself). Later duplicates win, as in Java.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

from kbroker.config.definitions import ConfigError

_WHITESPACE = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}

# Environment variable prefixes, highest priority first: KBROKER_ beats KAFKA_CFG_ (Bitnami's).
ENV_PREFIXES: tuple[str, ...] = ("KBROKER_", "KAFKA_CFG_")


def read_properties_file(path: str | Path) -> dict[str, str]:
    """Load a server.properties file; UTF-8, with Latin-1 (Java's own reading) as the fallback."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_properties(text)


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java properties text into raw string pairs, in file order."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split(line)
        result[key] = value
    return result


def _logical_lines(text: str) -> Iterable[str]:
    """Join continued lines; drop blank and comment lines. A comment never continues."""
    pending: str | None = None
    for raw in re.split(r"\r\n|\r|\n", text):
        line = raw.lstrip(_WHITESPACE)
        if pending is None:
            if not line or line[0] in "#!":
                continue
        if _continues(line):
            pending = (pending or "") + line[:-1]
            continue
        yield (pending or "") + line
        pending = None
    if pending:
        yield pending


def _continues(line: str) -> bool:
    """An odd number of trailing backslashes escapes the line break."""
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split(line: str) -> tuple[str, str]:
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=:" or char in _WHITESPACE:
            break
        index += 1
    key = line[:index]
    rest = line[index:].lstrip(_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_WHITESPACE)
    return _unescape(key), _unescape(rest)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1:index + 2]
        if nxt == "u":
            digits = text[index + 2:index + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise ConfigError(text, "malformed \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            index += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        index += 2
    return "".join(out)


def env_name_to_key(suffix: str) -> str:
    """Map the part after the prefix to a key: `_` is `.`, `__` is `_`, `___` is `-`, lower-cased.

    This is the convention of Apache Kafka's and Confluent's images; it lets names with real
    underscores or dashes be written (KBROKER_LISTENER_NAME_MY__LISTENER_... -> my_listener).
    """
    def replace(match: re.Match[str]) -> str:
        run = len(match[0])
        if run > 3:
            raise ConfigError(suffix, f"{run} underscores in a row mean nothing; use 1 (.), 2 (_) or 3 (-)")
        return {1: ".", 2: "_", 3: "-"}[run]
    return re.sub(r"_+", replace, suffix).lower()


def config_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Broker settings found in the environment: key -> (value, variable it came from)."""
    found: dict[str, tuple[str, str]] = {}
    for prefix in reversed(ENV_PREFIXES):
        for name in sorted(environ):
            if name.startswith(prefix) and len(name) > len(prefix):
                found[env_name_to_key(name[len(prefix):])] = (environ[name], name)
    return found
