"""Record bytes as real clients send them: librdkafka (confluent-kafka) and kafka-python.

A small broker stand-in answers just enough (ApiVersions, Metadata, InitProducerId, Produce) for a
producer to send; it keeps the records bytes of each ProduceRequest, which our readers decode.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable, Iterator

import confluent_kafka
import kafka
import pytest
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

from kproto.compression import Codec
from kproto.records import (
    decode_batches,
    decode_message_set,
    iter_batch_headers,
    message_set_to_batch,
    validate_batch,
)

pytestmark = pytest.mark.timeout(60)

TOPIC = "captured"
PRODUCER_ID = 4242
REQUESTS = {18: ApiVersionsRequest, 3: MetadataRequest, 22: InitProducerIdRequest, 0: ProduceRequest}
# Fetch (1) and FindCoordinator (10) are never served but must be advertised: librdkafka infers
# from them whether the broker reads magic 2, LZ4 and zstd.
ADVERTISED = {0: (0, 9), 1: (0, 12), 3: (0, 12), 10: (0, 4), 18: (0, 3), 22: (0, 4)}
KAFKA_0_10 = {0: (0, 2), 1: (0, 3), 3: (0, 1), 10: (0, 0), 18: (0, 0)}  # a broker that reads magic 1 at most
LEGACY_PRODUCE_VERSION = 3  # below this, kafka-python has no ProduceRequest class: parsed here


def recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class CaptureBroker:
    """One-partition broker stand-in on 127.0.0.1 that records what producers send."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.record_sets: list[bytes] = []
        self.advertised = ADVERTISED
        self.connections: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.start(self.accept)

    def start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections.append(conn)
            self.start(self.serve, conn)

    def serve(self, conn: socket.socket) -> None:
        try:
            while True:
                (size,) = struct.unpack(">i", recv_exact(conn, 4))
                payload = recv_exact(conn, size)
                key, version, correlation_id = struct.unpack_from(">hhi", payload)
                if key == 0 and version < LEGACY_PRODUCE_VERSION:
                    reply = self.legacy_produce(payload, version, correlation_id)
                else:
                    reply = self.answer(REQUESTS[key].decode(payload, version=version, header=True), version)
                if reply:
                    conn.sendall(reply)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def answer(self, request: object, version: int) -> bytes | None:
        if isinstance(request, ApiVersionsRequest):
            response = ApiVersionsResponse(error_code=0, throttle_time_ms=0, api_keys=[
                ApiVersionsResponse.ApiVersion(api_key=k, min_version=lo, max_version=hi)
                for k, (lo, hi) in self.advertised.items()])
        elif isinstance(request, MetadataRequest):
            response = self.metadata([t.name for t in request.topics or []] or [TOPIC])
        elif isinstance(request, InitProducerIdRequest):
            response = InitProducerIdResponse(throttle_time_ms=0, error_code=0, producer_id=PRODUCER_ID,
                                              producer_epoch=3)
        else:
            response = self.produce(request)
            if request.acks == 0:
                return None
        response.API_VERSION = version
        response.with_header(correlation_id=request.header.correlation_id)
        return response.encode(header=True, framed=True)

    def metadata(self, names: list[str]) -> MetadataResponse:
        partition = MetadataResponse.MetadataResponseTopic.MetadataResponsePartition(
            error_code=0, partition_index=0, leader_id=0, leader_epoch=0, replica_nodes=[0], isr_nodes=[0],
            offline_replicas=[])
        return MetadataResponse(
            throttle_time_ms=0, cluster_id="capture", controller_id=0,
            brokers=[MetadataResponse.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=self.port,
                                                             rack=None)],
            topics=[MetadataResponse.MetadataResponseTopic(error_code=0, name=name, is_internal=False,
                                                           partitions=[partition]) for name in names])

    def produce(self, request: ProduceRequest) -> ProduceResponse:
        answer = ProduceResponse.TopicProduceResponse
        topics = []
        for topic in request.topic_data:
            partitions = []
            for data in topic.partition_data:
                self.record_sets.append(bytes(data.records))
                partitions.append(answer.PartitionProduceResponse(index=data.index, error_code=0, base_offset=0,
                                                                  log_append_time_ms=-1, log_start_offset=0))
            topics.append(answer(name=topic.name, partition_responses=partitions))
        return ProduceResponse(responses=topics, throttle_time_ms=0)

    def legacy_produce(self, payload: bytes, version: int, correlation_id: int) -> bytes | None:
        """Produce v0-2: one topic, one partition, as the producers here send it."""
        (client_id_size,) = struct.unpack_from(">h", payload, 8)
        pos = 10 + max(client_id_size, 0)
        acks, _timeout, _topics, name_size = struct.unpack_from(">hiih", payload, pos)
        pos += 12
        name = payload[pos:pos + name_size]
        pos += name_size
        _partitions, partition, size = struct.unpack_from(">iii", payload, pos)
        pos += 12
        self.record_sets.append(payload[pos:pos + size])
        if acks == 0:
            return None
        body = struct.pack(">ii", correlation_id, 1) + struct.pack(">h", len(name)) + name
        body += struct.pack(">iihq", 1, partition, 0, 0)
        body += struct.pack(">q", -1) if version >= 2 else b""
        body += struct.pack(">i", 0) if version >= 1 else b""
        return struct.pack(">i", len(body)) + body

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        for conn in self.connections:
            conn.close()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def broker() -> Iterator[CaptureBroker]:
    capture = CaptureBroker()
    yield capture
    capture.close()


COUNT = 6
TIMESTAMP = 1_700_000_000_000


def message(i: int) -> tuple[bytes, bytes, list[tuple[str, bytes]], int]:
    """Key, compressible value (clients skip compression that does not pay), headers, timestamp."""
    return b"key-%d" % i, b"value %d, said the client. " % i * 40, [("trace", b"id-%d" % i), ("n", b"")], TIMESTAMP + i


def send_with_librdkafka(port: int, codec: str, with_headers: bool = True, **extra: object) -> None:
    config = {"bootstrap.servers": f"127.0.0.1:{port}", "compression.type": codec, "linger.ms": 100,
              "enable.idempotence": False, "broker.address.family": "v4", "message.timeout.ms": 20_000}
    config.update(extra)
    producer = confluent_kafka.Producer(config)
    for i in range(COUNT):
        key, value, headers, timestamp = message(i)
        if not with_headers:
            headers = None
        producer.produce(TOPIC, key=key, value=value, headers=headers, timestamp=timestamp)
    assert producer.flush(20) == 0


def send_with_kafka_python(port: int, codec: str, idempotent: bool = False) -> None:
    producer = kafka.KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", linger_ms=100,
                                   compression_type=None if codec == "none" else codec,
                                   enable_idempotence=idempotent, acks="all" if idempotent else 1)
    try:
        for i in range(COUNT):
            key, value, headers, timestamp = message(i)
            producer.send(TOPIC, key=key, value=value, headers=headers, timestamp_ms=timestamp)
        producer.flush(timeout=20)
    finally:
        producer.close(timeout=5)


def captured_batches(broker: CaptureBroker) -> list:
    batches = []
    for record_set in broker.record_sets:
        for pos, _ in iter_batch_headers(record_set):
            validate_batch(record_set, pos)
        batches += decode_batches(record_set)
    return batches


def check_records(batches: list, with_headers: bool = True) -> None:
    records = [r for batch in batches for r in batch.records]
    assert [(r.key, r.value, r.timestamp) for r in records] == [message(i)[:2] + (message(i)[3],) for i in range(COUNT)]
    if with_headers:
        assert [list(r.headers) for r in records] == [message(i)[2] for i in range(COUNT)]


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("send", [send_with_librdkafka, send_with_kafka_python], ids=["librdkafka", "kafka-python"])
@pytest.mark.parametrize("codec", CODECS)
def test_client_batches(broker: CaptureBroker, send: Callable[[int, str], None], codec: str) -> None:
    send(broker.port, codec)
    batches = captured_batches(broker)
    assert {b.header.compression for b in batches} == {Codec[codec.upper()]}
    check_records(batches)


def test_idempotent_producers_fill_the_producer_fields(broker: CaptureBroker) -> None:
    send_with_librdkafka(broker.port, "lz4", **{"enable.idempotence": True, "acks": "all"})
    send_with_kafka_python(broker.port, "gzip", idempotent=True)
    batches = captured_batches(broker)
    assert {(b.header.producer_id, b.header.producer_epoch) for b in batches} == {(PRODUCER_ID, 3)}
    by_client = [[b for b in batches if b.header.compression == codec] for codec in (Codec.LZ4, Codec.GZIP)]
    for client_batches in by_client:
        assert client_batches[0].header.base_sequence == 0
        check_records(client_batches)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_librdkafka_legacy_message_sets(broker: CaptureBroker, magic: int, codec: str) -> None:
    if magic == 0:  # a broker older than ApiVersions: the client is told which version to assume
        send_with_librdkafka(broker.port, codec, False,
                             **{"api.version.request": False, "broker.version.fallback": "0.9.0"})
    else:
        broker.advertised = KAFKA_0_10
        send_with_librdkafka(broker.port, codec, False)
    assert broker.record_sets and all(s[16] == magic for s in broker.record_sets)
    records = [r for record_set in broker.record_sets for r in decode_message_set(record_set)]
    expected_time = (lambda i: TIMESTAMP + i) if magic else (lambda i: -1)
    assert [(r.key, r.value, r.timestamp) for r in records] == [message(i)[:2] + (expected_time(i),)
                                                                  for i in range(COUNT)]
    converted = [r for s in broker.record_sets for r in decode_batches(message_set_to_batch(s))[0].records]
    assert [(r.key, r.value) for r in converted] == [(r.key, r.value) for r in records]
