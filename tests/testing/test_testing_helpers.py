"""The parts of kbroker.testing and `serve --dev` that need no running broker: specs, choices, errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kbroker.cli import main
from kbroker.dev import parse_topic_spec, topic_specs
from kbroker.metrics import LATENCY_BUCKETS_MS, BrokerMetrics
from kbroker.metrics.exporter import request_name
from kbroker.testing import KBroker
from kbroker.testing.broker import TEST_DEFAULTS
from kbroker.testing.clients import CONFLUENT, KAFKA_PYTHON, resolve_library


@pytest.mark.parametrize("spec, expected", [
    ("orders:3", ("orders", 3)),
    ("orders", ("orders", -1)),
    ("a.b_c-d:12", ("a.b_c-d", 12)),
    ("orders:-1", ("orders", -1)),
])
def test_topic_spec(spec: str, expected: tuple[str, int]) -> None:
    assert parse_topic_spec(spec) == expected


@pytest.mark.parametrize("spec", ["orders:0", "orders:x", ":3", "orders:-2", ""])
def test_bad_topic_spec(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_topic_spec(spec)


def test_topic_specs_take_mappings_lists_and_none() -> None:
    assert topic_specs({"orders": 3}) == {"orders": 3}
    assert topic_specs(["orders:3", "events"]) == {"orders": 3, "events": -1}
    assert topic_specs(None) == {}


def test_client_library_choice() -> None:
    assert resolve_library("auto") == CONFLUENT  # both are installed; librdkafka is preferred
    assert resolve_library(KAFKA_PYTHON) == KAFKA_PYTHON
    with pytest.raises(ValueError, match="expected one of"):
        resolve_library("pykafka")


def test_kbroker_settings() -> None:
    broker = KBroker(["orders:2"], config={"auto.create.topics.enable": False, "offsets.topic.num.partitions": 3})
    assert broker.topics == {"orders": 2}
    assert broker.config == {**TEST_DEFAULTS, "auto.create.topics.enable": "false", "offsets.topic.num.partitions": "3"}
    assert not broker.running
    with pytest.raises(RuntimeError, match="not running"):
        broker.bootstrap_server
    with pytest.raises(ValueError, match="mode"):
        KBroker(mode="docker")  # type: ignore[arg-type]


def test_latency_histogram_buckets() -> None:
    metrics = BrokerMetrics()
    for seconds in (0.0001, 0.0007, 0.003, 99.0):
        metrics.request_done(0, seconds)
    stats = metrics.requests[0]
    assert stats.count == 4
    assert stats.buckets[0] == 1  # <= 0.5 ms
    assert stats.buckets[1] == 1  # <= 1 ms
    assert stats.buckets[LATENCY_BUCKETS_MS.index(5)] == 1
    assert stats.buckets[-1] == 1  # +Inf
    assert stats.total_ms == pytest.approx(99_003.8)


def test_request_names_are_kafkas() -> None:
    assert [request_name(k) for k in (0, 1, 3, 18, 19)] == ["Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics"]


@pytest.mark.parametrize("args, message", [
    (["--ephemeral", "--data-dir", "x"], "exclude each other"),
    (["--topic", "orders:0"], "partitions must be a positive number"),
    (["--partitions", "2", "--set", "num.partitions=3"], "num.partitions given both"),
    (["--partitions", "0"], "0 is not in the range"),
])
def test_serve_refuses_contradictions(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output
