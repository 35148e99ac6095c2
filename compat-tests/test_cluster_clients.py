"""Each stock client produces with acks=all to a three-broker cluster and reads back in a group."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer

from clusterclients import create_topic, partitions, wait_until
from zkcluster import Cluster

KAFKAJS = Path(__file__).parent / "kafkajs" / "client.js"
COUNT = 300


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("clients")) as running:
        yield running


@pytest.fixture
def topic(cluster: Cluster) -> str:
    name = f"clients-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, name, partitions_count=3)
    return name


def expected() -> list[bytes]:
    return [b"value-%d" % i for i in range(COUNT)]


def test_confluent_kafka(cluster: Cluster, topic: str) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
    for value in expected():
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            values.extend(m.value() for m in consumer.consume(COUNT, 0.5) if not m.error())
            if len(values) >= COUNT:
                break
    finally:
        consumer.close()
    assert sorted(values) == sorted(expected())


def test_kafka_python(cluster: Cluster, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers.split(","), acks="all")
    for value in expected():
        producer.send(topic, value=value)
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap_servers.split(","), group_id=f"g-{topic}",
                             auto_offset_reset="earliest", consumer_timeout_ms=15000)
    try:
        values = []
        for message in consumer:
            values.append(message.value)
            if len(values) >= COUNT:
                break
    finally:
        consumer.close()
    assert sorted(values) == sorted(expected())


def test_aiokafka(cluster: Cluster, topic: str) -> None:
    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for value in expected():
                await producer.send(topic, value=value)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.bootstrap_servers, group_id=f"g-{topic}",
                                    auto_offset_reset="earliest")
        await consumer.start()
        values: list[bytes] = []
        try:
            while len(values) < COUNT:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                values.extend(m.value for records in batch.values() for m in records)
        finally:
            await consumer.stop()
        return values
    assert sorted(asyncio.run(run())) == sorted(expected())


def kafkajs(command: str, request: dict) -> object:
    if not (KAFKAJS.parent / "node_modules" / "kafkajs").is_dir():
        pytest.fail("kafkajs is not installed: run `make test`, which runs npm ci in compat-tests/kafkajs")
    done = subprocess.run(["node", str(KAFKAJS), command], input=json.dumps(request).encode(), capture_output=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


def test_kafkajs(cluster: Cluster, topic: str) -> None:
    records = [{"key": None, "value": base64.b64encode(v).decode(), "headers": [], "partition": i % 3}
               for i, v in enumerate(expected())]
    kafkajs("produce", {"bootstrap": cluster.brokers[1].bootstrap_server, "topic": topic, "compression": "none",
                        "idempotent": True, "records": records})
    read = kafkajs("consume", {"bootstrap": cluster.brokers[2].bootstrap_server, "topic": topic,
                               "groupId": f"g-{topic}", "count": COUNT, "timeoutMs": 30000})
    assert sorted(base64.b64decode(r["value"]) for r in read) == sorted(expected())


def test_kafkajs_follows_a_leader_that_dies(tmp_path: Path) -> None:
    """kafkajs keeps producing (idempotent, acks=all) while the partition's leader is killed: it
    finds the new leader and loses nothing."""
    if not (KAFKAJS.parent / "node_modules" / "kafkajs").is_dir():
        pytest.fail("kafkajs is not installed: run `make test`, which runs npm ci in compat-tests/kafkajs")
    with Cluster(tmp_path / "cluster") as cluster:
        topic = f"kafkajs-failover-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic)
        leader = partitions(cluster, topic)[0][0]
        survivor = next(b for b in cluster.brokers if b != leader)
        request = {"bootstrap": cluster.brokers[survivor].bootstrap_server, "topic": topic, "count": 60,
                   "intervalMs": 100}
        plan = tmp_path / "request.json"
        plan.write_text(json.dumps(request))
        with open(plan, "rb") as stdin:
            run = subprocess.Popen(["node", str(KAFKAJS), "stream"], stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        time.sleep(2)
        cluster.brokers[leader].stop(kill=True)
        out, err = run.communicate(timeout=90)
        assert run.returncode == 0, err.decode(errors="replace")
        assert json.loads(out) == [str(i) for i in range(60)]
        wait_until(lambda: partitions(cluster, topic)[0][0] not in (leader, -1), 30, "a new leader")
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "reader",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        values: list[bytes] = []
        try:
            for _ in range(40):
                values.extend(m.value() for m in consumer.consume(100, 0.5) if not m.error())
                if len(values) >= 60:
                    break
        finally:
            consumer.close()
        assert values == [str(i).encode() for i in range(60)]
