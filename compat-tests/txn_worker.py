"""A consume-transform-produce worker with exactly-once semantics, run as its own process so that a
test can see it die mid-transaction.

    python txn_worker.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID COUNT [CRASH_AFTER]

Reads INPUT with read_committed, writes each value with an "out-" prefix to OUTPUT and sends the
consumed offsets in the same transaction, until COUNT inputs are processed. With CRASH_AFTER, it
SIGKILLs itself after that many committed transactions, inside the next one before its commit.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

TIMEOUT = 20
BATCH = 5


def run(bootstrap: str, source: str, target: str, group: str, transactional_id: str, count: int,
        crash_after: int | None) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(source, 0)])  # committed offset, else earliest
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(TIMEOUT)
    committed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        messages = [m for m in consumer.consume(num_messages=BATCH, timeout=0.5) if m.error() is None]
        if not messages:
            position = consumer.position([TopicPartition(source, 0)])[0].offset
            if position >= count:
                break
            continue
        producer.begin_transaction()
        for message in messages:
            producer.produce(target, value=b"out-" + message.value(), partition=0)
        producer.send_offsets_to_transaction([TopicPartition(source, 0, messages[-1].offset() + 1)],
                                             consumer.consumer_group_metadata(), TIMEOUT)
        if crash_after is not None and committed == crash_after:
            producer.flush(TIMEOUT)
            os.kill(os.getpid(), signal.SIGKILL)
        producer.commit_transaction(TIMEOUT)
        committed += 1
    producer.flush(TIMEOUT)
    consumer.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    run(args[0], args[1], args[2], args[3], args[4], int(args[5]), int(args[6]) if len(args) > 6 else None)
