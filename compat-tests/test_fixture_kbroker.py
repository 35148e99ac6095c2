"""KBroker and `kbroker serve --dev` as real processes: start, topics, failures, and stopping by PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from pids import alive

from kbroker.testing import MODES, BrokerStartError, KBroker, TopicCreationError


def partitions_of(bootstrap: str, *topics: str) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return {name: len(admin.list_topics(name, timeout=10).topics[name].partitions) for name in topics}


@pytest.mark.parametrize("mode", MODES)
def test_topics_exist_at_start_and_more_can_be_made(mode: str) -> None:
    with KBroker(topics={"orders": 3, "events": -1}, config={"num.partitions": 2}, mode=mode) as kafka:
        assert kafka.running and kafka.data_dir.is_dir()
        kafka.create_topic("later", 4, config={"cleanup.policy": "compact"})
        assert partitions_of(kafka.bootstrap_server, "orders", "events", "later") == {
            "orders": 3, "events": 2, "later": 4}
        with pytest.raises(TopicCreationError, match="TOPIC_ALREADY_EXISTS"):
            kafka.create_topic("orders")
        assert kafka.create_topic("orders", exist_ok=True) == "orders"
    assert not kafka.data_dir.exists()


@pytest.mark.parametrize("mode", MODES)
def test_a_bad_config_key_fails_the_start_and_leaves_nothing(mode: str) -> None:
    kafka = KBroker(config={"no.such.setting": "1"}, mode=mode)
    with pytest.raises(BrokerStartError, match="no.such.setting"):
        kafka.start()
    assert not kafka.running
    assert not kafka.data_dir.exists()
    if kafka.pid is not None:
        assert not alive(kafka.pid)


def test_a_given_data_dir_is_kept_and_reused(tmp_path: Path) -> None:
    with KBroker(topics={"orders": 2}, data_dir=tmp_path) as kafka:
        producer = kafka.producer()
        producer.produce("orders", b"kept", partition=1)
        assert producer.flush(10) == 0
    assert (tmp_path / "orders-1").is_dir()
    with KBroker(topics={"orders": 2}, data_dir=tmp_path) as again:
        consumer = again.consumer()
        assert consumer.get_watermark_offsets(TopicPartition("orders", 1), timeout=10) == (0, 1)


def test_a_broker_that_ignores_sigterm_is_killed() -> None:
    kafka = KBroker(stop_timeout=1.0).start()
    pid = kafka.pid
    os.kill(pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    started = time.monotonic()
    kafka.stop()
    assert time.monotonic() - started >= 1.0
    assert not alive(pid)


def test_serve_dev_ephemeral_banner_topics_and_profile() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kbroker", "serve", "--dev", "--ephemeral", "--listen",
                             "127.0.0.1:0", "--partitions", "3", "--topic", "orders:6", "--topic", "events"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("KBROKER_", "KAFKA_CFG_"))})
    try:
        banner = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(line.startswith("  export ") for line in banner):
            banner.append(proc.stdout.readline())
        text = "".join(banner)
        bootstrap = re.search(r"export KAFKA_BOOTSTRAP_SERVERS=(\S+)", text)[1]
        data_dir = Path(re.search(r"data\s+(\S+) \(temporary, removed at exit\)", text)[1])
        assert re.search(rf"bootstrap\s+{re.escape(bootstrap)}\n", text)
        assert "orders (6), events (3)" in text
        assert data_dir.is_dir()
        assert partitions_of(bootstrap, "orders", "events") == {"orders": 6, "events": 3}
        admin = AdminClient({"bootstrap.servers": bootstrap})
        resource = ConfigResource(ConfigResource.Type.BROKER, "1")
        configs = admin.describe_configs([resource])[resource].result(timeout=10)
        for key, value in {"offsets.topic.replication.factor": "1", "transaction.state.log.min.isr": "1",
                           "group.initial.rebalance.delay.ms": "0", "num.partitions": "3"}.items():
            assert configs[key].value == value, key
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert not data_dir.exists()


def test_bad_plugin_option_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_x.py").write_text("def test_x(kafka_broker):\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                             "--kbroker-config", "no-equals-sign"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 4  # pytest's usage error: nothing ran, no broker started
    assert "expected KEY=VALUE" in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_schema_registry_comes_with_one_argument(mode: str) -> None:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    with KBroker(schema_registry=True, mode=mode) as kafka:
        client = SchemaRegistryClient({"url": kafka.schema_registry_url})
        schema_id = client.register_schema("users-value", Schema('"string"', "AVRO"))
        assert client.get_latest_version("users-value").schema_id == schema_id
    with KBroker(mode=mode) as plain, pytest.raises(RuntimeError, match="schema_registry=True"):
        plain.schema_registry_url


PLUGIN_REGISTRY_TESTS = '''
import urllib.request

import pytest


def test_session_broker(kafka_broker):
    assert urllib.request.urlopen(kafka_broker.schema_registry_url + "/subjects").read() == b"[]"


@pytest.mark.kbroker(schema_registry=False)
def test_marker_turns_it_off(kafka_broker_function):
    with pytest.raises(RuntimeError):
        kafka_broker_function.schema_registry_url
'''


def test_plugin_serves_a_schema_registry_when_asked(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nkbroker_schema_registry = true\n")
    (tmp_path / "test_x.py").write_text(PLUGIN_REGISTRY_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
