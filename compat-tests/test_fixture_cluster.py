"""The `kafka_cluster` fixture and `KBrokerCluster` as a project's failover tests use them: a
throwaway test file run by a pytest process of its own, whose brokers must all be gone afterwards."""

from __future__ import annotations

from pathlib import Path

from test_fixture_sample_project import assert_gone, run_project

PROJECT_TESTS = '''
import os
from pathlib import Path

from kbroker.testing import KBrokerCluster

RECORD = Path(os.environ["BROKER_RECORD"])


def note(cluster):
    with RECORD.open("a") as fh:
        for broker in cluster.brokers.values():
            fh.write(f"{broker.pid} {cluster.data_dir}\\n")
        fh.write(f"{cluster.zookeeper.pid} {cluster.data_dir}\\n")


def read_values(consumer, count):
    values = []
    for _ in range(60):
        values += [m.value() for m in consumer.consume(count, timeout=0.5) if m.error() is None]
        if len(values) >= count:
            break
    return values


def test_a_write_survives_its_leader_being_killed(kafka_cluster):
    note(kafka_cluster)
    assert len(kafka_cluster.bootstrap_servers.split(",")) == 3
    leader = kafka_cluster.leader("orders", 0)
    producer = kafka_cluster.producer({"acks": "all"})
    producer.produce("orders", b"before", partition=0)
    assert producer.flush(15) == 0
    kafka_cluster.kill(leader)
    assert kafka_cluster.leader("orders", 0) not in (None, leader)
    assert len(kafka_cluster.bootstrap_servers.split(",")) == 2
    producer.produce("orders", b"after", partition=0)
    assert producer.flush(30) == 0
    assert read_values(kafka_cluster.consumer("orders"), 2) == [b"before", b"after"]


def test_each_test_starts_with_every_broker_running(kafka_cluster):
    assert kafka_cluster.running_brokers() == [1, 2, 3]
    kafka_cluster.stop(kafka_cluster.controller())
    assert len(kafka_cluster.running_brokers()) == 2 and kafka_cluster.controller() is not None
    note(kafka_cluster)


def test_the_context_manager():
    with KBrokerCluster(brokers=2, topics={"events": 2}) as cluster:
        note(cluster)
        assert {cluster.leader("events", p) for p in (0, 1)} == {1, 2}
        cluster.restart(1)
        assert cluster.running_brokers() == [1, 2]
        note(cluster)
'''


def test_fixture_and_context_manager_in_a_project(tmp_path: Path) -> None:
    result, processes = run_project(tmp_path, "kbroker_topics = orders:1\n", PROJECT_TESTS)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout, result.stdout[-2000:]
    assert len(processes) == 4 + 4 + 3 + 3  # three brokers and ZooKeeper, noted twice; then two and ZooKeeper
    assert_gone(processes)
