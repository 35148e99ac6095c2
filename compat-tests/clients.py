"""One small produce/consume/offset-lookup surface over four stock clients.

The compat tests are written once against this surface and parametrised over the clients, so
every behaviour is checked the way kafka-python, confluent-kafka (librdkafka), aiokafka and kcat
(the Debian build, on its own librdkafka) each see it. Every call is bounded: each client gets
its own request timeouts and the whole operation a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import confluent_kafka
import kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition

CLIENTS = ("kafka-python", "confluent", "aiokafka", "kcat")
PYTHON_CLIENTS = ("kafka-python", "confluent", "aiokafka")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
CREATE_TIME, LOG_APPEND_TIME = 0, 1
DEADLINE = 20.0  # seconds for one produce or consume call as a whole
REQUEST_TIMEOUT_MS = 10_000
Header = tuple[str, "bytes | None"]


@dataclass(frozen=True)
class Out:
    """A record to produce; `partition=None` leaves the choice to the client's partitioner."""
    value: bytes | None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    partition: int | None = None
    timestamp: int | None = None


@dataclass(frozen=True)
class Rec:
    """A consumed record as every client reports it, normalised for comparison."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = field(default=())
    timestamp: int = -1
    timestamp_type: int = CREATE_TIME


class ClientError(AssertionError):
    """A client call failed or ran out of time; an AssertionError so pytest reports it plainly."""


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


# ---------------------------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------------------------
def _kp_compression(compression: str) -> str | None:
    return None if compression == "none" else compression


def _kp_consumer(bootstrap: str) -> kafka.KafkaConsumer:
    return kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                               request_timeout_ms=REQUEST_TIMEOUT_MS,
                               fetch_max_wait_ms=100, auto_offset_reset="earliest")


def _kp_produce(bootstrap: str, topic: str, records: Sequence[Out], compression: str) -> list[tuple[int, int]]:
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=_kp_compression(compression),
                                   linger_ms=5, request_timeout_ms=REQUEST_TIMEOUT_MS, max_block_ms=REQUEST_TIMEOUT_MS,
                                   retries=2)
    try:
        futures = [producer.send(topic, value=r.value, key=r.key, headers=list(r.headers), partition=r.partition,
                                 timestamp_ms=r.timestamp) for r in records]
        producer.flush(timeout=DEADLINE)
        placed = []
        for fut in futures:
            meta = fut.get(timeout=DEADLINE)
            placed.append((meta.partition, meta.offset))
        return placed
    finally:
        producer.close(timeout=5)


def _kp_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int, start: int | None) -> list[Rec]:
    consumer = _kp_consumer(bootstrap)
    try:
        tps = [kafka.TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if start is None:
            consumer.seek_to_beginning(*tps)
        else:
            for tp in tps:
                consumer.seek(tp, start)
        out: list[Rec] = []
        deadline = time.monotonic() + DEADLINE
        while len(out) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200, max_records=count - len(out)).values():
                out += [Rec(m.partition, m.offset, m.key, m.value, tuple(m.headers or ()), m.timestamp,
                            m.timestamp_type) for m in batch]
        return out
    finally:
        consumer.close()


def _kp_offset_for_time(bootstrap: str, topic: str, partition: int, timestamp: int) -> int | None:
    consumer = _kp_consumer(bootstrap)
    try:
        tp = kafka.TopicPartition(topic, partition)
        found = consumer.offsets_for_times({tp: timestamp}, timeout_ms=REQUEST_TIMEOUT_MS)[tp]
        return None if found is None else found.offset
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# ---------------------------------------------------------------------------------------------
def _ck_consumer(bootstrap: str) -> confluent_kafka.Consumer:
    return confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"compat-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, "socket.timeout.ms": REQUEST_TIMEOUT_MS,
        "enable.partition.eof": False})


def _ck_produce(bootstrap: str, topic: str, records: Sequence[Out], compression: str,
                partitioner: str = "murmur2_random") -> list[tuple[int, int]]:
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "compression.type": compression, "linger.ms": 5,
        "partitioner": partitioner, "message.timeout.ms": int(DEADLINE * 1000), "socket.timeout.ms": REQUEST_TIMEOUT_MS})
    results: list[tuple[int, int] | str | None] = [None] * len(records)

    def report(index: int):
        def on_delivery(err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
            results[index] = str(err) if err else (msg.partition(), msg.offset())
        return on_delivery

    for i, r in enumerate(records):
        kwargs: dict = {"value": r.value, "key": r.key, "on_delivery": report(i)}
        if r.headers:
            kwargs["headers"] = list(r.headers)
        if r.partition is not None:
            kwargs["partition"] = r.partition
        if r.timestamp is not None:
            kwargs["timestamp"] = r.timestamp
        producer.produce(topic, **kwargs)
    left = producer.flush(DEADLINE)
    if left:
        raise ClientError(f"confluent producer: {left} messages undelivered after {DEADLINE}s")
    bad = [r for r in results if not isinstance(r, tuple)]
    if bad:
        raise ClientError(f"confluent producer delivery errors: {bad[:3]}")
    return results  # type: ignore[return-value]


def _ck_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int, start: int | None) -> list[Rec]:
    consumer = _ck_consumer(bootstrap)
    try:
        offset = confluent_kafka.OFFSET_BEGINNING if start is None else start
        consumer.assign([confluent_kafka.TopicPartition(topic, p, offset) for p in partitions])
        out: list[Rec] = []
        deadline = time.monotonic() + DEADLINE
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise ClientError(f"confluent consumer: {msg.error()}")
            ts_type, ts = msg.timestamp()
            out.append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(msg.headers() or ()), ts,
                           LOG_APPEND_TIME if ts_type == confluent_kafka.TIMESTAMP_LOG_APPEND_TIME else CREATE_TIME))
        return out
    finally:
        consumer.close()


def _ck_offset_for_time(bootstrap: str, topic: str, partition: int, timestamp: int) -> int | None:
    consumer = _ck_consumer(bootstrap)
    try:
        [tp] = consumer.offsets_for_times([confluent_kafka.TopicPartition(topic, partition, timestamp)],
                                          timeout=REQUEST_TIMEOUT_MS / 1000)
        if tp.error:
            raise ClientError(f"confluent offsets_for_times: {tp.error}")
        return None if tp.offset < 0 else tp.offset
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# aiokafka
# ---------------------------------------------------------------------------------------------
def _run(coro, timeout: float = DEADLINE + 10):
    """Run one aiokafka operation in a fresh loop with an overall deadline."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def _aio_consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            request_timeout_ms=REQUEST_TIMEOUT_MS, fetch_max_wait_ms=100, auto_offset_reset="earliest")


async def _aio_produce(bootstrap: str, topic: str, records: Sequence[Out], compression: str) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                compression_type=_kp_compression(compression), request_timeout_ms=REQUEST_TIMEOUT_MS)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=r.value, key=r.key, headers=list(r.headers),
                                       partition=r.partition, timestamp_ms=r.timestamp) for r in records]
        return [((m := await f).partition, m.offset) for f in futures]
    finally:
        await producer.stop()


async def _aio_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int,
                       start: int | None) -> list[Rec]:
    consumer = _aio_consumer(bootstrap)
    await consumer.start()
    try:
        tps = [AioTopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if start is None:
            await consumer.seek_to_beginning(*tps)
        else:
            for tp in tps:
                consumer.seek(tp, start)
        out: list[Rec] = []
        deadline = time.monotonic() + DEADLINE
        while len(out) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200, max_records=count - len(out))).values():
                out += [Rec(m.partition, m.offset, m.key, m.value, tuple(m.headers or ()), m.timestamp,
                            m.timestamp_type) for m in batch]
        return out
    finally:
        await consumer.stop()


async def _aio_offset_for_time(bootstrap: str, topic: str, partition: int, timestamp: int) -> int | None:
    consumer = _aio_consumer(bootstrap)
    await consumer.start()
    try:
        tp = AioTopicPartition(topic, partition)
        found = (await consumer.offsets_for_times({tp: timestamp}))[tp]
        return None if found is None else found.offset
    finally:
        await consumer.stop()


# ---------------------------------------------------------------------------------------------
# kcat
# ---------------------------------------------------------------------------------------------
def kcat(args: Sequence[str], stdin: bytes | None = None, timeout: float = DEADLINE) -> str:
    """Run kcat with a time limit; a non-zero exit fails with its stderr."""
    try:
        done = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ClientError(f"kcat {' '.join(args)} ran out of {timeout}s; stderr: {exc.stderr!r}") from None
    if done.returncode != 0:
        raise ClientError(f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def _kcat_produce(bootstrap: str, topic: str, records: Sequence[Out], compression: str,
                  partitioner: str = "murmur2_random") -> list[None]:
    """kcat -P: one message per line, `key<TAB>value`, the same -H headers on every message.

    kcat reports no offsets, so the placement is for the caller to check by consuming. With -Z an
    empty key (or value) goes out as null, so a keyless record stays keyless.
    """
    heads = {r.headers for r in records}
    parts = {r.partition for r in records}
    if len(heads) > 1 or len(parts) > 1 or any(r.timestamp is not None for r in records):
        raise ValueError("kcat -P takes one header set and one partition per run, and no timestamps")
    args = ["-P", "-b", bootstrap, "-t", topic, "-z", compression, "-X", f"partitioner={partitioner}",
            "-X", "acks=all", "-X", f"message.timeout.ms={int(DEADLINE * 1000)}"]
    for k, v in heads.pop():
        args += ["-H", f"{k}={'' if v is None else v.decode()}"]
    (part,) = parts
    if part is not None:
        args += ["-p", str(part)]
    keyed = any(r.key is not None for r in records)
    if keyed:
        args += ["-K", "\t", "-Z"]  # -Z: an empty key or value is sent as null
    lines = [(r.key or b"") + b"\t" + (r.value or b"") if keyed else (r.value or b"") for r in records]
    kcat(args, stdin=b"\n".join(lines) + b"\n")
    return [None] * len(records)


def _kcat_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int, start: int | None) -> list[Rec]:
    """kcat -C -J per partition until the end of the log or `count` records."""
    out: list[Rec] = []
    for p in partitions:
        text = kcat(["-C", "-b", bootstrap, "-t", topic, "-p", str(p), "-o", "beginning" if start is None else str(start),
                     "-e", "-J", "-c", str(count - len(out)), "-q"])
        for line in text.splitlines():
            if not line.strip():
                continue
            m = json.loads(line)
            flat = m.get("headers") or []
            headers = tuple((flat[i], None if flat[i + 1] is None else flat[i + 1].encode())
                            for i in range(0, len(flat), 2))
            enc = lambda s: None if s is None else s.encode()  # noqa: E731
            out.append(Rec(m["partition"], m["offset"], enc(m.get("key")), enc(m.get("payload")), headers, m["ts"],
                           LOG_APPEND_TIME if m.get("tstype") == "logappend" else CREATE_TIME))
        if len(out) >= count:
            break
    return out


def _kcat_offset_for_time(bootstrap: str, topic: str, partition: int, timestamp: int) -> int | None:
    """kcat -Q -t topic:partition:timestamp prints `topic [partition] offset N`."""
    text = kcat(["-Q", "-b", bootstrap, "-t", f"{topic}:{partition}:{timestamp}"])
    found = re.search(r"\[\s*%d\s*\]\s+offset\s+(-?\d+)" % partition, text)
    if not found:
        raise ClientError(f"kcat -Q printed no offset: {text!r}")
    offset = int(found.group(1))
    return None if offset < 0 else offset


# ---------------------------------------------------------------------------------------------
# the surface the tests call
# ---------------------------------------------------------------------------------------------
def produce(client: str, bootstrap: str, topic: str, records: Sequence[Out], compression: str = "none",
            partitioner: str = "murmur2_random") -> list[tuple[int, int] | None]:
    """Produce with acks=all; returns (partition, offset) per record, or None where the client cannot say."""
    if client == "kafka-python":
        return list(_kp_produce(bootstrap, topic, records, compression))
    if client == "confluent":
        return list(_ck_produce(bootstrap, topic, records, compression, partitioner))
    if client == "aiokafka":
        return list(_run(_aio_produce(bootstrap, topic, records, compression)))
    if client == "kcat":
        return list(_kcat_produce(bootstrap, topic, records, compression, partitioner))
    raise ValueError(client)


def consume(client: str, bootstrap: str, topic: str, count: int, partitions: Iterable[int] = (0,),
            start: int | None = None) -> list[Rec]:
    """Read up to `count` records from `start` (None = the beginning) by assignment, no group."""
    partitions = list(partitions)
    if client == "kafka-python":
        recs = _kp_consume(bootstrap, topic, partitions, count, start)
    elif client == "confluent":
        recs = _ck_consume(bootstrap, topic, partitions, count, start)
    elif client == "aiokafka":
        recs = _run(_aio_consume(bootstrap, topic, partitions, count, start))
    elif client == "kcat":
        recs = _kcat_consume(bootstrap, topic, partitions, count, start)
    else:
        raise ValueError(client)
    return sorted(recs, key=lambda r: (r.partition, r.offset))


def offset_for_time(client: str, bootstrap: str, topic: str, partition: int, timestamp: int) -> int | None:
    """ListOffsets by timestamp: the first offset whose timestamp is >= `timestamp`, None past the end."""
    if client == "kafka-python":
        return _kp_offset_for_time(bootstrap, topic, partition, timestamp)
    if client == "confluent":
        return _ck_offset_for_time(bootstrap, topic, partition, timestamp)
    if client == "aiokafka":
        return _run(_aio_offset_for_time(bootstrap, topic, partition, timestamp))
    if client == "kcat":
        return _kcat_offset_for_time(bootstrap, topic, partition, timestamp)
    raise ValueError(client)
