"""A broker out of file descriptors fails requests with Kafka's error codes (an append
KAFKA_STORAGE_ERROR, a topic creation UNKNOWN_SERVER_ERROR), keeps its log short,
leaves no half-created topic behind, accepts again once descriptors are free, and restarts.
A write the file system refuses, as a full disk does, fails the append alike and leaves no
part of the batch in the log."""

from __future__ import annotations

import re
import socket
import time

from kproto import ErrorCode
from kproto.messages import CreateTopicsRequest, ProduceRequest
from kproto.records.batch import build_batch
from kproto.records.record import Record

from brokerproc import BrokerProcess
from clients import consume
from kbroker.tools.client import Client, ToolError

OPEN_FILE_LIMIT = 200  # the broker's soft and hard limit: a few client connections exhaust it
FILE_SIZE_LIMIT = 1_000_000  # the largest file the broker may write (RLIMIT_FSIZE): its segment's disk is full there
PARTITIONS = 20


def create_topic(client: Client, name: str, partitions: int = PARTITIONS, **configs: str):
    request = CreateTopicsRequest(timeout_ms=10_000, topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])])
    return client.send(request).topics[0]


def produce(client: Client, topic: str, count: int = 1, value_size: int = 100):
    """One batch of `count` records to partition 0; the partition's answer."""
    records = build_batch([Record(i, 1_700_000_000_000, b"k%d" % i, b"v" * value_size) for i in range(count)])
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=records)])])
    return client.send(request, max_version=9).responses[0].partition_responses[0]


def hold_connections(port: int, count: int) -> list[socket.socket]:
    """Client sockets the broker must accept (or leave in its listen backlog)."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def wait_for_line(broker: BrokerProcess, pattern: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, broker.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no log line like {pattern!r}:\n{broker.log_tail()}"
        time.sleep(0.05)


def connected(broker: BrokerProcess, timeout: float = 15.0) -> Client:
    """A client, once the broker accepts connections again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = Client(broker.bootstrap_server, timeout=5)
            client.metadata([])
            return client
        except ToolError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def partition_dirs(broker: BrokerProcess, topic: str) -> list[str]:
    return sorted(p.name for p in broker.data_dir.iterdir() if re.fullmatch(rf"{topic}-\d+", p.name))


def test_out_of_descriptors_is_an_error_not_a_flood(tmp_path):
    broker = BrokerProcess(tmp_path / "kbroker", open_file_limit=OPEN_FILE_LIMIT)
    broker.start()
    try:
        admin = Client(broker.bootstrap_server, timeout=10)  # connected while descriptors are left
        admin.metadata([])
        # Every append to this topic rolls a new segment, whose files need descriptors.
        assert create_topic(admin, "rolling", 1, **{"segment.bytes": "100"}).error_code == ErrorCode.NONE
        assert produce(admin, "rolling").error_code == ErrorCode.NONE
        held = hold_connections(broker.port, OPEN_FILE_LIMIT)
        wait_for_line(broker, "cannot accept connections")
        answer = create_topic(admin, "starved")
        assert answer.error_code == ErrorCode.UNKNOWN_SERVER_ERROR, answer
        assert "Too many open files" in answer.error_message
        assert partition_dirs(broker, "starved") == []
        assert [produce(admin, "rolling").error_code for _ in range(3)] == [ErrorCode.KAFKA_STORAGE_ERROR] * 3
        time.sleep(1)  # the accept loop keeps trying meanwhile
        for sock in held:
            sock.close()
        admin.close()
        with connected(broker) as client:
            assert create_topic(client, "starved").error_code == ErrorCode.NONE
            assert produce(client, "rolling").error_code == ErrorCode.NONE
        log = broker.log_path.read_text(errors="replace")
        assert "out of system resource" not in log  # asyncio's own accept loop, one line per try
        assert len(re.findall("cannot accept connections", log)) <= 2
        assert len(re.findall("cannot create partitions", log)) <= 2
        assert len(re.findall("cannot append to rolling-0", log)) == 1

        broker.restart()
        with connected(broker) as client:
            assert len(client.partitions("starved")) == PARTITIONS
            assert produce(client, "rolling").error_code == ErrorCode.NONE
        assert len(partition_dirs(broker, "starved")) == PARTITIONS
        assert not [p for p in broker.data_dir.iterdir() if p.name.endswith("-delete")]
    finally:
        broker.stop()


def test_a_refused_write_fails_the_append_and_leaves_no_part_of_it(tmp_path):
    """The batch that crosses the limit is partly written before the file system refuses the rest:
    the append fails with KAFKA_STORAGE_ERROR, that part is cut off again, so a clean restart
    (which trusts its segments) finds only whole batches, and every acknowledged record is read."""
    broker = BrokerProcess(tmp_path / "kbroker", file_size_limit=FILE_SIZE_LIMIT)
    broker.start()
    try:
        with Client(broker.bootstrap_server, timeout=10) as client:
            # Small index files: the default preallocates 10 MiB each, beyond the limit.
            assert create_topic(client, "full", 1, **{"segment.index.bytes": "4096"}).error_code == ErrorCode.NONE
            acknowledged = 0
            while (answer := produce(client, "full", count=100, value_size=1000)).error_code == ErrorCode.NONE:
                assert answer.base_offset == acknowledged
                acknowledged += 100
            assert answer.error_code == ErrorCode.KAFKA_STORAGE_ERROR, answer
            segment = broker.data_dir / "full-0" / "00000000000000000000.log"
            whole = segment.stat().st_size
            assert produce(client, "full", count=100, value_size=1000).error_code == ErrorCode.KAFKA_STORAGE_ERROR
            assert produce(client, "full", count=10).error_code == ErrorCode.NONE  # what still fits goes in
            assert segment.stat().st_size > whole
        assert acknowledged >= 800
        assert len(re.findall("cannot append to full-0", broker.log_path.read_text(errors="replace"))) == 1

        broker.file_size_limit = None
        broker.restart()
        with connected(broker) as client:
            answer = produce(client, "full", count=100, value_size=1000)
            assert (answer.error_code, answer.base_offset) == (ErrorCode.NONE, acknowledged + 10)
        records = consume("confluent", broker.bootstrap_server, "full", acknowledged + 110)
        assert [r.offset for r in records] == list(range(acknowledged + 110))
        assert {len(r.value) for r in records} == {100, 1000}
    finally:
        broker.stop()
