"""Stock Kafka clients pointed at a test broker: confluent-kafka when installed, else kafka-python.

Defaults suit tests rather than production: consumers start from the earliest offset (a test
usually produces first and reads after), and every consumer gets a group id of its own unless
the test names one. Extra settings pass through unchanged in the library's own spelling:
`{"linger.ms": 5}` for confluent-kafka, `linger_ms=5` for kafka-python.
"""

from __future__ import annotations

import importlib.util
import uuid
from typing import Any, Iterable, Mapping

AUTO = "auto"
CONFLUENT = "confluent-kafka"
KAFKA_PYTHON = "kafka-python"
LIBRARIES = (AUTO, CONFLUENT, KAFKA_PYTHON)
_MODULES = {CONFLUENT: "confluent_kafka", KAFKA_PYTHON: "kafka"}


def resolve_library(name: str) -> str:
    """The client library to use: `auto` picks confluent-kafka, then kafka-python, whichever is installed."""
    if name not in LIBRARIES:
        raise ValueError(f"client library {name!r}: expected one of {', '.join(LIBRARIES)}")
    candidates = (CONFLUENT, KAFKA_PYTHON) if name == AUTO else (name,)
    for candidate in candidates:
        if importlib.util.find_spec(_MODULES[candidate]) is not None:
            return candidate
    raise RuntimeError(f"no Kafka client installed: pip install {' or '.join(candidates)}")


def producer(bootstrap: str, library: str, config: Mapping[str, Any]) -> Any:
    if library == CONFLUENT:
        from confluent_kafka import Producer

        return Producer({"bootstrap.servers": bootstrap, **config})
    from kafka import KafkaProducer

    return KafkaProducer(**{"bootstrap_servers": bootstrap, **config})


def consumer(bootstrap: str, library: str, group_id: str | None, topics: Iterable[str],
             config: Mapping[str, Any]) -> Any:
    group = group_id or f"kbroker-test-{uuid.uuid4().hex[:12]}"
    topics = list(topics)
    if library == CONFLUENT:
        from confluent_kafka import Consumer

        client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                           **config})
        if topics:
            client.subscribe(topics)
        return client
    from kafka import KafkaConsumer

    return KafkaConsumer(*topics, **{"bootstrap_servers": bootstrap, "group_id": group,
                                     "auto_offset_reset": "earliest", **config})


def admin(bootstrap: str, library: str, config: Mapping[str, Any]) -> Any:
    if library == CONFLUENT:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": bootstrap, **config})
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**{"bootstrap_servers": bootstrap, **config})


# kafka-python's closes wait without limit by default; the broker may already be going away.
_CLOSE_ARGS = {"KafkaProducer": {"timeout": 2}, "KafkaConsumer": {"timeout_ms": 2000}}


def close_quietly(client: Any) -> None:
    """Close a client made by the helpers; librdkafka's admin client has nothing to close."""
    close = getattr(client, "close", None)
    if close is None:
        return
    try:
        close(**_CLOSE_ARGS.get(type(client).__name__, {}))
    except Exception:  # a test's teardown must not fail because a client could not say goodbye
        pass


class ClientHelpers:
    """`producer()`, `consumer()` and `admin()` for whatever `bootstrap_server` names, of the library
    `client_library` chooses; `close_clients()` closes every one made."""

    client_library: str
    bootstrap_server: str
    _clients: list[Any]  # set to [] by the class's constructor

    def producer(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """A producer of the chosen client library; closed when the broker stops."""
        return self._track(producer(self.bootstrap_server, self._library(), {**(config or {}), **kwargs}))

    def consumer(self, *topics: str, group_id: str | None = None, config: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Any:
        """A consumer subscribed to `topics`, reading from the earliest offset; closed when the broker stops."""
        return self._track(consumer(self.bootstrap_server, self._library(), group_id, topics,
                                    {**(config or {}), **kwargs}))

    def admin(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """An admin client of the chosen client library."""
        return self._track(admin(self.bootstrap_server, self._library(), {**(config or {}), **kwargs}))

    def close_clients(self) -> None:
        made, self._clients = self._clients, []
        for client in made:
            close_quietly(client)

    def _library(self) -> str:
        return resolve_library(self.client_library)

    def _track(self, client: Any) -> Any:
        self._clients.append(client)
        return client
