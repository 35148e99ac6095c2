"""Keyed records land where each client's partitioner says, and the broker keeps them there.

kafka-python and aiokafka hash keys with murmur2 like the Java client; librdkafka (confluent-kafka,
kcat) defaults to consistent_random (CRC32) and matches Java only with partitioner=murmur2_random.
The expected partition is computed here, independently of the client, and checked both in what
the producer reports and in where a consumer finds each record.
"""

from __future__ import annotations

import zlib
from typing import Callable

import pytest
from kafka.partitioner.default import murmur2

from clients import CLIENTS, Out, consume, produce

pytestmark = pytest.mark.timeout(90)

PARTITIONS = 6
KEYS = [f"user-{i}".encode() for i in range(40)] + [b"", b"\x00\xff", "ключ".encode()]


def java_partition(key: bytes) -> int:
    """Kafka's Java default for a keyed record: toPositive(murmur2(key)) % partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def crc32_partition(key: bytes) -> int:
    """librdkafka's consistent_random for a non-empty key: crc32(key) % partitions."""
    return zlib.crc32(key) % PARTITIONS


CASES: list[tuple[str, str, Callable[[bytes], int]]] = [
    ("kafka-python", "murmur2_random", java_partition),
    ("aiokafka", "murmur2_random", java_partition),
    ("confluent", "murmur2_random", java_partition),
    ("confluent", "consistent_random", crc32_partition),
    ("kcat", "murmur2_random", java_partition),
]


@pytest.mark.parametrize("client,partitioner,expect", CASES, ids=[f"{c}-{p}" for c, p, _ in CASES])
def test_keys_go_to_the_partition_the_partitioner_names(client: str, partitioner: str, expect: Callable[[bytes], int],
                                                        bootstrap: str, topic_factory) -> None:
    keys = KEYS if partitioner == "murmur2_random" else [k for k in KEYS if k]  # empty key: consistent_random is random
    if client == "kcat":
        keys = [k for k in keys if k and b"\t" not in k and b"\n" not in k]  # one line per record on stdin
    topic = topic_factory(partitions=PARTITIONS)
    sent = [Out(value=b"v-" + k, key=k) for k in keys]
    placed = produce(client, bootstrap, topic, sent, partitioner=partitioner)
    expected = {k: expect(k) for k in keys}
    assert len(set(expected.values())) > 1, "keys should spread over several partitions"
    if client != "kcat":
        assert {k: p[0] for k, p in zip(keys, placed)} == expected
    stored = consume("confluent", bootstrap, topic, len(keys), partitions=range(PARTITIONS))
    assert {r.key: r.partition for r in stored} == expected
    assert len(stored) == len(keys)


@pytest.mark.parametrize("client", CLIENTS)
def test_explicit_partition_is_kept(client: str, bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=3)
    for partition in (2, 0):
        produce(client, bootstrap, topic, [Out(value=f"to-{partition}-{i}".encode(), partition=partition)
                                           for i in range(3)])
    stored = consume(client, bootstrap, topic, 6, partitions=range(3))
    assert [(r.partition, r.offset, r.value) for r in stored] == (
        [(0, i, f"to-0-{i}".encode()) for i in range(3)] + [(2, i, f"to-2-{i}".encode()) for i in range(3)])
