"""Fixtures for compat tests: real broker processes on free loopback ports, stock clients, nothing mocked.

`kafka_broker` starts a broker per test (use it when a test restarts the broker or needs its own
config); `shared_broker` starts one per module for tests that only need topics of their own.
Broker config for either comes from `@pytest.mark.broker_config({"num.partitions": "3"})` on the
test or the module. COMPAT_BROKER=tansu|external switches the broker (see brokerproc.py).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kbroker.testing.cluster import KBrokerCluster

from brokerproc import BrokerProcess, broker_kind


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broker_config(mapping): broker --set pairs for kafka_broker/shared_broker")


def pytest_report_header(config: pytest.Config) -> str:
    return f"compat broker: {broker_kind()}"


def _marked_config(node: pytest.Item | pytest.Module) -> dict[str, str]:
    config: dict[str, str] = {}
    for mark in reversed(list(node.iter_markers("broker_config"))):
        config.update({k: str(v) for k, v in mark.args[0].items()})
    return config


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker of this test's own, stopped by PID at teardown whatever happened."""
    broker = BrokerProcess(tmp_path / "broker", _marked_config(request.node))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def shared_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for the whole module; tests keep apart by using topics of their own."""
    workdir = tmp_path_factory.mktemp(re.sub(r"\W+", "_", request.module.__name__)[-40:])
    broker = BrokerProcess(workdir / "broker", _marked_config(request.node))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def bootstrap(shared_broker: BrokerProcess) -> str:
    """`host:port` of the module's shared broker."""
    return shared_broker.bootstrap_server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Failure reports carry the brokers' log tails: a compat failure is usually explained there."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        reported: set[int] = set()
        for name, value in getattr(item, "funcargs", {}).items():
            if id(value) in reported:  # one fixture handing on another's broker or cluster
                continue
            reported.add(id(value))
            if isinstance(value, BrokerProcess):
                report.sections.append((f"{name} log tail ({value.log_path})", value.log_tail()))
            elif isinstance(value, KBrokerCluster) and value.brokers:
                report.sections.append((f"{name}: brokers and their log tails", value.logs()))


def unique_topic(request: pytest.FixtureRequest) -> str:
    """A legal topic name, unique across xdist workers, that says which test made it."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:150]
    return f"{base}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: Mapping[str, str] | None = None,
                 timeout: float = 15.0) -> str:
    """CreateTopics through librdkafka's admin client, then wait until metadata shows every partition led."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=dict(config or {}))],
                                  operation_timeout=timeout, request_timeout=timeout)
    futures[name].result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(name, timeout=timeout).topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions and all(
                p.leader >= 0 for p in meta.partitions.values()):
            return name
        assert time.monotonic() < deadline, f"topic {name} not ready in metadata after {timeout}s: {meta}"
        time.sleep(0.1)


@pytest.fixture
def topic_factory(request: pytest.FixtureRequest, shared_broker: BrokerProcess) -> Callable[..., str]:
    """Create a fresh topic on the shared broker: `topic_factory(partitions=3, config={...})`."""
    def make(partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        return create_topic(shared_broker.bootstrap_server, unique_topic(request), partitions, config)
    return make
