"""Bad input gets Kafka's error code, and nothing of it is appended; bad frames cost one connection only.

These drive a real broker process with exact requests (a raw kproto client), since stock
clients refuse to send most of this.
"""

from __future__ import annotations

import struct
import time
import uuid

import crc32c
import kafka
import kafka.errors
import pytest
from confluent_kafka import KafkaError, Producer
from kafka.record.default_records import DefaultRecordBatchBuilder

from brokerproc import BrokerProcess
from kproto import ErrorCode
from kproto.frames import frame
from kproto.messages import (
    ApiVersionsRequest,
    CreateTopicsRequest,
    ListOffsetsRequest,
    MetadataRequest,
    ProduceRequest,
    ProduceResponse,
    RequestHeader,
)
from kproto.protocol import decode_response, encode_request
from rawclient import RawClient

MAX_REQUEST = 1024 * 1024
PRODUCE_VERSION = 9


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    proc = BrokerProcess(tmp_path_factory.mktemp("bad-input"), config={
        "auto.create.topics.enable": "false",
        "socket.request.max.bytes": str(MAX_REQUEST),
    })
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def client(broker):
    with RawClient(broker.bootstrap_server) as c:
        yield c


def new_topic(client: RawClient, configs: dict[str, str] | None = None) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()],
    )], timeout_ms=10000), 5)
    assert response.topics[0].error_code == ErrorCode.NONE, response
    return name


def batch(count: int = 3, value: bytes = b"value", compression: int = 0, keyless: tuple[int, ...] = (),
          timestamps: list[int] | None = None) -> bytearray:
    """A kafka-python-built batch; the records at the `keyless` indexes have no key."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=2**30)
    for i in range(count):
        builder.append(i, timestamp=timestamps[i] if timestamps else 1_700_000_000_000 + i,
                       key=None if i in keyless else b"k%d" % i, value=value, headers=[])
    return bytearray(builder.build())


def produce(client: RawClient, topic: str, records: bytes,
            version: int = PRODUCE_VERSION) -> ProduceResponse.PartitionProduceResponse:
    response = client.request(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=bytes(records))])]), version)
    return response.responses[0].partition_responses[0]


def log_end(client: RawClient, topic: str) -> int:
    response = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-1)])]), 5)
    partition = response.topics[0].partitions[0]
    assert partition.error_code == ErrorCode.NONE
    return partition.offset


def test_good_batch_is_appended(client):
    topic = new_topic(client)
    result = produce(client, topic, batch())
    assert (result.error_code, result.base_offset) == (ErrorCode.NONE, 0)
    assert log_end(client, topic) == 3


def test_crc_mismatch_is_corrupt_message_and_nothing_appended(client):
    topic = new_topic(client)
    bad = batch()
    bad[-1] ^= 0xFF  # a byte of the last record: covered by the CRC
    result = produce(client, topic, bad)
    assert result.error_code == ErrorCode.CORRUPT_MESSAGE
    assert log_end(client, topic) == 0


def test_record_count_mismatch_in_an_intact_batch_is_invalid_record(client):
    topic = new_topic(client)
    bad = batch(count=3)
    struct.pack_into(">i", bad, 57, 4)  # the record count field says 4, the batch holds 3
    fix_crc(bad)
    result = produce(client, topic, bad)
    assert result.error_code == ErrorCode.INVALID_RECORD  # Kafka: the CRC holds, so not CORRUPT_MESSAGE
    assert log_end(client, topic) == 0


@pytest.mark.parametrize("compression", [0, DefaultRecordBatchBuilder.CODEC_LZ4])
def test_keyless_record_on_a_compacted_topic_fails_the_batch_with_its_index(client, compression):
    topic = new_topic(client, {"cleanup.policy": "compact"})
    result = produce(client, topic, batch(count=3, keyless=(1,), compression=compression))
    assert result.error_code == ErrorCode.INVALID_RECORD
    assert [e.batch_index for e in result.record_errors] == [1]
    assert "key" in result.record_errors[0].batch_index_error_message and "key" in result.error_message
    assert log_end(client, topic) == 0
    assert produce(client, topic, batch(count=3)).error_code == ErrorCode.NONE


def test_timestamps_beyond_the_topics_bounds_are_invalid_timestamp_with_their_indexes(client):
    topic = new_topic(client, {"message.timestamp.before.max.ms": "3600000",
                               "message.timestamp.after.max.ms": "3600000"})
    now = int(time.time() * 1000)
    result = produce(client, topic, batch(count=4, timestamps=[now, now - 7_200_000, now, now + 7_200_000]))
    assert result.error_code == ErrorCode.INVALID_TIMESTAMP
    assert [e.batch_index for e in result.record_errors] == [1, 3]
    assert result.error_message
    assert log_end(client, topic) == 0
    assert produce(client, topic, batch(count=2, timestamps=[now, now])).error_code == ErrorCode.NONE


def test_a_batch_with_a_base_offset_is_invalid_record(client):
    topic = new_topic(client)
    bad = batch()
    struct.pack_into(">q", bad, 0, 42)  # outside the CRC
    assert produce(client, topic, bad).error_code == ErrorCode.INVALID_RECORD
    assert log_end(client, topic) == 0


def test_confluent_kafka_learns_its_keyless_records_are_refused_on_a_compacted_topic(broker, client):
    topic = new_topic(client, {"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": broker.bootstrap_server, "linger.ms": 0, "retries": 0})
    errors = []
    for key, value in ((None, b"no key"), (b"k", b"keyed")):  # one batch each: a batch fails as a whole
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, msg: errors.append(err))
        assert producer.flush(10) == 0
    assert [e.code() if e else None for e in errors] == [KafkaError.INVALID_RECORD, None]
    assert log_end(client, topic) == 1


def test_kafka_python_learns_its_old_timestamp_is_refused(broker, client):
    topic = new_topic(client, {"message.timestamp.before.max.ms": "60000"})
    producer = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap_server, retries=0)
    try:
        with pytest.raises(kafka.errors.InvalidTimestampError):
            producer.send(topic, b"old", timestamp_ms=int(time.time() * 1000) - 3_600_000).get(10)
        assert producer.send(topic, b"new").get(10).offset == 0
    finally:
        producer.close()


def fix_crc(buf: bytearray) -> None:
    struct.pack_into(">I", buf, 17, crc32c.crc32c(bytes(buf[21:])))


def test_batch_over_max_message_bytes_is_message_too_large(client):
    topic = new_topic(client, {"max.message.bytes": "2000"})
    result = produce(client, topic, batch(count=1, value=b"x" * 5000))
    assert result.error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert log_end(client, topic) == 0


def test_zstd_before_produce_v7_is_unsupported_compression_type(client):
    topic = new_topic(client)
    zstd = batch(value=b"v" * 500, compression=DefaultRecordBatchBuilder.CODEC_ZSTD)  # small ones stay plain
    result = produce(client, topic, zstd, version=6)
    assert result.error_code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    assert log_end(client, topic) == 0
    assert produce(client, topic, zstd, version=7).error_code == ErrorCode.NONE
    assert log_end(client, topic) == 3


def test_unknown_topic_with_auto_create_off(client):
    name = f"missing-{uuid.uuid4().hex[:8]}"
    meta = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)],
                                          allow_auto_topic_creation=True), 12)
    assert meta.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert produce(client, name, batch()).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("name", ["bad name", "a" * 250, "..", "slash/topic"])
def test_illegal_topic_name_is_invalid_topic(client, name):
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1)], timeout_ms=5000), 5)
    assert response.topics[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_replication_factor_above_one_is_refused(client):
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=f"rf-{uuid.uuid4().hex[:8]}", num_partitions=1, replication_factor=3)], timeout_ms=5000), 5)
    assert response.topics[0].error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert "replication factor" in response.topics[0].error_message


def assert_still_serving(broker: BrokerProcess) -> None:
    with RawClient(broker.bootstrap_server) as other:
        assert other.request(ApiVersionsRequest(), 0).error_code == ErrorCode.NONE


def test_oversized_request_closes_only_that_connection(broker, client):
    with RawClient(broker.bootstrap_server) as bystander:
        client.send_bytes(struct.pack(">i", MAX_REQUEST + 1) + b"\0" * 64)
        assert client.is_closed_by_peer()
        assert bystander.request(ApiVersionsRequest(), 0).error_code == ErrorCode.NONE
    assert "closing connection" in broker.log_tail()


@pytest.mark.parametrize("payload", [
    struct.pack(">i", 3) + b"\x00\x03\x00",  # a frame shorter than any request header
    struct.pack(">i", -5),  # a negative size
    struct.pack(">i", 10) + struct.pack(">hhi", 3, 12, 1) + b"\xff\xff",  # Metadata v12 cut inside its body
])
def test_malformed_frame_closes_the_connection(broker, client, payload):
    client.send_bytes(payload)
    assert client.is_closed_by_peer()
    assert_still_serving(broker)


def test_unknown_api_key_closes_the_connection(broker, client):
    body = struct.pack(">hhih", 999, 0, 1, -1)
    client.send_bytes(struct.pack(">i", len(body)) + body)
    assert client.is_closed_by_peer()
    assert_still_serving(broker)


def test_newer_api_versions_request_gets_a_v0_answer(client):
    body = struct.pack(">hhih", 18, 99, 42, -1)
    client.send_bytes(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", client.read_exact(4))[0]
    payload = client.read_exact(size)
    correlation_id, error_code = struct.unpack_from(">ih", payload)
    assert (correlation_id, error_code) == (42, ErrorCode.UNSUPPORTED_VERSION)


def test_pipelined_requests_are_answered_in_order_before_a_bad_frame_closes_the_connection(client):
    topic = new_topic(client)
    frames = b"".join(frame(encode_request(
        RequestHeader(request_api_key=0, request_api_version=PRODUCE_VERSION, correlation_id=100 + i,
                      client_id="pipeline"),
        ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
            name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=bytes(batch(2)))])]),
    )) for i in range(5))
    client.send_bytes(frames + struct.pack(">i", -5))  # five produce requests and a bad frame, in one write
    answers = []
    for _ in range(5):
        size = struct.unpack(">i", client.read_exact(4))[0]
        header, response = decode_response(client.read_exact(size), 0, PRODUCE_VERSION)
        partition = response.responses[0].partition_responses[0]
        answers.append((header.correlation_id, partition.error_code, partition.base_offset))
    assert answers == [(100 + i, ErrorCode.NONE, 2 * i) for i in range(5)]
    assert client.is_closed_by_peer()
