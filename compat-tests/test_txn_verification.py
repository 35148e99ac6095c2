"""KIP-890 part 1 on a real broker: a transactional write to a partition that is not in the
producer's transaction is refused with Kafka's codes (raw kproto client, since stock clients
always add partitions first), AddPartitionsToTxn v4/v5 batches and verify-only checks, and stock
transactional producers are unaffected. Also Kafka's checks of a whole transactional Produce: a
transactional id is needed, and one producer only."""

from __future__ import annotations

import uuid

import kafka
import pytest
from confluent_kafka import Consumer, TopicPartition
from kproto import ErrorCode, encode_request
from kproto.frames import frame
from kproto.messages import (
    AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest,
    InitProducerIdRequest,
    ListOffsetsRequest,
    ProduceRequest,
    ProduceResponse,
    RequestHeader,
    TxnOffsetCommitRequest,
)
from kproto.records import Record, build_batch

from conftest import create_topic, unique_topic
from rawclient import RawClient

TIMEOUT = 20
PARTITIONS = 2


class RawProducer:
    """A transactional producer spoken by hand: InitProducerId, AddPartitionsToTxn v3, Produce."""

    def __init__(self, client: RawClient, transactional_id: str) -> None:
        self.client = client
        self.transactional_id = transactional_id
        self.producer_id, self.epoch = -1, -1
        self.init()

    def init(self) -> None:
        response = self.client.request(InitProducerIdRequest(
            transactional_id=self.transactional_id, transaction_timeout_ms=60_000), 4)
        assert response.error_code == ErrorCode.NONE, response
        self.producer_id, self.epoch = response.producer_id, response.producer_epoch

    def add(self, topic: str, partitions: list[int]) -> None:
        response = self.client.request(AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=self.transactional_id, v3_and_below_producer_id=self.producer_id,
            v3_and_below_producer_epoch=self.epoch, v3_and_below_topics=[
                AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=partitions)]), 3)
        assert [p.partition_error_code for p in response.results_by_topic_v3_and_below[0].results_by_partition] == [
            ErrorCode.NONE] * len(partitions)

    def batch(self, epoch: int | None = None) -> bytes:
        return build_batch([Record(0, 1_700_000_000_000, None, b"v")], transactional=True,
                           producer_id=self.producer_id, producer_epoch=self.epoch if epoch is None else epoch,
                           base_sequence=0)

    def produce(self, topic: str, partition: int, version: int, epoch: int | None = None,
                transactional_id: str | None = "") -> ProduceResponse.PartitionProduceResponse:
        request = produce_request(self.transactional_id if transactional_id == "" else transactional_id,
                                  {(topic, partition): self.batch(epoch)})
        return self.client.request(request, version).responses[0].partition_responses[0]


def produce_request(transactional_id: str | None, records: dict[tuple[str, int], bytes],
                    acks: int = -1) -> ProduceRequest:
    """A Produce of one topic's partitions, each with its records."""
    (topic,) = {t for t, _ in records}
    return ProduceRequest(transactional_id=transactional_id, acks=acks, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=p, records=r) for (_, p), r in records.items()])])


def log_end(client: RawClient, topic: str, partition: int) -> int:
    response = client.request(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=partition, timestamp=-1)])]), 5)
    return response.topics[0].partitions[0].offset


@pytest.fixture
def topic(request, bootstrap) -> str:
    return create_topic(bootstrap, unique_topic(request), partitions=PARTITIONS)


@pytest.fixture
def client(bootstrap):
    with RawClient(bootstrap) as c:
        yield c


@pytest.mark.parametrize("version, error, message", [
    (9, ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction"),
    (11, ErrorCode.TRANSACTION_ABORTABLE, None),  # Produce v11 clients know the newer code
])
def test_transactional_batch_for_a_partition_not_in_the_transaction_is_refused(client, topic, version, error, message):
    producer = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    producer.add(topic, [0])
    refused = producer.produce(topic, 1, version)
    assert (refused.error_code, refused.error_message) == (error, message)
    assert log_end(client, topic, 1) == 0
    assert producer.produce(topic, 0, version).error_code == ErrorCode.NONE


def test_transactional_batch_refused_without_a_transactional_id_or_from_a_fenced_epoch(client, topic):
    producer = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    missing = producer.produce(topic, 0, 9, transactional_id=None)
    assert (missing.error_code, missing.error_message) == (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None)
    stale = producer.epoch
    producer.init()  # a new instance: the epoch moves on
    producer.add(topic, [0])
    assert producer.produce(topic, 1, 9, epoch=stale).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert producer.produce(topic, 0, 9).error_code == ErrorCode.NONE
    assert (log_end(client, topic, 0), log_end(client, topic, 1)) == (1, 0)


@pytest.mark.parametrize("version", [3, 9, 11])
def test_transactional_batches_of_two_producers_in_one_request_are_refused_whole(client, topic, version):
    first = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    second = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    first.add(topic, [0])
    second.add(topic, [1])
    response = client.request(produce_request(first.transactional_id, {
        (topic, 0): first.batch(), (topic, 1): second.batch()}), version)
    message = "Transactional records contained more than one producer ID" if version >= 8 else None  # v8+ carry one
    assert [(p.index, p.error_code, p.base_offset, p.error_message)
            for p in response.responses[0].partition_responses] == [
        (0, ErrorCode.INVALID_PRODUCER_ID_MAPPING, -1, message), (1, ErrorCode.INVALID_PRODUCER_ID_MAPPING, -1, message)]
    assert (log_end(client, topic, 0), log_end(client, topic, 1)) == (0, 0)
    # the same epoch counts too: one producer is one id at one epoch
    stale = client.request(produce_request(first.transactional_id, {
        (topic, 0): first.batch(), (topic, 1): first.batch(epoch=first.epoch + 1)}), version)
    assert {p.error_code for p in stale.responses[0].partition_responses} == {ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert first.produce(topic, 0, version).error_code == ErrorCode.NONE  # each producer alone is taken
    assert second.produce(topic, 1, version).error_code == ErrorCode.NONE


def test_with_acks_0_a_request_of_two_producers_closes_the_connection(bootstrap, client, topic):
    first = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    second = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    first.add(topic, [0])
    second.add(topic, [1])
    header = RequestHeader(request_api_key=ProduceRequest.API_KEY, request_api_version=9, correlation_id=99,
                           client_id="rawclient")
    request = produce_request(first.transactional_id, {(topic, 0): first.batch(), (topic, 1): second.batch()}, acks=0)
    with RawClient(bootstrap) as unanswered:
        unanswered.send_bytes(frame(encode_request(header, request)))
        assert unanswered.is_closed_by_peer()  # no answer to acks=0: Kafka closes the connection instead
    assert (log_end(client, topic, 0), log_end(client, topic, 1)) == (0, 0)


@pytest.mark.parametrize("version", [4, 5])
def test_add_partitions_v4_batches_transactions_and_verifies_only(client, topic, version):
    first = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    second = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")

    def transaction(producer: RawProducer, partitions: list[int], verify_only: bool, name: str = topic):
        return AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction(
            transactional_id=producer.transactional_id, producer_id=producer.producer_id,
            producer_epoch=producer.epoch, verify_only=verify_only,
            topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=name, partitions=partitions)])

    def results(*transactions) -> dict[str, dict[int, ErrorCode]]:
        response = client.request(AddPartitionsToTxnRequest(transactions=list(transactions)), version)
        assert response.error_code == ErrorCode.NONE
        return {r.transactional_id: {p.partition_index: p.partition_error_code
                                     for t in r.topic_results for p in t.results_by_partition}
                for r in response.results_by_transaction}

    assert results(transaction(first, [0], verify_only=False), transaction(second, [0, 1], verify_only=True)) == {
        first.transactional_id: {0: ErrorCode.NONE},
        second.transactional_id: {0: ErrorCode.TRANSACTION_ABORTABLE, 1: ErrorCode.TRANSACTION_ABORTABLE}}
    assert results(transaction(first, [0, 1], verify_only=True)) == {
        first.transactional_id: {0: ErrorCode.NONE, 1: ErrorCode.TRANSACTION_ABORTABLE}}
    assert results(transaction(first, [7], verify_only=True, name="no-such-topic")) == {
        first.transactional_id: {7: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}}
    stale = transaction(first, [0], verify_only=True)
    stale.producer_epoch += 1
    assert results(stale) == {first.transactional_id: {0: ErrorCode.PRODUCER_FENCED}}
    assert first.produce(topic, 0, 9).error_code == ErrorCode.NONE  # added by the batched request


def test_txn_offset_commit_needs_the_groups_partition_in_the_transaction(client, topic):
    producer = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
    group = f"g-{topic}"

    def commit() -> ErrorCode:
        response = client.request(TxnOffsetCommitRequest(
            transactional_id=producer.transactional_id, group_id=group, producer_id=producer.producer_id,
            producer_epoch=producer.epoch, topics=[TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(
                name=topic, partitions=[TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition(
                    partition_index=0, committed_offset=5)])]), 3)
        return response.topics[0].partitions[0].error_code

    assert commit() == ErrorCode.INVALID_TXN_STATE
    assert client.committed(group, topic, require_stable=True) == (ErrorCode.NONE, -1)  # nothing committed, nothing pending
    added = client.request(AddOffsetsToTxnRequest(transactional_id=producer.transactional_id,
                                                  producer_id=producer.producer_id, producer_epoch=producer.epoch,
                                                  group_id=group), 3)
    assert added.error_code == ErrorCode.NONE
    assert commit() == ErrorCode.NONE
    assert client.committed(group, topic, require_stable=True) == (ErrorCode.UNSTABLE_OFFSET_COMMIT, -1)  # pending until EndTxn


def test_kafka_python_transactions_across_partitions_are_verified_and_committed(bootstrap, topic):
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"t-{topic}")
    producer.init_transactions()
    producer.begin_transaction()
    for i in range(6):
        producer.send(topic, value=b"%d" % i, partition=i % PARTITIONS)
    producer.commit_transaction()
    producer.close()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    values: list[bytes] = []
    try:
        for _ in range(40):
            values += [m.value() for m in consumer.consume(num_messages=100, timeout=0.5) if m.error() is None]
            if len(values) >= 6:
                break
    finally:
        consumer.close()
    assert sorted(values) == [b"%d" % i for i in range(6)]


@pytest.mark.broker_config({"transaction.partition.verification.enable": "false"})
def test_without_verification_the_batch_is_taken_as_kafka_takes_it(request, kafka_broker):
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request), partitions=PARTITIONS)
    with RawClient(bootstrap) as client:
        producer = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
        assert producer.produce(topic, 1, 9).error_code == ErrorCode.NONE
        assert log_end(client, topic, 1) == 1
        # Kafka's checks of the whole request do not depend on verification
        missing = producer.produce(topic, 0, 9, transactional_id=None)
        assert missing.error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        other = RawProducer(client, f"t-{uuid.uuid4().hex[:8]}")
        two = client.request(produce_request(producer.transactional_id, {
            (topic, 0): producer.batch(), (topic, 1): other.batch()}), 9)
        assert {p.error_code for p in two.responses[0].partition_responses} == {ErrorCode.INVALID_PRODUCER_ID_MAPPING}
        assert (log_end(client, topic, 0), log_end(client, topic, 1)) == (0, 1)
