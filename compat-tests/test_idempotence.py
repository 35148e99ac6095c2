"""Idempotent producers: a produce that was appended but never answered is retried without
duplicates; producer state is snapshotted at each segment roll and recovered after SIGKILL from the
latest snapshot and the log after it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from kproto import ErrorCode
from kproto.messages import (
    DeleteRecordsRequest,
    InitProducerIdRequest,
    ListOffsetsRequest,
    ProduceRequest,
    ProduceResponse,
)
from kproto.records import Record, build_batch

from kbroker.txn.state_files import decode_snapshot

from brokerproc import BrokerProcess, broker_kind
from conftest import create_topic, unique_topic
from frameproxy import FrameProxy
from rawclient import RawClient

PRODUCE = 0
MESSAGES = 200
SEGMENT_BYTES = 1024
BATCHES = 12  # of about 330 bytes: a segment rolls every third batch


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[FrameProxy, BrokerProcess]]:
    """A broker whose advertised address is a FrameProxy in front of it, so every client
    connection, bootstrap or not, passes through the proxy."""
    if broker_kind() == "external":
        pytest.skip("needs a broker whose advertised listener the test sets")
    proxy = FrameProxy()
    broker = BrokerProcess(tmp_path / "broker", {"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    try:
        broker.start()
        proxy.target_port = broker.port
        yield proxy, broker
    finally:
        broker.stop()
        proxy.close()


def consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                values.append(msg.value())
            if len(values) >= count:
                break
        # one more poll: a duplicate would arrive after the expected count
        values += [m.value() for m in consumer.consume(num_messages=1000, timeout=1.0) if m.error() is None]
    finally:
        consumer.close()
    return values


def test_retry_after_lost_produce_response_appends_once(request, proxied):
    proxy, broker = proxied
    bootstrap = f"127.0.0.1:{proxy.port}"
    topic = create_topic(bootstrap, unique_topic(request))
    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                         "batch.num.messages": 20, "retry.backoff.ms": 50, "message.timeout.ms": 30_000})
    proxy.drop_responses(PRODUCE, 3)

    def report(err, _msg) -> None:
        if err is not None:
            errors.append(err)

    for i in range(MESSAGES):
        producer.produce(topic, value=b"%d" % i, partition=0, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    assert proxy.dropped == 3
    assert consume_all(bootstrap, topic, MESSAGES) == [b"%d" % i for i in range(MESSAGES)]


def produce_sequence(client: RawClient, topic: str, producer_id: int, sequence: int,
                     timestamp: int = 1_700_000_000_000) -> ProduceResponse.PartitionProduceResponse:
    records = build_batch([Record(0, timestamp, None, b"%03d" % sequence + b"x" * 250)],
                          producer_id=producer_id, producer_epoch=0, base_sequence=sequence)
    response = client.request(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=records)])]), 9)
    return response.responses[0].partition_responses[0]


def log_end(client: RawClient, topic: str) -> int:
    response = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-1)])]), 5)
    return response.topics[0].partitions[0].offset


def file_offsets(directory: Path, suffix: str) -> list[int]:
    return sorted(int(p.name[:-len(suffix)]) for p in directory.glob(f"*{suffix}"))


def test_producer_state_comes_back_from_the_roll_snapshots_after_sigkill(request, kafka_broker):
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request), config={"segment.bytes": str(SEGMENT_BYTES)})
    partition_dir = kafka_broker.data_dir / f"{topic}-0"
    with RawClient(bootstrap) as client:
        producer_id = client.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1),
                                     4).producer_id
        for sequence in range(BATCHES):
            assert produce_sequence(client, topic, producer_id, sequence).base_offset == sequence
    bases = file_offsets(partition_dir, ".log")
    assert len(bases) >= 3 and file_offsets(partition_dir, ".snapshot") == bases[1:]  # one per roll
    kafka_broker.restart(kill=True)  # no snapshot at shutdown: only those of the rolls
    with RawClient(bootstrap) as client:
        retry = produce_sequence(client, topic, producer_id, BATCHES - 1)  # its answer was lost, say
        assert (retry.error_code, retry.base_offset) == (ErrorCode.NONE, BATCHES - 1)
        gap = produce_sequence(client, topic, producer_id, BATCHES + 1)
        assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce_sequence(client, topic, producer_id, BATCHES).base_offset == BATCHES
        assert log_end(client, topic) == BATCHES + 1
    replays = re.findall(rf"{re.escape(topic)}-0: producer state from offset (\d+), (\d+) batches replayed",
                         kafka_broker.log_tail(200))
    assert replays == [(str(bases[-1]), str(BATCHES - bases[-1]))]  # the last segment only


def new_producer_id(client: RawClient) -> int:
    return client.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1), 4).producer_id


def rolled_partition(request, broker: BrokerProcess, retention_ms: int) -> tuple[str, Path]:
    """A topic whose partition holds BATCHES batches of one idempotent producer, in segments of
    three; returns its name and the partition's directory."""
    topic = create_topic(broker.bootstrap_server, unique_topic(request), config={
        "segment.bytes": str(SEGMENT_BYTES), "retention.ms": str(retention_ms)})
    with RawClient(broker.bootstrap_server) as client:
        producer_id = new_producer_id(client)
        for sequence in range(BATCHES):
            produce_sequence(client, topic, producer_id, sequence)
    return topic, broker.data_dir / f"{topic}-0"


def test_delete_records_deletes_the_snapshots_of_the_segments_it_deletes(request, kafka_broker):
    topic, partition_dir = rolled_partition(request, kafka_broker, retention_ms=-1)
    bases = file_offsets(partition_dir, ".log")
    assert len(bases) >= 4 and file_offsets(partition_dir, ".snapshot") == bases[1:]
    with RawClient(kafka_broker.bootstrap_server) as client:
        deleted = client.request(DeleteRecordsRequest(timeout_ms=5000, topics=[DeleteRecordsRequest.DeleteRecordsTopic(
            name=topic, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(partition_index=0,
                                                                                 offset=bases[2])])]), 2)
    assert deleted.topics[0].partitions[0].low_watermark == bases[2]
    assert file_offsets(partition_dir, ".log") == bases[2:]
    assert file_offsets(partition_dir, ".snapshot") == bases[2:]  # at once, not at the next roll


@pytest.mark.broker_config({"log.retention.check.interval.ms": "200"})
def test_retention_deletes_the_snapshots_of_the_segments_it_deletes(request, kafka_broker):
    """Every segment outlives retention.ms (its records are from 2023): all go, and the log rolls to
    an empty segment at its end, whose snapshot is the only one left."""
    _, partition_dir = rolled_partition(request, kafka_broker, retention_ms=3_600_000)
    deadline = time.monotonic() + 20
    while file_offsets(partition_dir, ".log") != [BATCHES]:
        assert time.monotonic() < deadline, file_offsets(partition_dir, ".log")
        time.sleep(0.1)
    assert file_offsets(partition_dir, ".snapshot") == [BATCHES]


@pytest.mark.broker_config({"producer.id.expiration.ms": "3000"})  # checked every 10 minutes (the default)
def test_producers_expired_while_the_broker_was_down_are_not_loaded_from_the_snapshot(request, kafka_broker):
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request), config={"segment.bytes": str(SEGMENT_BYTES)})
    partition_dir = kafka_broker.data_dir / f"{topic}-0"
    with RawClient(bootstrap) as client:
        idle, other = new_producer_id(client), new_producer_id(client)
        started = time.time()
        for sequence in range(3):
            assert produce_sequence(client, topic, idle, sequence, int(started * 1000)).error_code == ErrorCode.NONE
        for sequence in range(4):  # rolls a segment after the idle producer's last batch
            produce_sequence(client, topic, other, sequence, int(started * 1000))
    latest = file_offsets(partition_dir, ".snapshot")[-1]
    assert latest >= 3 and idle in {row.producer_id for row in decode_snapshot(
        (partition_dir / f"{latest:020d}.snapshot").read_bytes())}
    kafka_broker.stop(kill=True)
    time.sleep(max(0.0, started + 3.5 - time.time()))  # the idle producer expires meanwhile
    kafka_broker.restart()
    with RawClient(bootstrap) as client:
        # unknown again: it may start at any sequence, where a known one would be out of order
        assert produce_sequence(client, topic, idle, 10).error_code == ErrorCode.NONE
