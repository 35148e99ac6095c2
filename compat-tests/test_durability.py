"""Volume and restarts: nothing acknowledged is lost, nothing is duplicated, order holds per partition."""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brokerproc import BrokerProcess, broker_kind
from clusterclients import wait_until

PARTITIONS = 8


def create_topic(bootstrap: str, partitions: int) -> str:
    name = f"d-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future it answers
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=15)
    return name


def produce_sequence(bootstrap: str, topic: str, start: int, count: int, partitions: int,
                     batch_messages: int = 10000) -> None:
    """Send values start..start+count-1, value i to partition i % partitions; fail on any error."""
    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                         "batch.num.messages": batch_messages, "queue.buffering.max.messages": 2_000_000})

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(start, start + count):
        while True:
            try:
                producer.produce(topic, value=str(i).encode(), partition=i % partitions, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    assert not errors, errors[:3]


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int) -> dict[int, list[int]]:
    """Read every partition from offset 0 until `expected` messages came (or 60 s passed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: dict[int, list[int]] = defaultdict(list)
    offsets: dict[int, list[int]] = defaultdict(list)
    total = 0
    idle = 0
    try:
        while total < expected and idle < 60:
            batch = consumer.consume(num_messages=10000, timeout=1.0)
            idle = 0 if batch else idle + 1
            for message in batch:
                if message.error():
                    raise KafkaException(message.error())
                got[message.partition()].append(int(message.value()))
                offsets[message.partition()].append(message.offset())
                total += 1
    finally:
        consumer.close()
    for partition, seen in offsets.items():
        assert seen == list(range(len(seen))), f"partition {partition}: offsets are not 0..n-1"
    return got


def check_sequence(got: dict[int, list[int]], total: int, partitions: int) -> None:
    for partition in range(partitions):
        assert got[partition] == list(range(partition, total, partitions)), f"partition {partition} lost, duplicated or reordered"


@pytest.mark.slow
def test_a_million_messages_over_eight_partitions(tmp_path):
    broker = BrokerProcess(tmp_path).start()
    try:
        topic = create_topic(broker.bootstrap_server, PARTITIONS)
        total = 1_000_000
        produce_sequence(broker.bootstrap_server, topic, 0, total, PARTITIONS)
        check_sequence(consume_all(broker.bootstrap_server, topic, PARTITIONS, total), total, PARTITIONS)
    finally:
        broker.stop()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_acknowledged_messages_survive_a_restart(tmp_path, kill):
    broker = BrokerProcess(tmp_path, config={"log.flush.interval.messages": "1"} if kill else {}).start()
    try:
        topic = create_topic(broker.bootstrap_server, 3)
        produce_sequence(broker.bootstrap_server, topic, 0, 3000, 3)
        broker.restart(kill=kill)
        produce_sequence(broker.bootstrap_server, topic, 3000, 3000, 3)
        check_sequence(consume_all(broker.bootstrap_server, topic, 3, 6000), 6000, 3)
    finally:
        broker.stop()


def recovery_points(data_dir: Path, topic: str) -> dict[int, int]:
    """The topic's entries in the broker's recovery-point checkpoint, by partition."""
    points = {}
    for path in data_dir.rglob("recovery-point-offset-checkpoint"):
        for line in path.read_text().splitlines()[2:]:
            name, partition, offset = line.split()
            if name == topic:
                points[int(partition)] = int(offset)
    return points


@pytest.mark.skipif(broker_kind() != "kbroker", reason="reads kbroker's recovery-point checkpoint")
def test_acknowledged_messages_across_segment_rolls_survive_a_kill(tmp_path):
    """Small segments roll many times while the producer waits for its acknowledgements; the rolled
    segments are fsynced off the event loop and the recovery point follows them into the
    checkpoint. After a SIGKILL the restart trusts the segments below it and recovers the rest."""
    broker = BrokerProcess(tmp_path, config={"log.segment.bytes": "16384",
                                             "log.flush.offset.checkpoint.interval.ms": "200"}).start()
    try:
        topic = create_topic(broker.bootstrap_server, 3)
        produce_sequence(broker.bootstrap_server, topic, 0, 30000, 3, batch_messages=100)  # batches of ~1.5 KB
        wait_until(lambda: len(recovery_points(broker.data_dir, topic)) == 3
                   and min(recovery_points(broker.data_dir, topic).values()) > 0,
                   what="recovery points moved by the roll flushes")
        rolled = min(len(list(broker.data_dir.rglob(f"{topic}-{p}/*.log"))) for p in range(3))
        assert rolled > 5
        broker.restart(kill=True)
        produce_sequence(broker.bootstrap_server, topic, 30000, 3000, 3)
        check_sequence(consume_all(broker.bootstrap_server, topic, 3, 33000), 33000, 3)
    finally:
        broker.stop()
