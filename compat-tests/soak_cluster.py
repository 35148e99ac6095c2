"""`python compat-tests/soak_cluster.py --minutes 3`: a bounded fault run of a three-broker cluster.

ZooKeeper and three kbroker processes (`zkcluster.Cluster`); a topic of 6 partitions, replication
factor 3, min.insync.replicas=2; an idempotent acks=all librdkafka producer sending, round robin,
per-partition numbered records (key = partition, value = "<partition>:<seq>") at a steady rate.
For the given minutes one broker at a time is killed (SIGKILL, sometimes SIGTERM) and started
again a few seconds later. Then every broker runs, the ISRs fill up, the producer flushes, and a
consumer (assigned every partition from the beginning, no group) reads it all back: each
acknowledged record must be there once, at the offset it was acknowledged with, and each
partition's numbers must only grow. The figures are printed; the exit status is 1 on any loss,
duplicate, reordering or offset mismatch, and on a fatal producer error (the broker's sequence
state and the producer's parted, after which nothing more is sent). The cluster's logs stay in
the printed work directory.

Not a pytest test (its name does not start with test_): it runs for minutes, on demand (`make soak`).
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from brokerproc import BrokerStartError  # compat-tests/ is the script's folder, first on sys.path
from clusterclients import create_topic, partitions, wait_until
from zkcluster import Cluster, zookeeper_available

PARTITIONS = 6
SIGTERM_SHARE = 0.2  # the other stops are SIGKILLs
Span = tuple[float, float]


@dataclass
class Delivered:
    """What the producer was told, per partition."""

    acked: dict[int, dict[int, int]] = field(default_factory=lambda: collections.defaultdict(dict))  # p -> seq -> offset
    failed: collections.Counter[str] = field(default_factory=collections.Counter)  # error name -> count
    failed_records: set[tuple[int, int]] = field(default_factory=set)
    fatal: list[str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg) -> None:
        partition, seq = parse(msg.value())
        if err is None:
            self.acked[partition][seq] = msg.offset()
        else:
            self.failed[err.name()] += 1
            self.failed_records.add((partition, seq))

    def on_error(self, err: KafkaError) -> None:
        if err.fatal() and str(err) not in self.fatal:  # the idempotent producer gave up: nothing more is sent
            self.fatal.append(str(err))


def parse(value: bytes) -> tuple[int, int]:
    partition, _, seq = value.decode().partition(":")
    return int(partition), int(seq)


class SteadyProducer:
    """An idempotent acks=all producer sending `rate` numbered records a second, round robin over
    the partitions, each partition's numbers in order; a record the local queue refuses is retried."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        self.delivered = Delivered()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": 120_000, "retry.backoff.ms": 100,
                                  "log_level": 2,  # disconnects are expected here; failures come as reports
                                  "error_cb": self.delivered.on_error})
        self.topic = topic
        self.rate = rate
        self.next_seq = [0] * PARTITIONS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            pause = start + sent / self.rate - time.monotonic()
            if pause > 0:
                self.producer.poll(pause)
                continue
            partition = sent % PARTITIONS
            seq = self.next_seq[partition]
            try:
                self.producer.produce(self.topic, key=str(partition).encode(), value=f"{partition}:{seq}".encode(),
                                      partition=partition, on_delivery=self.delivered.on_delivery)
            except BufferError:
                self.producer.poll(0.1)
                continue
            except KafkaException as exc:  # fatal: the producer takes nothing more
                self.delivered.on_error(exc.args[0])
                return
            self.next_seq[partition] += 1
            sent += 1
            self.producer.poll(0)

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> int:
        """Stop sending and wait for every answer; the number still unanswered."""
        self._stop.set()
        self._thread.join(10)
        try:
            return self.producer.flush(timeout)
        except KafkaException:  # after a fatal error; the delivery reports still came
            return len(self.producer)


@dataclass
class ReadBack:
    records: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    offset_mismatches: int = 0
    wrong_partition: int = 0
    seen: set[tuple[int, int]] = field(default_factory=set)


def read_back(bootstrap: str, topic: str, delivered: Delivered, timeout: float) -> ReadBack:
    """Every record of every partition up to its log end, checked against what was acknowledged."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    result = ReadBack()
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        highest = {p: -1 for p in range(PARTITIONS)}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 1.0):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF and msg.offset() >= ends[msg.partition()]:
                        done.add(msg.partition())
                    continue
                result.records += 1
                partition, seq = parse(msg.value())
                if partition != msg.partition():
                    result.wrong_partition += 1
                if (partition, seq) in result.seen:
                    result.duplicates += 1
                    continue
                result.seen.add((partition, seq))
                if seq < highest[partition]:
                    result.out_of_order += 1
                highest[partition] = max(highest[partition], seq)
                acked_at = delivered.acked[partition].get(seq)
                if acked_at is not None and acked_at >= 0 and acked_at != msg.offset():
                    result.offset_mismatches += 1
        if len(done) < PARTITIONS:
            print(f"read-back timed out: partitions {sorted(set(range(PARTITIONS)) - done)} not read to their ends {ends}",
                  file=sys.stderr)
    finally:
        consumer.close()
    return result


def runs(records: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Sorted (partition, seq) pairs as (partition, first, last) runs of consecutive numbers."""
    out: list[tuple[int, int, int]] = []
    for partition, seq in records:
        if out and out[-1][0] == partition and out[-1][2] == seq - 1:
            out[-1] = (partition, out[-1][1], seq)
        else:
            out.append((partition, seq, seq))
    return out


def leaders(cluster: Cluster, topic: str) -> str:
    try:
        return ", ".join(f"p{p}:{leader}/{''.join(map(str, isr))}"
                         for p, (leader, _, isr) in sorted(partitions(cluster, topic).items()))
    except Exception as exc:  # noqa: BLE001 - a broker mid-restart: the timeline just says so
        return f"(no metadata: {exc})"


def start_again(cluster: Cluster, broker_id: int, log) -> None:
    for attempt in range(5):
        try:
            cluster.brokers[broker_id].start()
            return
        except BrokerStartError as exc:
            log(f"broker {broker_id} did not start (attempt {attempt + 1}): {str(exc).splitlines()[0]}")
            time.sleep(2)
    raise SystemExit(f"broker {broker_id} would not start again; see {cluster.workdir}")


def faults(cluster: Cluster, topic: str, seconds: float, rng: random.Random, down: Span, gap: Span,
           log) -> collections.Counter[str]:
    """For `seconds`, stop one broker at a time at random: after a `gap`, down for `down` seconds."""
    stops: collections.Counter[str] = collections.Counter()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(rng.uniform(*gap))
        victim = rng.choice(sorted(cluster.brokers))
        kill = rng.random() >= SIGTERM_SHARE
        log(f"{'SIGKILL' if kill else 'SIGTERM'} broker {victim}; leaders/ISRs before: {leaders(cluster, topic)}")
        cluster.brokers[victim].stop(kill=kill)
        stops["SIGKILL" if kill else "SIGTERM"] += 1
        time.sleep(rng.uniform(*down))
        start_again(cluster, victim, log)
        log(f"broker {victim} back")
    return stops


def span(text: str) -> Span:
    """'1-5' -> (1.0, 5.0): a range of seconds to draw from."""
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=3.0, help="how long brokers are killed (default 3)")
    p.add_argument("--rate", type=int, default=2000, help="records a second the producer sends (default 2000)")
    p.add_argument("--down", type=span, default=(1.0, 5.0), metavar="MIN-MAX",
                   help="seconds a stopped broker stays down (default 1-5)")
    p.add_argument("--gap", type=span, default=(2.0, 6.0), metavar="MIN-MAX",
                   help="seconds from a broker's return to the next stop (default 2-6; below about 2 the "
                        "returned broker may not be back in the ISRs, and partitions go offline for a while)")
    p.add_argument("--seed", type=int, default=None, help="seed of the fault schedule (default: random, printed)")
    p.add_argument("--workdir", type=Path, default=None, help="where the cluster keeps its data and logs")
    args = p.parse_args(argv)
    if not zookeeper_available():
        sys.exit("needs Debian's zookeeper package and Java")
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kbroker-soak-"))
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - began:7.1f}s] {text}", file=sys.stderr, flush=True)

    log(f"seed {seed}; cluster in {workdir}")
    topic = f"soak-{uuid.uuid4().hex[:8]}"
    with Cluster(workdir) as cluster:
        create_topic(cluster, topic, partitions_count=PARTITIONS, replication_factor=3,
                     config={"min.insync.replicas": "2"})
        load = SteadyProducer(cluster.bootstrap_servers, topic, args.rate).start()
        stops = faults(cluster, topic, args.minutes * 60, random.Random(seed), args.down, args.gap, log)
        log(f"faults over; waiting for full ISRs: {leaders(cluster, topic)}")
        try:
            wait_until(lambda: all(sorted(isr) == [1, 2, 3] for _, _, isr in partitions(cluster, topic).values()),
                       120, "every partition's ISR to hold all three brokers")
        except AssertionError as exc:
            log(f"{exc}; reading back anyway: {leaders(cluster, topic)}")
        unanswered = load.stop(timeout=180)
        log(f"producer flushed ({unanswered} unanswered); reading back: {leaders(cluster, topic)}")
        delivered = load.delivered
        found = read_back(cluster.bootstrap_servers, topic, delivered, timeout=300)
    acked = {(p, seq) for p, seqs in delivered.acked.items() for seq in seqs}
    lost = sorted(acked - found.seen)
    figures = {
        "kills": f"{stops['SIGKILL']} SIGKILL, {stops['SIGTERM']} SIGTERM",
        "records sent": sum(load.next_seq),
        "acknowledged records": len(acked),
        "failed deliveries": sum(delivered.failed.values()),
        "failed by error": dict(delivered.failed) or "-",
        "fatal producer errors": delivered.fatal or "-",
        "unanswered at the end": unanswered,
        "records read": found.records,
        "failed but read (may be written)": len(delivered.failed_records & found.seen),
        "duplicates": found.duplicates,
        "lost": len(lost),
        "out of order": found.out_of_order,
        "offset mismatches (read at another offset than acknowledged)": found.offset_mismatches,
        "in the wrong partition": found.wrong_partition,
        "elapsed": f"{time.monotonic() - began:.0f} s",
        "seed": seed,
        "logs": workdir,
    }
    width = max(map(len, figures))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in figures.items()))
    if lost:
        print("lost, as partition: seqs (acknowledged offsets): " + "; ".join(
            f"p{p}: {first}-{last} ({delivered.acked[p][first]}-{delivered.acked[p][last]})" for p, first, last in runs(lost)))
    bad = lost or found.duplicates or found.out_of_order or found.offset_mismatches or found.wrong_partition
    return 1 if bad or delivered.fatal else 0


if __name__ == "__main__":
    sys.exit(main())
