"""kafkajs, the Node.js client, against a real kbroker: produce with its partitioner and codecs,
consume in a group with commits, and transactions read back read_committed.

kafkajs is driven through `kafkajs/client.js` (one JSON request on stdin, one answer on stdout);
`make test` installs it there with `npm ci`. It has gzip built in and snappy from the pure-JS
kafkajs-snappy; its lz4 and zstd codecs are native add-ons and are not used here.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from kafka.partitioner.default import murmur2

from clients import Out, Rec, consume, produce

pytestmark = pytest.mark.timeout(120)

DRIVER = Path(__file__).parent / "kafkajs" / "client.js"
KAFKAJS_COMPRESSIONS = ("none", "gzip", "snappy")
PARTITIONS = 3
KEYS = [f"user-{i}".encode() for i in range(12)] + ["ключ".encode(), b"\x00\xff"]
HEADERS = (("trace", b"\x00\x01\x02"), ("origin", b"kafkajs"))


def kafkajs(command: str, request: dict[str, Any], timeout: float = 60) -> Any:
    """Run one command of the kafkajs driver; a non-zero exit fails with its stderr."""
    if not (DRIVER.parent / "node_modules" / "kafkajs").is_dir():
        pytest.fail(f"kafkajs is not installed in {DRIVER.parent}: `make test` runs npm ci there")
    done = subprocess.run(["node", str(DRIVER), command], input=json.dumps(request).encode(), capture_output=True,
                          timeout=timeout)
    assert done.returncode == 0, f"kafkajs {command} failed: {done.stderr.decode(errors='replace')}"
    return json.loads(done.stdout)


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def as_json(records: list[Out]) -> list[dict[str, Any]]:
    return [{"key": b64(r.key), "value": b64(r.value), "headers": [[k, b64(v)] for k, v in r.headers],
             "partition": r.partition} for r in records]


def java_partition(key: bytes) -> int:
    """Kafka's Java default for a keyed record, which kafkajs's default partitioner follows."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def keyed_records(tag: str) -> list[Out]:
    return [Out(value=f"{tag}-{i}".encode(), key=key, headers=HEADERS) for i, key in enumerate(KEYS)]


@pytest.mark.parametrize("compression", KAFKAJS_COMPRESSIONS)
@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
def test_kafkajs_produces_where_its_partitioner_says(compression: str, idempotent: bool, bootstrap: str,
                                                     topic_factory) -> None:
    topic = topic_factory(partitions=PARTITIONS)
    sent = keyed_records(compression)
    placed = kafkajs("produce", {"bootstrap": bootstrap, "topic": topic, "compression": compression,
                                 "idempotent": idempotent, "records": as_json(sent)})
    assert [p["partition"] for p in placed] == [java_partition(r.key) for r in sent]
    stored = consume("confluent", bootstrap, topic, len(sent), partitions=range(PARTITIONS))
    assert {(r.partition, r.offset): (r.key, r.value, r.headers) for r in stored} == {
        (p["partition"], p["offset"]): (r.key, r.value, r.headers) for p, r in zip(placed, sent)}


def test_kafkajs_explicit_partitions_and_null_values(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=PARTITIONS)
    sent = [Out(value=None, key=b"tombstone", partition=2), Out(value=b"", key=None, partition=0),
            Out(value=b"x" * 100_000, key=b"big", partition=1)]
    placed = kafkajs("produce", {"bootstrap": bootstrap, "topic": topic, "compression": "gzip",
                                 "idempotent": True, "records": as_json(sent)})
    assert placed == [{"partition": 2, "offset": 0}, {"partition": 0, "offset": 0}, {"partition": 1, "offset": 0}]
    stored = consume("kafka-python", bootstrap, topic, 3, partitions=range(PARTITIONS))
    assert [(r.partition, r.key, r.value) for r in stored] == [(0, None, b""), (1, b"big", b"x" * 100_000),
                                                               (2, b"tombstone", None)]


@pytest.mark.parametrize("compression", KAFKAJS_COMPRESSIONS)
def test_kafkajs_group_reads_and_commits(compression: str, bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=PARTITIONS)
    sent = keyed_records("from-kafka-python")
    placed = produce("kafka-python", bootstrap, topic, sent, compression=compression)
    group = f"kafkajs-{uuid.uuid4().hex[:8]}"
    got = kafkajs("consume", {"bootstrap": bootstrap, "topic": topic, "groupId": group, "count": len(sent),
                              "timeoutMs": 40_000})
    read = [Rec(g["partition"], g["offset"], unb64(g["key"]), unb64(g["value"]),
                tuple((k, unb64(v)) for k, v in g["headers"])) for g in got]
    assert sorted(read, key=lambda r: (r.partition, r.offset)) == sorted(
        (Rec(p, o, r.key, r.value, r.headers) for (p, o), r in zip(placed, sent)), key=lambda r: (r.partition, r.offset))
    ends = {p: max(o for q, o in placed if q == p) + 1 for p in {q for q, _ in placed}}
    assert committed(bootstrap, group, topic) == ends


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets as librdkafka's OffsetFetch reads them, partitions with none left out."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([confluent_kafka.TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()


def test_kafkajs_transactions_are_read_committed(bootstrap: str, topic_factory) -> None:
    topic = topic_factory(partitions=1)
    batch = lambda tag: [Out(value=f"{tag}-{i}".encode(), partition=0) for i in range(3)]  # noqa: E731
    kafkajs("transaction", {"bootstrap": bootstrap, "topic": topic, "transactionalId": f"txn-{topic}",
                            "batches": [{"commit": True, "records": as_json(batch("first"))},
                                        {"commit": False, "records": as_json(batch("aborted"))},
                                        {"commit": True, "records": as_json(batch("second"))}]})
    got = kafkajs("consume", {"bootstrap": bootstrap, "topic": topic, "groupId": f"g-{topic}", "count": 6,
                              "timeoutMs": 40_000})
    assert [unb64(g["value"]) for g in got] == [r.value for r in batch("first") + batch("second")]
    everything = consume("kafka-python", bootstrap, topic, 9)  # read_uncommitted, its default
    assert [r.value for r in everything] == [r.value for r in batch("first") + batch("aborted") + batch("second")]
