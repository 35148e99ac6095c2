"""Every client produces and reads back keyed records with headers under every compression codec,
and a topic's compression.type has the broker store them in the codec it names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from brokerproc import BrokerProcess
from clients import CLIENTS, COMPRESSIONS, Out, consume, produce
from kproto.compression import Codec
from kproto.records import iter_batch_headers

pytestmark = pytest.mark.timeout(90)

HEADERS = (("trace", b"abc-123"), ("trace", b"second value, same key"), ("empty", b""))


def sample(tag: str, count: int = 5) -> list[Out]:
    """Keyed records, one keyless, values long enough that codecs actually compress."""
    recs = [Out(value=f"{tag}-value-{i}-".encode() * 20, key=f"key-{i}".encode(), headers=HEADERS, partition=0)
            for i in range(count - 1)]
    return recs + [Out(value=f"{tag}-keyless".encode(), key=None, headers=HEADERS, partition=0)]


def assert_read_back(sent: list[Out], got: list) -> None:
    assert [(r.key, r.value, r.headers) for r in got] == [(r.key, r.value, r.headers) for r in sent]
    assert [r.offset for r in got] == list(range(len(sent)))
    assert {r.partition for r in got} == {0}


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("client", CLIENTS)
def test_round_trip_same_client(client: str, compression: str, bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    sent = sample(f"{client}-{compression}")
    placed = produce(client, bootstrap, topic, sent, compression)
    if client != "kcat":
        assert placed == [(0, i) for i in range(len(sent))]
    assert_read_back(sent, consume(client, bootstrap, topic, len(sent)))


@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", CLIENTS)
def test_round_trip_across_clients(producer: str, consumer: str, bootstrap: str, topic_factory) -> None:
    """What one client writes another reads: batches are stored as produced, not per client."""
    if producer == consumer:
        compression = "none"
    else:  # spread the codecs over the pairs so each crosses clients somewhere
        compression = COMPRESSIONS[(CLIENTS.index(producer) + CLIENTS.index(consumer)) % len(COMPRESSIONS)]
    topic = topic_factory()
    sent = sample(f"{producer}-to-{consumer}")
    produce(producer, bootstrap, topic, sent, compression)
    assert_read_back(sent, consume(consumer, bootstrap, topic, len(sent)))


STORED = {"uncompressed": Codec.NONE, "gzip": Codec.GZIP, "snappy": Codec.SNAPPY, "lz4": Codec.LZ4, "zstd": Codec.ZSTD}


def stored_codecs(data_dir: Path, topic: str) -> list[Codec]:
    """The codec of each batch in the partition's first segment, as the broker wrote it."""
    segment = (data_dir / f"{topic}-0" / f"{0:020d}.log").read_bytes()
    return [Codec(header.compression) for _, header in iter_batch_headers(segment)]


@pytest.mark.parametrize(("sent", "topic_codec"), [("none", "gzip"), ("lz4", "zstd"), ("snappy", "uncompressed"),
                                                   ("zstd", "lz4"), ("gzip", "snappy"), ("gzip", "gzip")])
def test_topic_compression_type_is_the_stored_codec(sent: str, topic_codec: str, shared_broker: BrokerProcess,
                                                    topic_factory) -> None:
    """The broker rewrites a batch in another codec into the topic's, keeping every record as it
    was: offsets, keys, values, headers and the producer's timestamps."""
    topic = topic_factory(config={"compression.type": topic_codec})
    records = [Out(value=r.value, key=r.key, headers=r.headers, partition=0, timestamp=1_700_000_000_000 + i)
               for i, r in enumerate(sample(f"{sent}-to-{topic_codec}"))]
    assert produce("confluent", shared_broker.bootstrap_server, topic, records, sent) == [(0, i) for i in range(5)]
    got = consume("kafka-python", shared_broker.bootstrap_server, topic, len(records))
    assert_read_back(records, got)
    assert [r.timestamp for r in got] == [r.timestamp for r in records]
    assert set(stored_codecs(shared_broker.data_dir, topic)) == {STORED[topic_codec]}


def test_producer_compression_type_keeps_each_codec(shared_broker: BrokerProcess, topic_factory) -> None:
    topic = topic_factory(config={"compression.type": "producer"})
    for codec in ("lz4", "none", "zstd"):
        produce("confluent", shared_broker.bootstrap_server, topic, sample(codec, 2), codec)
    assert stored_codecs(shared_broker.data_dir, topic) == [Codec.LZ4, Codec.NONE, Codec.ZSTD]


def test_rewritten_transactional_batches_keep_their_producer_and_commit(shared_broker: BrokerProcess,
                                                                        topic_factory) -> None:
    """An lz4 transaction into a zstd topic: the rewritten batches keep the producer id, epoch,
    sequence and transactional flag, so the commit marker closes them for read_committed readers."""
    topic = topic_factory(config={"compression.type": "zstd"})
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap_server, "transactional.id": f"{topic}-tx",
                         "compression.type": "lz4", "linger.ms": 0})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode() * 50, partition=0)
    producer.flush(30)
    producer.commit_transaction(30)
    consumer = Consumer({"bootstrap.servers": shared_broker.bootstrap_server, "group.id": f"{topic}-g",
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + 20
    while len(values) < 3 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    assert values == [f"v{i}".encode() * 50 for i in range(3)]
    segment = (shared_broker.data_dir / f"{topic}-0" / f"{0:020d}.log").read_bytes()
    headers = [header for _, header in iter_batch_headers(segment)]
    data, marker = headers[:-1], headers[-1]
    assert marker.is_control and marker.is_transactional
    assert data and all(h.compression == Codec.ZSTD and h.is_transactional for h in data)
    assert {(h.producer_id, h.producer_epoch) for h in data} == {(marker.producer_id, marker.producer_epoch)}
    assert [h.base_sequence for h in data] == [sum(x.record_count for x in data[:i]) for i in range(len(data))]
