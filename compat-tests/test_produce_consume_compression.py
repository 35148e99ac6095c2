"""Every client produces and reads back keyed records with headers under every compression codec."""

from __future__ import annotations

import pytest

from clients import CLIENTS, COMPRESSIONS, Out, consume, produce

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
