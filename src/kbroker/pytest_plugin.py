"""pytest fixtures for a real Kafka-protocol broker: `kafka_broker` (one per session),
`kafka_broker_function` (one per test), and `kafka_cluster` (several brokers on a local ZooKeeper,
one per session, every broker running again at the start of each test).

Installed with kbroker through the `pytest11` entry point, so a project's tests only ask for the
fixture. Settings come from the command line or the ini file:

    [pytest]
    kbroker_config =
        auto.create.topics.enable=false
        num.partitions=3
    kbroker_topics = orders:3 events
    kbroker_keep_data = false
    kbroker_mode = subprocess
    kbroker_schema_registry = true
    kbroker_cluster_brokers = 3

`@pytest.mark.kbroker(topics={...}, config={...}, schema_registry=True)` adds to them for one
test's `kafka_broker_function`. With a schema registry, `kafka_broker.schema_registry_url` says
where it answers. The plugin imports nothing heavy until a fixture is used, since pytest
loads it in every run of the environment it is installed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from kbroker.testing import KBroker, KBrokerCluster

_KEPT = pytest.StashKey[list[Path]]()
_SETTINGS = pytest.StashKey["Settings"]()


@dataclass
class Settings:
    config: dict[str, str] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    keep_data: bool = False
    mode: str = "subprocess"
    client_library: str = "auto"
    schema_registry: bool = False
    cluster_brokers: int = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kbroker", "Kafka broker fixtures (kbroker)")
    group.addoption("--kbroker-config", action="append", default=[], metavar="KEY=VALUE",
                    help="Broker config for the kafka_broker fixtures (repeatable; beats the ini file).")
    group.addoption("--kbroker-topic", action="append", default=[], metavar="NAME[:PARTITIONS]",
                    help="Topic the kafka_broker fixtures create at start (repeatable).")
    group.addoption("--kbroker-keep-data", action="store_true", default=None,
                    help="Keep the brokers' data folders after the run and list them at the end.")
    group.addoption("--kbroker-mode", choices=("subprocess", "thread"), default=None,
                    help="Run fixture brokers as child processes (default) or on threads of pytest's process.")
    group.addoption("--kbroker-schema-registry", action="store_true", default=None,
                    help="Serve a Schema Registry from the kafka_broker fixtures (needs kbroker[registry]).")
    group.addoption("--kbroker-cluster-brokers", type=int, default=None, metavar="N",
                    help="Brokers in the kafka_cluster fixture (default 3).")
    parser.addini("kbroker_config", type="linelist", default=[], help="KEY=VALUE broker config lines.")
    parser.addini("kbroker_topics", type="args", default=[], help="NAME[:PARTITIONS] topics created at start.")
    parser.addini("kbroker_keep_data", type="bool", default=False, help="Keep the brokers' data after the run.")
    parser.addini("kbroker_mode", default="subprocess", help="subprocess (default) or thread.")
    parser.addini("kbroker_client_library", default="auto",
                  help="What producer()/consumer()/admin() return: auto, confluent-kafka or kafka-python.")
    parser.addini("kbroker_schema_registry", type="bool", default=False,
                  help="Serve a Schema Registry from the kafka_broker fixtures.")
    parser.addini("kbroker_cluster_brokers", default="3", help="Brokers in the kafka_cluster fixture.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kbroker(topics=None, config=None, schema_registry=False): topics, "
                                       "broker config and a schema registry for this test's kafka_broker_function")
    pairs = [*config.getini("kbroker_config"), *config.getoption("kbroker_config")]
    keep = config.getoption("kbroker_keep_data")
    registry = config.getoption("kbroker_schema_registry")
    config.stash[_SETTINGS] = Settings(
        config=dict(_split_pair(item) for item in pairs),
        topics=[*config.getini("kbroker_topics"), *config.getoption("kbroker_topic")],
        keep_data=config.getini("kbroker_keep_data") if keep is None else keep,
        mode=config.getoption("kbroker_mode") or config.getini("kbroker_mode"),
        client_library=config.getini("kbroker_client_library"),
        schema_registry=config.getini("kbroker_schema_registry") if registry is None else registry,
        cluster_brokers=config.getoption("kbroker_cluster_brokers") or int(config.getini("kbroker_cluster_brokers")),
    )
    config.stash[_KEPT] = []


def _split_pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise pytest.UsageError(f"kbroker config: expected KEY=VALUE, got {item!r}")
    return key.strip(), value.strip()


def _data_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path | None:
    """Under pytest's temporary folder, listed at the end, when data is kept; else None (removed at stop)."""
    if not request.config.stash[_SETTINGS].keep_data:
        return None
    data_dir = tmp_path_factory.mktemp(re.sub(r"\W+", "_", name)[-60:] or "kbroker")
    request.config.stash[_KEPT].append(data_dir)
    return data_dir


def _broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str) -> KBroker:
    from kbroker.dev import topic_specs
    from kbroker.testing import KBroker

    settings = request.config.stash[_SETTINGS]
    topics = topic_specs(settings.topics)
    config = dict(settings.config)
    schema_registry = settings.schema_registry
    marker = request.node.get_closest_marker("kbroker") if request.scope == "function" else None
    if marker is not None:
        topics.update(topic_specs(marker.kwargs.get("topics")))
        config.update(marker.kwargs.get("config") or {})
        schema_registry = marker.kwargs.get("schema_registry", schema_registry)
    data_dir = _data_dir(request, tmp_path_factory, name)
    return KBroker(topics=topics, config=config, mode=settings.mode, data_dir=data_dir,  # type: ignore[arg-type]
                   schema_registry=schema_registry, client_library=settings.client_library)


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KBroker]:
    """One broker for the whole session; tests keep apart by using topics or group ids of their own."""
    with _broker(request, tmp_path_factory, "kafka_broker") as broker:
        yield broker


@pytest.fixture
def kafka_broker_function(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[KBroker]:
    """A broker of this test's own, for tests that need an empty broker or a config of their own."""
    with _broker(request, tmp_path_factory, request.node.name) as broker:
        yield broker


@pytest.fixture(scope="session")
def _kbroker_cluster(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[KBrokerCluster]:
    from kbroker.testing import KBrokerCluster

    settings = request.config.stash[_SETTINGS]
    with KBrokerCluster(settings.cluster_brokers, settings.config, settings.topics,
                        data_dir=_data_dir(request, tmp_path_factory, "kafka_cluster"),
                        client_library=settings.client_library) as cluster:
        yield cluster


@pytest.fixture
def kafka_cluster(_kbroker_cluster: KBrokerCluster) -> KBrokerCluster:
    """A cluster for the session, with every broker running at the start of each test: a test may
    kill, stop or restart brokers without touching the next one."""
    _kbroker_cluster.start_all()
    return _kbroker_cluster


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.write_sep("-", "kbroker data kept")
        for path in kept:
            terminalreporter.write_line(str(path))
