"""Record headers survive the broker byte for byte: order, repeated keys, empty and binary values."""

from __future__ import annotations

import pytest

from clients import CLIENTS, PYTHON_CLIENTS, Out, consume, produce

pytestmark = pytest.mark.timeout(90)

TEXT_HEADERS = (("content-type", b"application/json"), ("hop", b"1"), ("hop", b"2"), ("empty", b""))
BINARY_HEADERS = (("bin", bytes(range(256))), ("ünïcødé-kéy", "välue".encode()), ("hop", b"1"), ("hop", b"\x00"))


@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", CLIENTS)
def test_text_headers_round_trip(producer: str, consumer: str, bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    sent = [Out(value=f"m{i}".encode(), headers=TEXT_HEADERS, partition=0) for i in range(3)]
    produce(producer, bootstrap, topic, sent, compression="gzip")
    got = consume(consumer, bootstrap, topic, 3)
    assert [(r.value, r.headers) for r in got] == [(s.value, TEXT_HEADERS) for s in sent]


@pytest.mark.parametrize("consumer", PYTHON_CLIENTS)
@pytest.mark.parametrize("producer", PYTHON_CLIENTS)
def test_binary_headers_and_records_without_headers(producer: str, consumer: str, bootstrap: str,
                                                    topic_factory) -> None:
    topic = topic_factory()
    sent = [Out(value=b"with", headers=BINARY_HEADERS, partition=0), Out(value=b"without", partition=0),
            Out(value=None, key=b"tombstone", headers=(("why", b"deleted"),), partition=0)]
    produce(producer, bootstrap, topic, sent, compression="lz4")
    got = consume(consumer, bootstrap, topic, 3)
    assert [(r.key, r.value, r.headers) for r in got] == [(s.key, s.value, s.headers) for s in sent]


def test_null_header_value_round_trip(bootstrap: str, topic_factory) -> None:
    """A header with a null value (length -1) stays null, not empty: librdkafka can write one."""
    topic = topic_factory()
    headers = (("null", None), ("set", b"x"))
    produce("confluent", bootstrap, topic, [Out(value=b"v", headers=headers, partition=0)])
    for consumer in ("confluent", "kafka-python", "aiokafka"):
        [got] = consume(consumer, bootstrap, topic, 1)
        assert got.headers == headers, consumer
