"""Fetch details that stock clients rely on without showing them: sessions, long polls, whole batches."""

from __future__ import annotations

import select
import struct
import threading
import time
import uuid

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from kproto import ErrorCode, decode_response, encode_request
from kproto.frames import frame
from kproto.messages import CreateTopicsRequest, FetchRequest, ProduceRequest, RequestHeader
from rawclient import RawClient

FETCH_VERSION = 12


def create(client: RawClient, partitions: int) -> str:
    name = f"f-{uuid.uuid4().hex[:10]}"
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1)], timeout_ms=10000), 5)
    assert response.topics[0].error_code == ErrorCode.NONE
    return name


def produce_request(topic: str, partition: int, count: int) -> ProduceRequest:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=2**30)
    for i in range(count):
        builder.append(i, timestamp=int(time.time() * 1000), key=None, value=b"v%d" % i, headers=[])
    return ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=partition, records=bytes(builder.build()))])])


def produce(client: RawClient, topic: str, partition: int, count: int) -> int:
    response = client.request(produce_request(topic, partition, count), 9)
    result = response.responses[0].partition_responses[0]
    assert result.error_code == ErrorCode.NONE
    return result.base_offset


def fetch(client: RawClient, topic: str, offsets: dict[int, int], *, session_id: int = 0, epoch: int = -1,
          max_wait_ms: int = 0, min_bytes: int = 1, forgotten: list[int] | None = None, max_bytes: int = 1 << 20):
    request = FetchRequest(
        replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=max_bytes, isolation_level=0,
        session_id=session_id, session_epoch=epoch,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
            for p, o in offsets.items()])] if offsets else [],
        forgotten_topics_data=[FetchRequest.ForgottenTopic(topic=topic, partitions=forgotten)] if forgotten else [],
    )
    return client.request(request, FETCH_VERSION)


def partitions_in(response) -> dict[int, object]:
    return {p.partition_index: p for t in response.responses for p in t.partitions}


@pytest.fixture
def client(shared_broker):
    with RawClient(shared_broker.bootstrap_server) as c:
        yield c


def test_incremental_fetch_session_sends_only_what_changed(client):
    topic = create(client, 2)
    produce(client, topic, 0, 3)
    full = fetch(client, topic, {0: 0, 1: 0}, epoch=0)
    assert full.error_code == ErrorCode.NONE and full.session_id != 0
    assert set(partitions_in(full)) == {0, 1}
    session = full.session_id

    consumed = fetch(client, topic, {0: 3}, session_id=session, epoch=1)  # the client read p0 up to offset 3
    assert (consumed.error_code, partitions_in(consumed)) == (ErrorCode.NONE, {}), "nothing new anywhere"

    produce(client, topic, 1, 2)
    update = fetch(client, topic, {}, session_id=session, epoch=2)
    changed = partitions_in(update)
    assert set(changed) == {1}, "only the partition with new records comes back"
    assert changed[1].high_watermark == 2 and changed[1].records

    assert fetch(client, topic, {}, session_id=session, epoch=9).error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    forget = fetch(client, topic, {}, session_id=session, epoch=3, forgotten=[1])
    assert forget.error_code == ErrorCode.NONE
    produce(client, topic, 1, 1)
    assert partitions_in(fetch(client, topic, {}, session_id=session, epoch=4)) == {}, "a forgotten partition stays out"

    closed = fetch(client, topic, {0: 0}, session_id=session, epoch=-1)
    assert closed.error_code == ErrorCode.NONE and closed.session_id == 0
    gone = fetch(client, topic, {}, session_id=session, epoch=5)
    assert gone.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_long_poll_is_woken_by_an_append(client, shared_broker):
    topic = create(client, 1)

    def produce_later() -> None:
        time.sleep(0.5)
        with RawClient(shared_broker.bootstrap_server) as other:
            produce(other, topic, 0, 1)

    threading.Thread(target=produce_later).start()
    started = time.monotonic()
    response = fetch(client, topic, {0: 0}, max_wait_ms=20000)
    waited = time.monotonic() - started
    assert partitions_in(response)[0].records, "the fetch returned the appended batch"
    assert 0.4 < waited < 10, f"answered after {waited:.1f}s: woken by the append, not by max_wait_ms"


def send_only(client: RawClient, message, version: int) -> None:
    """Send a request and leave its answer unread, so the next request can follow at once."""
    client.correlation_id += 1
    client.send_bytes(frame(encode_request(RequestHeader(
        request_api_key=message.API_KEY, request_api_version=version, correlation_id=client.correlation_id,
        client_id="test"), message)))


def test_a_long_poll_sees_an_append_that_lands_while_it_starts(shared_broker):
    """A fetch that finds nothing and an append read in the same event-loop turn: the long poll
    must see the append, not wait out max_wait_ms. A big produce keeps the broker busy so that
    the fetch and the small produce behind it arrive together."""
    with RawClient(shared_broker.bootstrap_server) as busy, RawClient(shared_broker.bootstrap_server) as reader, \
            RawClient(shared_broker.bootstrap_server, timeout=5) as writer:
        topic, ballast = create(busy, 1), create(busy, 1)
        big = produce_request(ballast, 0, 20000)
        for round_ in range(15):
            offset = produce(writer, topic, 0, 1) + 1
            send_only(busy, big, 9)
            request = FetchRequest(replica_id=-1, max_wait_ms=30000, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                                   session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(
                                       topic=topic, partitions=[FetchRequest.FetchPartition(
                                           partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)])])
            send_only(reader, request, FETCH_VERSION)
            send_only(writer, produce_request(topic, 0, 1), 9)
            reader.sock.settimeout(5)
            size = struct.unpack(">i", reader.read_exact(4))[0]  # socket.timeout here: the append was missed
            _, response = decode_response(reader.read_exact(size), FetchRequest.API_KEY, FETCH_VERSION)
            assert partitions_in(response)[0].records, f"round {round_}: the fetch came back without the append"
            for client in (busy, writer):
                size = struct.unpack(">i", client.read_exact(4))[0]
                client.read_exact(size)


def test_a_woken_fetch_is_answered_before_the_produce_that_woke_it(shared_broker):
    """The consumer waits for the records, the producer only for its acknowledgement: the answer to
    a long poll that an append woke leaves first, so it is there when the producer's arrives."""
    with RawClient(shared_broker.bootstrap_server) as reader, RawClient(shared_broker.bootstrap_server) as writer:
        topic = create(writer, 1)
        for round_ in range(10):
            offset = produce(writer, topic, 0, 1) + 1
            send_only(reader, FetchRequest(replica_id=-1, max_wait_ms=30000, min_bytes=1, max_bytes=1 << 20,
                                           isolation_level=0, session_id=0, session_epoch=-1,
                                           topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                                               FetchRequest.FetchPartition(partition=0, fetch_offset=offset,
                                                                           partition_max_bytes=1 << 20)])]),
                      FETCH_VERSION)
            time.sleep(0.2)  # the fetch finds nothing and waits
            produce(writer, topic, 0, 1)
            readable, _, _ = select.select([reader.sock], [], [], 0)
            assert readable, f"round {round_}: the producer was answered before the fetch it woke"
            reader.sock.settimeout(5)
            size = struct.unpack(">i", reader.read_exact(4))[0]
            _, response = decode_response(reader.read_exact(size), FetchRequest.API_KEY, FETCH_VERSION)
            assert partitions_in(response)[0].records


def test_long_poll_without_data_waits_max_wait(client):
    topic = create(client, 1)
    started = time.monotonic()
    response = fetch(client, topic, {0: 0}, max_wait_ms=700)
    waited = time.monotonic() - started
    assert partitions_in(response)[0].records == b""
    assert waited >= 0.6


def test_fetch_from_inside_a_batch_returns_the_whole_batch(client):
    topic = create(client, 1)
    produce(client, topic, 0, 5)
    records = partitions_in(fetch(client, topic, {0: 3}))[0].records
    base_offset = int.from_bytes(records[:8], "big")
    assert base_offset == 0, "the batch holding offset 3 starts at 0 and comes back whole"


def test_fetch_past_the_end_is_offset_out_of_range(client):
    topic = create(client, 1)
    produce(client, topic, 0, 2)
    assert partitions_in(fetch(client, topic, {0: 5}))[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE


@pytest.mark.broker_config({"fetch.max.bytes": "1024"})
def test_fetch_max_bytes_caps_a_response_below_what_it_asks(kafka_broker):
    """Three partitions of one 620-byte batch each: a fetch asking for 1 MiB gets the first batch
    whole and then only what fits under the broker's 1024 bytes (the rest of the budget as a cut
    batch, which clients drop, as from Kafka); one asking for less keeps its own limit."""
    with RawClient(kafka_broker.bootstrap_server) as client:
        topic = create(client, 3)
        for partition in range(3):
            produce_padded(client, topic, partition)
        sizes = [len(p.records or b"") for p in partitions_in(fetch(client, topic, {0: 0, 1: 0, 2: 0})).values()]
        assert sizes[0] == 620 and sum(sizes) == 1024
        sizes = [len(p.records or b"") for p in partitions_in(fetch(client, topic, {0: 0, 1: 0, 2: 0},
                                                                      max_bytes=700)).values()]
        assert sizes[0] == 620 and sum(sizes) == 700


def produce_padded(client: RawClient, topic: str, partition: int) -> None:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=2**30)
    builder.append(0, timestamp=int(time.time() * 1000), key=None, value=b"x" * 550, headers=[])
    response = client.request(ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=partition, records=bytes(builder.build()))])]), 9)
    assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE


def test_a_fetch_older_than_v10_of_a_zstd_topic_is_unsupported_compression(client):
    """Kafka answers a fetcher that cannot read zstd so for a topic stored in zstd, whatever is in it."""
    name = f"z-{uuid.uuid4().hex[:10]}"
    response = client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1, configs=[CreateTopicsRequest.CreatableTopicConfig(
            name="compression.type", value="zstd")])], timeout_ms=10000), 5)
    assert response.topics[0].error_code == ErrorCode.NONE
    produce(client, name, 0, 3)
    request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, topics=[
        FetchRequest.FetchTopic(topic=name, partitions=[FetchRequest.FetchPartition(
            partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    old = partitions_in(client.request(request, 9))[0]
    assert old.error_code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE and not old.records
    assert partitions_in(client.request(request, 10))[0].records
