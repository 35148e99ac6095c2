"""CreateTime keeps the producer's timestamps; LogAppendTime (topic config message.timestamp.type)
replaces them with the broker's clock, for plain and compressed batches, as every client sees it."""

from __future__ import annotations

import time

import pytest

from clients import CLIENTS, CREATE_TIME, LOG_APPEND_TIME, PYTHON_CLIENTS, Out, consume, produce

pytestmark = pytest.mark.timeout(90)

OLD = 1_000_000_000_000  # 2001-09-09: far from now, so a kept or replaced timestamp is unmistakable
SLACK_MS = 5_000


@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", PYTHON_CLIENTS)
def test_create_time_is_the_producers(producer: str, consumer: str, compression: str, bootstrap: str,
                                      topic_factory) -> None:
    topic = topic_factory(config={"message.timestamp.type": "CreateTime"})
    sent = [Out(value=f"m{i}".encode(), partition=0, timestamp=OLD + 1000 * i) for i in range(4)]
    produce(producer, bootstrap, topic, sent, compression)
    got = consume(consumer, bootstrap, topic, len(sent))
    assert [(r.value, r.timestamp, r.timestamp_type) for r in got] == [
        (s.value, s.timestamp, CREATE_TIME) for s in sent]


@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", PYTHON_CLIENTS)
def test_log_append_time_is_the_brokers(producer: str, consumer: str, compression: str, bootstrap: str,
                                        topic_factory) -> None:
    topic = topic_factory(config={"message.timestamp.type": "LogAppendTime"})
    sent = [Out(value=f"m{i}".encode(), partition=0, timestamp=OLD + i) for i in range(4)]
    before = int(time.time() * 1000)
    produce(producer, bootstrap, topic, sent, compression)
    after = int(time.time() * 1000)
    got = consume(consumer, bootstrap, topic, len(sent))
    assert [r.value for r in got] == [s.value for s in sent]
    assert {r.timestamp_type for r in got} == {LOG_APPEND_TIME}
    for r in got:
        assert before - SLACK_MS <= r.timestamp <= after + SLACK_MS, f"offset {r.offset}: {r.timestamp} not broker time"


def test_create_time_without_a_timestamp_is_stamped_by_the_client(bootstrap: str, topic_factory) -> None:
    """No timestamp given: the client stamps the send time, and the broker keeps it."""
    topic = topic_factory()
    before = int(time.time() * 1000)
    produce("confluent", bootstrap, topic, [Out(value=b"now", partition=0)])
    [got] = consume("kafka-python", bootstrap, topic, 1)
    assert got.timestamp_type == CREATE_TIME
    assert before - SLACK_MS <= got.timestamp <= int(time.time() * 1000) + SLACK_MS
