"""One consumer-group member in its own process, so a test can stop it cleanly or kill it.

    python group_member.py CLIENT BOOTSTRAP TOPIC GROUP [--assignor NAME] [--instance ID] [--session-ms N]
                           [--protocol classic|consumer]

CLIENT is kafka-python, confluent-kafka or aiokafka. The member commits after every batch and
prints one JSON object per line: {"assigned": [partitions]} whenever its assignment changes,
{"p": partition, "o": offset, "v": value} per record, and (librdkafka only) {"on_assign": [...]} from
each rebalance callback, which counts rebalances exactly. Ownership is reported with the system's
monotonic clock, which every process shares: {"gained": [...], "t": s} from the client's
assignment callback, {"released": [...], "t": s} from its revocation callback and when it stops
consuming to close. SIGTERM closes it (leaving the group); SIGKILL is the crash case.
`--protocol consumer` (confluent-kafka only) joins through KIP-848, with the assignor as
`group.remote.assignor`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

POLL_SECONDS = 0.3
FIRST_JOIN_POLL_SECONDS = 10
stopping = False


def emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def on_sigterm(*_: object) -> None:
    global stopping
    stopping = True


def commit_failed(error: object, batch: list[tuple[int, str]]) -> None:
    """A commit refused because the group moved on is normal in a rebalance (Kafka answers
    ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS or UNKNOWN_MEMBER_ID): the batch's records, named
    here as (partition, value), may be read again."""
    emit(commit_failed=str(error), uncommitted=batch)


def gained(partitions: list[int]) -> None:
    emit(gained=sorted(partitions), t=time.monotonic())


def released(partitions: list[int]) -> None:
    emit(released=sorted(partitions), t=time.monotonic())


class Reporter:
    """Prints the assignment each time it differs from the last one printed."""

    def __init__(self) -> None:
        self.last: list[int] | None = None

    def update(self, partitions: list[int]) -> None:
        partitions = sorted(partitions)
        if partitions != self.last:
            self.last = partitions
            emit(assigned=partitions)


def run_kafka_python(args: argparse.Namespace) -> None:
    import kafka
    from kafka.errors import CommitFailedError
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    class Listener(kafka.ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            released([tp.partition for tp in revoked])

        def on_partitions_assigned(self, assigned):
            gained([tp.partition for tp in assigned])

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=args.session_ms, heartbeat_interval_ms=1000,
        group_instance_id=args.instance, partition_assignment_strategy=[assignors[args.assignor or "range"]])
    consumer.subscribe([args.topic], listener=Listener())
    reporter = Reporter()
    while not stopping:
        # kafka-python 3.0.12 can drop a join it started when a poll times out mid-join and the
        # leader's own assignment has since cleared its reason to rejoin: the member then waits
        # forever with heartbeats off. A long poll until the first assignment lets the join finish
        # inside one call, which makes that client bug rare in this test.
        timeout = POLL_SECONDS if consumer.assignment() else FIRST_JOIN_POLL_SECONDS
        batches = consumer.poll(timeout_ms=int(timeout * 1000))
        batch = [(r.partition, r.value.decode()) for records in batches.values() for r in records]
        for records in batches.values():
            for r in records:
                emit(p=r.partition, o=r.offset, v=r.value.decode())
        if batches:
            try:
                consumer.commit()
            except CommitFailedError as error:
                commit_failed(error, batch)
        reporter.update([tp.partition for tp in consumer.assignment()])
    released([tp.partition for tp in consumer.assignment()])
    consumer.close()


def run_confluent(args: argparse.Namespace) -> None:
    import confluent_kafka

    rebalance_errors = {confluent_kafka.KafkaError.ILLEGAL_GENERATION,
                        confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS,
                        confluent_kafka.KafkaError.UNKNOWN_MEMBER_ID}

    config = {
        "bootstrap.servers": args.bootstrap, "group.id": args.group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    if args.protocol == "consumer":  # KIP-848: the broker sets timeouts and assigns (group.remote.assignor)
        config.update({"group.protocol": "consumer", "group.remote.assignor": args.assignor or "uniform"})
    else:
        config.update({"session.timeout.ms": args.session_ms, "heartbeat.interval.ms": 1000,
                       "partition.assignment.strategy": args.assignor or "range"})
    if args.instance:
        config["group.instance.id"] = args.instance
    def on_assign(_consumer, parts) -> None:
        emit(on_assign=sorted(p.partition for p in parts))
        gained([p.partition for p in parts])

    def on_revoke(_consumer, parts) -> None:
        released([p.partition for p in parts])

    consumer = confluent_kafka.Consumer(config)
    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    reporter = Reporter()
    while not stopping:
        records = consumer.consume(num_messages=500, timeout=POLL_SECONDS)
        good = [r for r in records if r.error() is None]
        for r in good:
            emit(p=r.partition(), o=r.offset(), v=r.value().decode())
        if good:
            try:
                consumer.commit(asynchronous=False)
            except confluent_kafka.KafkaException as error:
                if error.args[0].code() not in rebalance_errors:
                    raise
                commit_failed(error, [(r.partition(), r.value().decode()) for r in good])
        reporter.update([tp.partition for tp in consumer.assignment()])
    released([tp.partition for tp in consumer.assignment()])
    consumer.close()


async def run_aiokafka(args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    from aiokafka.errors import CommitFailedError
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            released([tp.partition for tp in revoked])

        def on_partitions_assigned(self, assigned):
            gained([tp.partition for tp in assigned])

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=args.session_ms, heartbeat_interval_ms=1000,
        group_instance_id=args.instance, partition_assignment_strategy=(assignors[args.assignor or "range"],))
    consumer.subscribe([args.topic], listener=Listener())
    await consumer.start()
    reporter = Reporter()
    try:
        while not stopping:
            batches = await consumer.getmany(timeout_ms=int(POLL_SECONDS * 1000))
            batch = [(r.partition, r.value.decode()) for records in batches.values() for r in records]
            for records in batches.values():
                for r in records:
                    emit(p=r.partition, o=r.offset, v=r.value.decode())
            if batches:
                try:
                    await consumer.commit()
                except CommitFailedError as error:
                    commit_failed(error, batch)
            reporter.update([tp.partition for tp in consumer.assignment()])
    finally:
        released([tp.partition for tp in consumer.assignment()])
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=["kafka-python", "confluent-kafka", "aiokafka"])
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("--assignor")
    parser.add_argument("--instance")
    parser.add_argument("--session-ms", type=int, default=6000)
    parser.add_argument("--protocol", choices=["classic", "consumer"], default="classic")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    if args.client == "kafka-python":
        run_kafka_python(args)
    elif args.client == "confluent-kafka":
        run_confluent(args)
    else:
        asyncio.run(run_aiokafka(args))
    emit(closed=True)


if __name__ == "__main__":
    main()
