"""Transactions with stock clients: commit, abort, isolation levels, offsets in a transaction across
restarts, fencing, the versions each client speaks, and the hanging-transaction admin calls."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import kafka
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.admin._transactions import AbortTransactionSpec
from kproto import ErrorCode
from kproto.messages import (
    AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest,
    DescribeProducersRequest,
    DescribeTransactionsRequest,
    EndTxnRequest,
    InitProducerIdRequest,
    ListTransactionsRequest,
)

from kproto.records import Record, build_batch

from kbroker.log import LogManager
from kbroker.log.metadata import read_meta_properties
from kbroker.txn.coordinator import TxnMetadata
from kbroker.txn.state_log import STATE_TOPIC, state_record

from brokerproc import BrokerProcess
from conftest import create_topic, unique_topic
from rawclient import RawClient

TIMEOUT = 20
COUNT = 30  # inputs to the consume-transform-produce worker, in batches of five


def txn_producer(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5})
    producer.init_transactions(TIMEOUT)
    return producer


def in_transaction(producer: Producer, topic: str, values: list[bytes], commit: bool) -> None:
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value=value, partition=0)
    producer.flush(TIMEOUT)
    if commit:
        producer.commit_transaction(TIMEOUT)
    else:
        producer.abort_transaction(TIMEOUT)


def with_open_transaction(bootstrap: str, topic: str, value: bytes) -> Producer:
    """A producer whose transaction holds `value`, flushed but neither committed nor aborted."""
    producer = txn_producer(bootstrap, f"t-{topic}")
    producer.begin_transaction()
    producer.produce(topic, value=value, partition=0)
    producer.flush(TIMEOUT)
    return producer


def ck_values(bootstrap: str, topic: str, isolation: str, until: bytes) -> list[bytes]:
    """Values a confluent-kafka consumer reads from the start up to and including `until`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while until not in values and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is None:
                    values.append(msg.value())
    finally:
        consumer.close()
    return values


def kp_values(bootstrap: str, topic: str, isolation: str, until: bytes) -> list[bytes]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation,
                                   auto_offset_reset="earliest", enable_auto_commit=False)
    tp = kafka.TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while until not in values and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values += [r.value for r in records]
    finally:
        consumer.close()
    return values


@pytest.fixture
def committed_and_aborted(request, bootstrap) -> str:
    """A topic holding: a committed transaction, an aborted one, a committed one, then 'end'."""
    topic = create_topic(bootstrap, unique_topic(request))
    producer = txn_producer(bootstrap, f"t-{topic}")
    in_transaction(producer, topic, [b"c1", b"c2"], commit=True)
    in_transaction(producer, topic, [b"a1", b"a2"], commit=False)
    in_transaction(producer, topic, [b"c3"], commit=True)
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, value=b"end", partition=0)
    assert plain.flush(TIMEOUT) == 0
    return topic


@pytest.mark.parametrize("consume", [ck_values, kp_values], ids=["confluent-kafka", "kafka-python"])
def test_read_committed_skips_aborted_records(bootstrap, committed_and_aborted, consume):
    assert consume(bootstrap, committed_and_aborted, "read_committed", b"end") == [b"c1", b"c2", b"c3", b"end"]


@pytest.mark.parametrize("consume", [ck_values, kp_values], ids=["confluent-kafka", "kafka-python"])
def test_read_uncommitted_sees_aborted_records(bootstrap, committed_and_aborted, consume):
    assert consume(bootstrap, committed_and_aborted, "read_uncommitted", b"end") == [
        b"c1", b"c2", b"a1", b"a2", b"c3", b"end"]


def test_open_transaction_holds_back_read_committed(request, bootstrap):
    topic = create_topic(bootstrap, unique_topic(request))
    producer = with_open_transaction(bootstrap, topic, b"open")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "isolation.level": "read_committed"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        assert (low, high) == (0, 0)  # read_committed's latest offset is the last stable offset
        producer.commit_transaction(TIMEOUT)
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        assert (low, high) == (0, 2)  # the record and the commit marker
    finally:
        consumer.close()
    assert ck_values(bootstrap, topic, "read_committed", b"open") == [b"open"]


def test_offsets_sent_in_a_transaction_are_committed_with_it(request, bootstrap):
    topic = create_topic(bootstrap, unique_topic(request))
    group = f"g-{topic}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        producer = txn_producer(bootstrap, f"t-{topic}")
        for commit, offset in ((False, 5), (True, 7)):
            producer.begin_transaction()
            producer.produce(topic, value=b"x", partition=0)
            producer.send_offsets_to_transaction([TopicPartition(topic, 0, offset)],
                                                 consumer.consumer_group_metadata(), TIMEOUT)
            producer.commit_transaction(TIMEOUT) if commit else producer.abort_transaction(TIMEOUT)
            committed = consumer.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset
            assert committed == (offset if commit else -1001)  # nothing is committed by an abort
    finally:
        consumer.close()


def fetch_offset(bootstrap: str, group: str, topic: str, require_stable: bool) -> tuple[ErrorCode, int]:
    """What a read_committed consumer (require_stable) or another one sees committed."""
    with RawClient(bootstrap) as client:
        return client.committed(group, topic, require_stable=require_stable)


@pytest.mark.parametrize("kill, commit", [(False, True), (True, True), (True, False)],
                         ids=["SIGTERM-commit", "SIGKILL-commit", "SIGKILL-abort"])
def test_offsets_sent_in_a_transaction_survive_a_broker_restart(request, kafka_broker, kill, commit):
    """TxnOffsetCommit's offsets are in __consumer_offsets, pending, before EndTxn: a restart keeps them."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    group = f"g-{topic}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    metadata = consumer.consumer_group_metadata()
    consumer.close()
    producer = txn_producer(bootstrap, f"t-{topic}")
    producer.begin_transaction()
    producer.produce(topic, value=b"x", partition=0)
    producer.send_offsets_to_transaction([TopicPartition(topic, 0, 42)], metadata, TIMEOUT)
    assert producer.flush(TIMEOUT) == 0
    kafka_broker.restart(kill=kill)
    assert fetch_offset(bootstrap, group, topic, require_stable=True) == (ErrorCode.UNSTABLE_OFFSET_COMMIT, -1)
    assert fetch_offset(bootstrap, group, topic, require_stable=False) == (ErrorCode.NONE, -1)
    producer.commit_transaction(TIMEOUT) if commit else producer.abort_transaction(TIMEOUT)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed"})
    try:
        assert consumer.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset == (42 if commit else -1001)
    finally:
        consumer.close()
    assert fetch_offset(bootstrap, group, topic, require_stable=True) == (ErrorCode.NONE, 42 if commit else -1)
    kafka_broker.restart(kill=kill)  # the marker is replayed like the offsets
    assert fetch_offset(bootstrap, group, topic, require_stable=True) == (ErrorCode.NONE, 42 if commit else -1)


def test_second_producer_with_the_same_id_fences_the_first(request, bootstrap):
    topic = create_topic(bootstrap, unique_topic(request))
    first = with_open_transaction(bootstrap, topic, b"zombie")
    second = txn_producer(bootstrap, f"t-{topic}")  # aborts the first's open transaction
    in_transaction(second, topic, [b"live"], commit=True)
    with pytest.raises(KafkaException) as caught:
        first.produce(topic, value=b"late", partition=0)
        first.flush(TIMEOUT)
        first.commit_transaction(TIMEOUT)
    assert caught.value.args[0].fatal()
    assert ck_values(bootstrap, topic, "read_committed", b"live") == [b"live"]


def test_transaction_state_survives_a_broker_restart(request, kafka_broker):
    """An open transaction is still known after a restart: a new instance aborts it and fences the old."""
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    first = with_open_transaction(bootstrap, topic, b"before-restart")
    kafka_broker.restart()
    second = txn_producer(bootstrap, f"t-{topic}")
    in_transaction(second, topic, [b"after"], commit=True)
    assert ck_values(bootstrap, topic, "read_committed", b"after") == [b"after"]
    assert ck_values(bootstrap, topic, "read_uncommitted", b"after") == [b"before-restart", b"after"]
    with pytest.raises(KafkaException):
        first.commit_transaction(TIMEOUT)


def test_hanging_transaction_admin_calls(request, bootstrap):
    """DescribeProducers, DescribeTransactions and ListTransactions, as kafka-transactions.sh uses them."""
    topic = create_topic(bootstrap, unique_topic(request))
    producer = with_open_transaction(bootstrap, topic, b"open")
    tid = f"t-{topic}"
    with RawClient(bootstrap) as client:
        described = client.request(DescribeTransactionsRequest(transactional_ids=[tid, "nobody"]), 0)
        state, unknown = described.transaction_states
        assert (state.error_code, state.transaction_state, [(t.topic, t.partitions) for t in state.topics]) == (
            ErrorCode.NONE, "Ongoing", [(topic, [0])])
        assert unknown.error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        producers = client.request(DescribeProducersRequest(topics=[
            DescribeProducersRequest.TopicRequest(name=topic, partition_indexes=[0])]), 0)
        (active,) = producers.topics[0].partitions[0].active_producers
        assert (active.producer_id, active.last_sequence, active.current_txn_start_offset) == (
            state.producer_id, 0, 0)
        listed = client.request(ListTransactionsRequest(state_filters=["Ongoing", "Bogus"]), 1)
        assert tid in [t.transactional_id for t in listed.transaction_states]
        assert listed.unknown_state_filters == ["Bogus"]
        by_pattern = client.request(ListTransactionsRequest(transactional_id_pattern=re.escape(tid)), 2)
        assert [t.transactional_id for t in by_pattern.transaction_states] == [tid]
        assert client.request(ListTransactionsRequest(transactional_id_pattern=re.escape(tid[:-1])),
                              2).transaction_states == []  # the whole id must match
        bad = client.request(ListTransactionsRequest(transactional_id_pattern="(ab(cd"), 2)
        assert bad.error_code == ErrorCode.INVALID_REGULAR_EXPRESSION
        # EndTxn from a producer id the coordinator did not give this transactional id
        wrong = client.request(EndTxnRequest(transactional_id=tid, producer_id=state.producer_id + 1,
                                             producer_epoch=state.producer_epoch, committed=True), 3)
        assert wrong.error_code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    producer.abort_transaction(TIMEOUT)


@pytest.mark.broker_config({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
def test_transaction_outliving_its_timeout_is_aborted(request, kafka_broker):
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"t-{topic}",
                         "transaction.timeout.ms": 1000})
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, value=b"stale", partition=0)
    producer.flush(TIMEOUT)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "isolation.level": "read_committed"})
    try:
        deadline = time.monotonic() + TIMEOUT
        while consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)[1] != 2:
            assert time.monotonic() < deadline, "the open transaction was never aborted"
            time.sleep(0.2)
    finally:
        consumer.close()
    with pytest.raises(KafkaException):
        producer.commit_transaction(TIMEOUT)
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, value=b"end", partition=0)
    assert plain.flush(TIMEOUT) == 0
    assert ck_values(bootstrap, topic, "read_committed", b"end") == [b"end"]


def test_consume_transform_produce_is_exactly_once_across_crashes(request, kafka_broker):
    """A worker SIGKILLed mid-transaction, then a broker restart, then a new worker: one output per input."""
    bootstrap = kafka_broker.bootstrap_server
    source = create_topic(bootstrap, unique_topic(request) + "-in")
    target = create_topic(bootstrap, unique_topic(request) + "-out")
    inputs = Producer({"bootstrap.servers": bootstrap})
    for i in range(COUNT):
        inputs.produce(source, value=b"%d" % i, partition=0)
    assert inputs.flush(TIMEOUT) == 0
    worker = [sys.executable, str(Path(__file__).with_name("txn_worker.py")), bootstrap, source, target,
              f"g-{source}", f"t-{source}", str(COUNT)]
    crashed = subprocess.run(worker + ["2"], timeout=90, capture_output=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    kafka_broker.restart()
    subprocess.run(worker, timeout=90, check=True, capture_output=True)
    outputs = ck_values(bootstrap, target, "read_committed", b"out-%d" % (COUNT - 1))
    assert outputs == [b"out-%d" % i for i in range(COUNT)]


def test_kafka_python_admin_finds_and_aborts_a_hanging_transaction(request, bootstrap):
    """kafka-transactions.sh's flow through kafka-python: list by pattern, describe the partition's
    producers, abort with WriteTxnMarkers; read_committed consumers then move past it."""
    topic = create_topic(bootstrap, unique_topic(request))
    tid = f"t-{topic}"
    producer = with_open_transaction(bootstrap, topic, b"hanging")
    tp = kafka.TopicPartition(topic, 0)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = admin.list_transactions(state_filters=["Ongoing"], transactional_id_pattern=re.escape(tid))
        assert [t.transactional_id for listings in listed.values() for t in listings] == [tid]
        (hanging,) = admin.describe_producers([tp])[tp].active_producers
        assert (hanging.current_transaction_start_offset, hanging.coordinator_epoch) == (0, -1)  # no marker yet
        stale = AbortTransactionSpec(tp, hanging.producer_id, hanging.producer_epoch - 1, hanging.coordinator_epoch)
        with pytest.raises(kafka.errors.InvalidProducerEpochError):
            admin.abort_transaction(stale)
        admin.abort_transaction(AbortTransactionSpec(tp, hanging.producer_id, hanging.producer_epoch,
                                                     hanging.coordinator_epoch))
        (aborted,) = admin.describe_producers([tp])[tp].active_producers
        assert (aborted.current_transaction_start_offset, aborted.coordinator_epoch) == (-1, hanging.coordinator_epoch)
    finally:
        admin.close()
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, value=b"end", partition=0)
    assert plain.flush(TIMEOUT) == 0
    assert ck_values(bootstrap, topic, "read_committed", b"end") == [b"end"]
    producer.abort_transaction(TIMEOUT)  # the coordinator still ends it: one more ABORT marker, harmless


def test_fenced_producers_of_old_versions_hear_invalid_producer_epoch(request, bootstrap):
    """librdkafka speaks AddPartitionsToTxn and AddOffsetsToTxn v0 and EndTxn v1, older than
    PRODUCER_FENCED: a fenced instance is told INVALID_PRODUCER_EPOCH, as Kafka tells it."""
    topic = create_topic(bootstrap, unique_topic(request))
    tid = f"t-{topic}"
    with RawClient(bootstrap) as client:
        first = client.request(InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000), 0)
        second = client.request(InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000), 0)
        assert (second.producer_id, second.producer_epoch) == (first.producer_id, first.producer_epoch + 1)
        fenced = {"transactional_id": tid, "producer_id": first.producer_id, "producer_epoch": first.producer_epoch}
        for version, expected in ((1, ErrorCode.INVALID_PRODUCER_EPOCH), (2, ErrorCode.PRODUCER_FENCED)):
            added = client.request(AddPartitionsToTxnRequest(
                v3_and_below_transactional_id=tid, v3_and_below_producer_id=first.producer_id,
                v3_and_below_producer_epoch=first.producer_epoch, v3_and_below_topics=[
                    AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=[0])]), version)
            assert added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == expected
            assert client.request(AddOffsetsToTxnRequest(group_id="g", **fenced), version).error_code == expected
            assert client.request(EndTxnRequest(committed=True, **fenced), version).error_code == expected
        for version, expected in ((3, ErrorCode.INVALID_PRODUCER_EPOCH), (4, ErrorCode.PRODUCER_FENCED)):
            init = client.request(InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000,
                                                        producer_id=first.producer_id,
                                                        producer_epoch=first.producer_epoch), version)
            assert init.error_code == expected


def seed_transaction_state(broker: BrokerProcess, txn: TxnMetadata) -> None:
    """Restart the broker with `txn` as the last `__transaction_state` record of its id, written while
    it is stopped as its coordinator writes one: the state after 32765 epoch bumps, which would take
    as many InitProducerId requests."""
    broker.stop()
    logs = LogManager([broker.data_dir], read_meta_properties(broker.data_dir).node_id)
    key, value = state_record(txn)
    logs.open(STATE_TOPIC, 0).append(bytearray(build_batch([Record(0, txn.last_update_ms, key, value)])))
    logs.close()
    broker.restart()


@pytest.mark.broker_config({"transaction.state.log.num.partitions": "1"})
def test_a_retry_across_a_producer_id_renewal_gets_the_new_id(request, kafka_broker):
    """Kafka renews a transactional id's producer id when the epoch to bump is 32766, and a KIP-360
    retry naming the old id at that epoch (its answer lost) gets the new id instead of being fenced."""
    topic = create_topic(kafka_broker.bootstrap_server, unique_topic(request))
    tid = f"t-{topic}"

    def init(producer_id: int = -1, epoch: int = -1):
        with RawClient(kafka_broker.bootstrap_server) as client:
            answer = client.request(InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000,
                                                          producer_id=producer_id, producer_epoch=epoch), 4)
        return answer.error_code, answer.producer_id, answer.producer_epoch

    _, old, _ = init()
    seed_transaction_state(kafka_broker, TxnMetadata(tid, old, 32765, 60_000, last_update_ms=int(time.time() * 1000)))
    assert init(old, 32765) == (ErrorCode.NONE, old, 32766)  # 32765 is bumped
    error, new, epoch = init(old, 32766)
    assert (error, new != old, epoch) == (ErrorCode.NONE, True, 0)  # 32766 is not: a new producer id
    assert init(old, 32766) == (ErrorCode.NONE, new, 0)  # the retry
    assert init(old, 32765)[0] == ErrorCode.PRODUCER_FENCED
    with RawClient(kafka_broker.bootstrap_server) as client:
        added = client.request(AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=tid, v3_and_below_producer_id=new, v3_and_below_producer_epoch=0,
            v3_and_below_topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=[0])]), 3)
        assert added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == ErrorCode.NONE
        ended = client.request(EndTxnRequest(transactional_id=tid, producer_id=new, producer_epoch=0,
                                             committed=True), 3)
        assert ended.error_code == ErrorCode.NONE


def test_an_idempotent_producer_asking_again_gets_a_new_producer_id(bootstrap):
    with RawClient(bootstrap) as client:
        first = client.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1), 4)
        again = client.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=-1,
                                                     producer_id=first.producer_id,
                                                     producer_epoch=first.producer_epoch), 4)
    assert again.error_code == ErrorCode.NONE
    assert (again.producer_id != first.producer_id, again.producer_epoch) == (True, 0)


def test_aiokafka_transaction_with_offsets_in_version_0_requests(request, bootstrap):
    """aiokafka speaks v0 of every transaction API (no generation in TxnOffsetCommit)."""
    topic = create_topic(bootstrap, unique_topic(request))
    group = f"g-{topic}"

    async def transact() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"t-{topic}")
        await producer.start()
        try:
            for commit, offset in ((False, 3), (True, 8)):
                await producer.begin_transaction()
                await producer.send_and_wait(topic, b"committed" if commit else b"aborted", partition=0)
                await producer.send_offsets_to_transaction({AioTopicPartition(topic, 0): offset}, group)
                await (producer.commit_transaction() if commit else producer.abort_transaction())
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(transact(), TIMEOUT * 2))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed"})
    try:
        assert consumer.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset == 8
    finally:
        consumer.close()
    assert ck_values(bootstrap, topic, "read_committed", b"committed") == [b"committed"]


@pytest.mark.broker_config({"transactional.id.expiration.ms": "1000",
                            "transaction.remove.expired.transaction.cleanup.interval.ms": "200",
                            # one partition: creating 50 can take longer than the expiration on a busy machine
                            "transaction.state.log.num.partitions": "1"})
def test_an_unused_transactional_id_expires_and_stays_gone_after_a_restart(request, kafka_broker):
    bootstrap = kafka_broker.bootstrap_server
    topic = create_topic(bootstrap, unique_topic(request))
    producer = txn_producer(bootstrap, f"t-{topic}")
    in_transaction(producer, topic, [b"done"], commit=True)

    def described() -> ErrorCode:
        with RawClient(bootstrap) as client:
            answer = client.request(DescribeTransactionsRequest(transactional_ids=[f"t-{topic}"]), 0)
        return answer.transaction_states[0].error_code

    deadline = time.monotonic() + TIMEOUT
    while described() == ErrorCode.NONE:
        assert time.monotonic() < deadline, "the idle transactional id never expired"
        time.sleep(0.2)
    assert described() == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
    kafka_broker.restart(kill=True)
    assert described() == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND  # its tombstone is replayed
