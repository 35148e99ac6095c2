"""The single-node developer setup shared by `kbroker serve --dev` and `kbroker.testing`.

Both want topics that exist before the first client connects (the config loader already gives
them Kafka's one-node sample profile). Keeping this here means a broker a test starts behaves
like the one a developer starts by hand.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from kproto import ErrorCode

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger("kbroker")

_TOPIC_SPEC = re.compile(r"([^:]+?)(?::(-?\d+))?")


def parse_topic_spec(spec: str) -> tuple[str, int]:
    """`NAME[:PARTITIONS]` -> (name, partitions); -1 partitions means the broker's num.partitions."""
    match = _TOPIC_SPEC.fullmatch(spec.strip())
    if not match:
        raise ValueError(f"expected NAME[:PARTITIONS], got {spec!r}")
    partitions = int(match[2]) if match[2] is not None else -1
    if partitions == 0 or partitions < -1:
        raise ValueError(f"{spec!r}: partitions must be a positive number")
    return match[1], partitions


def topic_specs(topics: Mapping[str, int] | Iterable[str] | None) -> dict[str, int]:
    """Normalise `{"orders": 3}`, `["orders:3", "events"]` or None into name -> partitions."""
    if topics is None:
        return {}
    if isinstance(topics, Mapping):
        return {str(name): int(count) for name, count in topics.items()}
    return dict(parse_topic_spec(item) for item in topics)


def create_start_topics(broker: Broker, topics: Mapping[str, int]) -> None:
    """Create the topics asked for at start; one already there (a kept data dir) is left as it is."""
    for name, partitions in topics.items():
        error, message = broker.create_topic(name, partitions, -1, {})
        if error == ErrorCode.TOPIC_ALREADY_EXISTS:
            log.info("topic %s already exists; left as it is", name)
        elif error != ErrorCode.NONE:
            raise ValueError(f"cannot create topic {name!r}: {error.name}: {message}")


def bootstrap_address(broker: Broker) -> str:
    """What a client on this machine puts in bootstrap.servers."""
    return client_address(*broker.advertised_address)


def client_address(host: str, port: int) -> str:
    """`host:port` for a client on this machine of a broker listening there: a wildcard host is
    reached as localhost, an IPv6 one in brackets."""
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def banner(broker: Broker, topics: Mapping[str, int], ephemeral: bool, metrics_url: str | None,
           registry_url: str | None = None, console_url: str | None = None) -> str:
    """The start banner: where to connect, where the data is, and the line to paste into a shell."""
    address = bootstrap_address(broker)
    rows = [("bootstrap", address), data_row(broker.config.log_dirs[0], ephemeral)]
    if topics:
        rows.append(("topics", ", ".join(
            f"{name} ({info.partitions})" for name in topics if (info := broker.topics.get(name)) is not None)))
    if metrics_url:
        rows.append(("metrics", metrics_url))
    if registry_url:
        rows.append(("registry", registry_url))
    if console_url:
        rows.append(("console", console_url))
    return ready_banner("kbroker is ready", rows, address)


def ready_banner(title: str, rows: Iterable[tuple[str, str]], bootstrap: str) -> str:
    """`title`, the labelled rows, and the `export KAFKA_BOOTSTRAP_SERVERS=...` line."""
    lines = [title, *(f"  {label:<10} {value}" for label, value in rows), "",
             f"  export KAFKA_BOOTSTRAP_SERVERS={bootstrap}"]
    return "\n".join(lines)


def data_row(data_dir: str | Path, ephemeral: bool) -> tuple[str, str]:
    data = str(Path(data_dir).resolve())
    return ("data", f"{data} (temporary, removed at exit)" if ephemeral else data)


def parse_sets(values: Iterable[str]) -> dict[str, str]:
    """`--set key=value` options as a dict; ValueError names a malformed one."""
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs
