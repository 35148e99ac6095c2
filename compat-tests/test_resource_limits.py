"""A broker out of file descriptors fails requests with Kafka's error codes, keeps its log short,
leaves no half-created topic behind, accepts again once descriptors are free, and restarts."""

from __future__ import annotations

import re
import socket
import time

from kproto import ErrorCode
from kproto.messages import CreateTopicsRequest

from brokerproc import BrokerProcess
from kbroker.tools.client import Client, ToolError

OPEN_FILE_LIMIT = 200  # the broker's soft and hard limit: a few client connections exhaust it
PARTITIONS = 20


def create_topic(client: Client, name: str):
    request = CreateTopicsRequest(timeout_ms=10_000, topics=[
        CreateTopicsRequest.CreatableTopic(name=name, num_partitions=PARTITIONS, replication_factor=1)])
    return client.send(request).topics[0]


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
        held = hold_connections(broker.port, OPEN_FILE_LIMIT)
        wait_for_line(broker, "cannot accept connections")
        answer = create_topic(admin, "starved")
        assert answer.error_code == ErrorCode.UNKNOWN_SERVER_ERROR, answer
        assert "Too many open files" in answer.error_message
        assert partition_dirs(broker, "starved") == []
        time.sleep(1)  # the accept loop keeps trying meanwhile
        for sock in held:
            sock.close()
        admin.close()
        with connected(broker) as client:
            assert create_topic(client, "starved").error_code == ErrorCode.NONE
        log = broker.log_path.read_text(errors="replace")
        assert "out of system resource" not in log  # asyncio's own accept loop, one line per try
        assert len(re.findall("cannot accept connections", log)) <= 2
        assert len(re.findall("cannot create partitions", log)) <= 2

        broker.restart()
        with connected(broker) as client:
            assert len(client.partitions("starved")) == PARTITIONS
        assert len(partition_dirs(broker, "starved")) == PARTITIONS
        assert not [p for p in broker.data_dir.iterdir() if p.name.endswith("-delete")]
    finally:
        broker.stop()
