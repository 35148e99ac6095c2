"""The measured workloads, each with confluent-kafka (librdkafka) against one broker.

Every workload is bounded twice: by its message count (or duration) and by a wall-clock limit,
so a slow or stuck broker yields a partial figure and an error, never a hung benchmark.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


BATCH_MESSAGES = 1024  # messages handed to librdkafka per call: far fewer Python calls than one each


@dataclass(frozen=True)
class Settings:
    """The librdkafka knobs that decide the figures; printed with the results."""
    message_size: int = 1024
    linger_ms: int = 5
    batch_size: int = 1_000_000
    fetch_wait_max_ms: int = 100
    fetch_error_backoff_ms: int = 10
    # librdkafka waits this long (1 s by default) before fetching again once its local queue is past its
    # bounds. With 1 MB answers a fast broker fills the queue in a few fetches, and those waits, not the
    # broker, then decided the consume row: 275-537 MB/s from run to run with the default, 481-556 with 10.
    fetch_queue_backoff_ms: int = 10
    latency_linger_ms: int = 0
    timeout_s: float = 180.0

    def describe(self) -> str:
        return (f"confluent-kafka (librdkafka) producer, messages queued {BATCH_MESSAGES} at a time "
                f"and only failed deliveries reported: linger.ms={self.linger_ms} "
                f"(latency run: {self.latency_linger_ms}), batch.size={self.batch_size}, "
                f"message {self.message_size} B, the same value in every message (half random bytes, half a repeated "
                f"phrase: lz4 compresses across messages, a 1 MB batch of 1 KiB ones to about 17 KB); "
                f"consumer: fetch.wait.max.ms={self.fetch_wait_max_ms}, "
                f"fetch.error.backoff.ms={self.fetch_error_backoff_ms}, "
                f"fetch.queue.backoff.ms={self.fetch_queue_backoff_ms}, fetch.min.bytes=1")


GIVE_UP_AFTER = 3  # client errors before a consume run that has read nothing gives up


class WorkloadError(RuntimeError):
    """The broker failed the workload or ran out of time."""


def payload(size: int) -> bytes:
    half = size // 2
    return os.urandom(half) + (b"kbroker-bench-" * (size // 14 + 1))[: size - half]


def create_topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30, request_timeout=30)[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=10).topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == partitions:
            return name
        time.sleep(0.1)
    raise WorkloadError(f"topic {name} did not appear in metadata")


def produce(bootstrap: str, topic: str, count: int, acks: str, compression: str, s: Settings,
            partitions: int = 1) -> dict[str, float]:
    """Send `count` messages as fast as librdkafka takes them, round robin over `partitions`; time to the
    last acknowledgement.

    The messages go to librdkafka a list at a time (`produce_batch`), and it reports failed deliveries
    only: one call and one callback per message cost the Python producer more CPU than the broker
    spends, which made it, not the broker, the limit of every row."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "compression.type": compression,
                         "linger.ms": s.linger_ms, "batch.size": s.batch_size,
                         "queue.buffering.max.messages": 200_000, "message.timeout.ms": int(s.timeout_s * 1000),
                         "delivery.report.only.error": True})
    value = payload(s.message_size)
    # A whole number of rounds over the partitions, so that message k goes to partition k % partitions.
    rounds = [{"value": value, "partition": i % partitions}
              for i in range(max(1, BATCH_MESSAGES // partitions) * partitions)]
    failures: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    deadline = time.monotonic() + s.timeout_s
    start = time.perf_counter()
    queued = 0
    while queued < count:
        at = queued % len(rounds)
        batch = rounds[at:at + count - queued]
        taken = producer.produce_batch(topic, batch, on_delivery=on_delivery)
        queued += taken
        if taken < len(batch):  # the local queue is full: let librdkafka send some
            producer.poll(0.005)
            if time.monotonic() > deadline:
                raise WorkloadError("produce: timed out with the local queue full")
        else:
            producer.poll(0)
    left = producer.flush(max(1.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    if left or failures:
        raise WorkloadError(f"produce: {left} unacknowledged, errors {failures}")
    return {"msg/s": count / elapsed, "MB/s": count * s.message_size / elapsed / 1e6, "MB": count * s.message_size / 1e6}


def consume(bootstrap: str, topic: str, count: int, s: Settings,
            offsets: dict[int, int] | None = None) -> dict[str, float]:
    """Read `count` messages from the beginning of partition 0, or from each partition's offset in
    `offsets`; time from assignment to the last.

    A broker that the consumer keeps failing on (an answer larger than it may receive, say) fails the
    run as soon as that has happened a few times without a message, rather than at the time limit."""
    failures: list[str] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": s.fetch_wait_max_ms,
                         "fetch.error.backoff.ms": s.fetch_error_backoff_ms,
                         "fetch.queue.backoff.ms": s.fetch_queue_backoff_ms, "enable.partition.eof": False,
                         "error_cb": lambda err: failures.append(str(err))})
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in (offsets or {0: OFFSET_BEGINNING}).items()])
        got = size = 0
        deadline = time.monotonic() + s.timeout_s
        start = time.perf_counter()
        while got < count:
            if time.monotonic() > deadline:
                raise WorkloadError(f"consume: {got} of {count} messages within {s.timeout_s}s")
            if not got and len(failures) >= GIVE_UP_AFTER:
                raise WorkloadError(f"consume: no message, and {len(failures)} errors, the first: {failures[0]}")
            # No more than are left: consume(n) waits out its timeout for n messages, and the end of
            # a log has fewer; that wait would be timed as reading.
            for msg in consumer.consume(num_messages=min(10_000, count - got), timeout=0.5):
                if msg.error():
                    raise WorkloadError(f"consume: {msg.error()}")
                got += 1
                size += len(msg.value() or b"")
        elapsed = time.perf_counter() - start
        return {"msg/s": got / elapsed, "MB/s": size / elapsed / 1e6, "MB": size / 1e6}
    finally:
        consumer.close()


def latency(bootstrap: str, topic: str, rate: int, seconds: float, s: Settings, acks: str = "1") -> dict[str, float]:
    """Send `rate` msg/s for `seconds`, each stamped with its send time; a consumer in the same process
    notes when each arrives, and a thread of its own takes each acknowledgement as it comes (the
    producer's delivery reports wait for a poll). Percentiles in milliseconds over every message,
    end to end and from produce() to the acknowledgement."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": s.fetch_wait_max_ms,
                         "fetch.error.backoff.ms": s.fetch_error_backoff_ms, "fetch.min.bytes": 1,
                         "enable.partition.eof": False})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": s.latency_linger_ms,
                         "message.timeout.ms": int(s.timeout_s * 1000)})
    total = int(rate * seconds)
    filler = payload(s.message_size - 8)
    stop = threading.Event()
    errors: list[str] = []
    acked: list[float] = []

    def on_delivery(err, msg) -> None:
        if err is None:
            acked.append((time.perf_counter_ns() - int.from_bytes(msg.value()[:8], "big")) / 1e6)

    def take_acks() -> None:
        while not stop.is_set():
            producer.poll(0.05)

    def send() -> None:
        start = time.perf_counter()
        for i in range(total):
            if stop.is_set():
                return
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            producer.produce(topic, value=time.perf_counter_ns().to_bytes(8, "big") + filler, partition=0,
                             on_delivery=on_delivery)
        if producer.flush(s.timeout_s):
            errors.append("producer flush timed out")

    try:
        # The topic is new and empty: read from 0. Connect both clients before the clock starts.
        consumer.assign([TopicPartition(topic, 0, 0)])
        producer.list_topics(topic, timeout=30)
        warm_until = time.monotonic() + 1.0
        while time.monotonic() < warm_until:
            consumer.poll(0.1)
        sender = threading.Thread(target=send, daemon=True)
        acks_taker = threading.Thread(target=take_acks, daemon=True)
        sender.start()
        acks_taker.start()
        samples: list[float] = []
        deadline = time.monotonic() + seconds + s.timeout_s / 3
        while len(samples) < total and time.monotonic() < deadline:
            # poll() hands over each message as it arrives; consume(n) would hold them back until
            # n had come or its timeout passed, and that wait would be measured as latency.
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            now = time.perf_counter_ns()
            if msg.error():
                raise WorkloadError(f"latency: {msg.error()}")
            samples.append((now - int.from_bytes(msg.value()[:8], "big")) / 1e6)
        stop.set()
        sender.join(timeout=s.timeout_s)
        acks_taker.join(timeout=s.timeout_s)
    except KafkaException as exc:
        raise WorkloadError(f"latency: {exc}") from exc
    finally:
        stop.set()
        consumer.close()
    if errors or len(samples) < total:
        raise WorkloadError(f"latency: received {len(samples)} of {total}; {errors}")
    return {"p50 ms": percentile(samples, 0.5), "p99 ms": percentile(samples, 0.99),
            "p99.9 ms": percentile(samples, 0.999),
            "produce p50 ms": percentile(acked, 0.5), "produce p99 ms": percentile(acked, 0.99),
            "produce p99.9 ms": percentile(acked, 0.999)}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
