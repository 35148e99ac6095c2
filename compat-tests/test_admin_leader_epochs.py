"""Leader epochs across broker restarts: what is stamped on stored batches, what Metadata,
ListOffsets, DescribeTopicPartitions and OffsetForLeaderEpoch say, the Fetch fence, and
librdkafka's offset validation (KIP-320) after a restart, with and without lost data."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kproto import ErrorCode
from kproto.messages import (
    DescribeTopicPartitionsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
)

from brokerproc import BrokerProcess
from conftest import create_topic
from rawclient import RawClient

TOPIC = "epochs"
DEADLINE = 40.0


@pytest.fixture
def broker(tmp_path: Path):
    process = BrokerProcess(tmp_path).start()
    yield process
    process.stop()


def produce(bootstrap: str, values: list[str]) -> None:
    """One batch per value, each acknowledged before the next is sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    for value in values:
        producer.produce(TOPIC, value=value.encode(), partition=0)
        assert producer.flush(15) == 0
    assert producer.flush(15) == 0


def segment(broker: BrokerProcess) -> Path:
    return broker.data_dir / f"{TOPIC}-0" / f"{0:020d}.log"


def stamped_epochs(path: Path) -> list[int]:
    done = subprocess.run([sys.executable, "-m", "kbroker", "dump-log", str(path)], capture_output=True, text=True,
                          timeout=60, check=True)
    return [int(m) for m in re.findall(r"partitionLeaderEpoch: (-?\d+)", done.stdout)]


def epoch_ends(bootstrap: str, current: int, epochs: list[int]) -> list[tuple[int, int, int]]:
    request = OffsetForLeaderEpochRequest(replica_id=-1, topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
        topic=TOPIC, partitions=[OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
            partition=0, current_leader_epoch=current, leader_epoch=e) for e in epochs])])
    with RawClient(bootstrap) as client:
        answer = client.request(request, 4)
    return [(p.error_code, p.leader_epoch, p.end_offset) for p in answer.topics[0].partitions]


def reported_epochs(bootstrap: str) -> dict[str, int]:
    """The leader epoch of partition 0 as Metadata, DescribeTopicPartitions and ListOffsets tell it."""
    with RawClient(bootstrap) as client:
        metadata = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=TOPIC)]), 12)
        described = client.request(DescribeTopicPartitionsRequest(
            topics=[DescribeTopicPartitionsRequest.TopicRequest(name=TOPIC)], response_partition_limit=10), 0)
        offsets = {}
        for name, timestamp in (("earliest", -2), ("latest", -1)):
            answer = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
                name=TOPIC, partitions=[ListOffsetsRequest.ListOffsetsPartition(
                    partition_index=0, timestamp=timestamp)])]), 7)
            offsets[name] = answer.topics[0].partitions[0].leader_epoch
    return {"metadata": metadata.topics[0].partitions[0].leader_epoch,
            "describe": described.topics[0].partitions[0].leader_epoch, **offsets}


def test_a_restart_leads_in_the_next_epoch_and_everything_agrees(broker: BrokerProcess) -> None:
    bootstrap = broker.bootstrap_server
    create_topic(bootstrap, TOPIC)
    produce(bootstrap, ["a", "b", "c"])
    assert reported_epochs(bootstrap) == {"metadata": 0, "describe": 0, "earliest": 0, "latest": 0}
    assert stamped_epochs(segment(broker)) == [0, 0, 0]

    broker.restart()
    bootstrap = broker.bootstrap_server
    produce(bootstrap, ["d", "e"])
    assert stamped_epochs(segment(broker)) == [0, 0, 0, 1, 1]
    assert reported_epochs(bootstrap) == {"metadata": 1, "describe": 1, "earliest": 0, "latest": 1}
    assert (broker.data_dir / f"{TOPIC}-0" / "leader-epoch-checkpoint").read_text() == "0\n2\n0 0\n1 3\n"
    assert epoch_ends(bootstrap, 1, [0, 1, 2, -1]) == [
        (ErrorCode.NONE, 0, 3), (ErrorCode.NONE, 1, 5), (ErrorCode.NONE, -1, -1), (ErrorCode.NONE, -1, -1)]
    assert epoch_ends(bootstrap, 0, [0])[0][0] == ErrorCode.FENCED_LEADER_EPOCH
    assert epoch_ends(bootstrap, 2, [0])[0][0] == ErrorCode.UNKNOWN_LEADER_EPOCH


def fetch(client: RawClient, version: int, current_leader_epoch: int) -> tuple:
    """(error, high watermark, bytes of records, current leader id and epoch, node endpoints)."""
    topic_id = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=TOPIC)]), 12
                              ).topics[0].topic_id
    request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=0,
                           session_epoch=-1, topics=[FetchRequest.FetchTopic(
                               topic=TOPIC, topic_id=topic_id, partitions=[FetchRequest.FetchPartition(
                                   partition=0, current_leader_epoch=current_leader_epoch, fetch_offset=0,
                                   partition_max_bytes=1 << 20)])])
    answer = client.request(request, version)
    data = answer.responses[0].partitions[0]
    return (data.error_code, data.high_watermark, len(data.records or b""), data.current_leader.leader_id,
            data.current_leader.leader_epoch, [(n.node_id, n.port) for n in answer.node_endpoints])


def test_fetch_and_list_offsets_fence_a_stale_or_future_epoch(broker: BrokerProcess) -> None:
    create_topic(broker.bootstrap_server, TOPIC)
    produce(broker.bootstrap_server, ["a"])
    broker.restart()
    bootstrap = broker.bootstrap_server
    port = broker.port
    with RawClient(bootstrap) as client:
        node = client.request(MetadataRequest(topics=[]), 12).brokers[0].node_id
        assert fetch(client, 12, 1)[:3] == (ErrorCode.NONE, 1, fetch(client, 12, -1)[2])
        assert fetch(client, 12, 0) == (ErrorCode.FENCED_LEADER_EPOCH, -1, 0, -1, -1, [])
        assert fetch(client, 16, 0) == (ErrorCode.FENCED_LEADER_EPOCH, -1, 0, node, 1, [(node, port)])
        assert fetch(client, 16, 2) == (ErrorCode.UNKNOWN_LEADER_EPOCH, -1, 0, -1, -1, [])
        for current, error in ((0, ErrorCode.FENCED_LEADER_EPOCH), (2, ErrorCode.UNKNOWN_LEADER_EPOCH),
                               (1, ErrorCode.NONE)):
            answer = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
                name=TOPIC, partitions=[ListOffsetsRequest.ListOffsetsPartition(
                    partition_index=0, current_leader_epoch=current, timestamp=-1)])]), 7)
            assert answer.topics[0].partitions[0].error_code == error


class Validation(logging.Handler):
    """Collects librdkafka's offset validation outcomes from its debug log."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "validation" in message or "truncation" in message:
            self.lines.append(message)


def consumer(bootstrap: str, validation: Validation) -> Consumer:
    logger = logging.getLogger(f"librdkafka-{id(validation)}")
    logger.addHandler(validation)
    logger.setLevel(logging.DEBUG)
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "epochs", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "debug": "fetch", "logger": logger,
                     "topic.metadata.refresh.interval.ms": 1000, "reconnect.backoff.max.ms": 500})


def consume(c: Consumer, count: int) -> list[tuple[int, int, str]]:
    """(offset, leader epoch, value) of the next `count` records; any consumer error fails the test."""
    got = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append((msg.offset(), msg.leader_epoch(), msg.value().decode()))
    return got


def test_librdkafka_validates_its_position_after_a_restart(broker: BrokerProcess) -> None:
    create_topic(broker.bootstrap_server, TOPIC)
    produce(broker.bootstrap_server, ["a", "b", "c"])
    validation = Validation()
    c = consumer(broker.bootstrap_server, validation)
    try:
        c.assign([TopicPartition(TOPIC, 0, 0)])
        assert consume(c, 3) == [(0, 0, "a"), (1, 0, "b"), (2, 0, "c")]
        broker.restart()
        produce(broker.bootstrap_server, ["d", "e"])
        assert consume(c, 2) == [(3, 1, "d"), (4, 1, "e")]
        assert any("validation succeeded: broker end offset 3 (offset leader epoch 0)" in line
                   for line in validation.lines), validation.lines
        assert c.position([TopicPartition(TOPIC, 0)])[0].offset == 5
        c.seek(TopicPartition(TOPIC, 0, 1, leader_epoch=0))  # validated: epoch 0 reaches offset 1
        assert consume(c, 1) == [(1, 0, "b")]
        c.seek(TopicPartition(TOPIC, 0, 4, leader_epoch=0))  # epoch 0 ended at 3: librdkafka goes there
        assert consume(c, 1) == [(3, 1, "d")]
    finally:
        c.close()


def test_librdkafka_finds_records_lost_in_a_crash_and_goes_back(broker: BrokerProcess) -> None:
    """Five records consumed, the broker crashes and its log loses the last two: the consumer's
    position (5, epoch 0) is past the end of epoch 0 (3). librdkafka learns that from
    OffsetForLeaderEpoch and seeks back to 3, so the records written after the crash are read."""
    create_topic(broker.bootstrap_server, TOPIC)
    produce(broker.bootstrap_server, ["a", "b", "c", "d", "e"])
    validation = Validation()
    c = consumer(broker.bootstrap_server, validation)
    try:
        c.assign([TopicPartition(TOPIC, 0, 0)])
        assert [r[2] for r in consume(c, 5)] == ["a", "b", "c", "d", "e"]
        broker.stop(kill=True)
        data = segment(broker).read_bytes()
        kept = len(data) * 3 // 5  # five batches of equal size
        segment(broker).write_bytes(data[:kept])
        broker.start()
        produce(broker.bootstrap_server, ["x", "y", "z"])
        assert consume(c, 3) == [(3, 1, "x"), (4, 1, "y"), (5, 1, "z")]
        assert any("validation of offset 5 (leader epoch 0)" in line for line in validation.lines), validation.lines
    finally:
        c.close()
