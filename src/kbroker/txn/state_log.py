"""`__transaction_state`: the coordinator's records, in Kafka's format, so transactions outlive restarts.

Each record is keyed by transactional id (TransactionLogKey v0) and holds the id's whole state
(TransactionLogValue v0, as Kafka writes it at transaction.version 0: without v1's tagged fields
such as the previous producer id, which are read when a record has them), in the partition Kafka
picks: abs(hashCode) mod `transaction.state.log.num.partitions`. Replaying the records with "the
last value per key wins" gives the current state.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Iterator

from kproto.codec import decode, encode
from kproto.records import Record, build_batch
from kproto.schema.transaction_log import TransactionLogKey, TransactionLogValue

from kbroker.coordinator_log import InternalTopicHost, stored_records
from kbroker.groups.records import partition_for
from kbroker.txn.coordinator import TxnMetadata, TxnState

STATE_TOPIC = "__transaction_state"
KEY_VERSION = 0
VALUE_VERSION = 0
VERSION = struct.Struct(">h")
LOAD_CHUNK_BYTES = 1 << 20
STATUS_CODES = {TxnState.EMPTY: 0, TxnState.ONGOING: 1, TxnState.PREPARE_COMMIT: 2, TxnState.PREPARE_ABORT: 3,
                TxnState.COMPLETE_COMMIT: 4, TxnState.COMPLETE_ABORT: 5}
STATES = {code: state for state, code in STATUS_CODES.items()}


def state_key(transactional_id: str) -> bytes:
    return VERSION.pack(KEY_VERSION) + encode(TransactionLogKey(transactional_id=transactional_id), KEY_VERSION)


def state_record(txn: TxnMetadata) -> tuple[bytes, bytes]:
    key = state_key(txn.transactional_id)
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(txn.partitions):
        by_topic.setdefault(topic, []).append(partition)
    value = TransactionLogValue(
        producer_id=txn.producer_id, producer_epoch=txn.epoch, transaction_timeout_ms=txn.timeout_ms,
        transaction_status=STATUS_CODES[txn.state],
        transaction_partitions=[TransactionLogValue.PartitionsSchema(topic=t, partition_ids=p) for t, p in by_topic.items()],
        transaction_last_update_timestamp_ms=txn.last_update_ms, transaction_start_timestamp_ms=txn.start_ms)
    if txn.state is TxnState.EMPTY:
        value.transaction_partitions = None  # Kafka writes no partition list for an Empty transaction
    return key, VERSION.pack(VALUE_VERSION) + encode(value, VALUE_VERSION)


def read_state_record(key: bytes, value: bytes | None) -> tuple[str, TxnMetadata | None]:
    (key_version,) = VERSION.unpack_from(key)
    transactional_id = decode(TransactionLogKey, key_version, key, 2).transactional_id
    if value is None:
        return transactional_id, None
    (version,) = VERSION.unpack_from(value)
    v = decode(TransactionLogValue, version, value, 2)
    state = STATES[v.transaction_status]
    partitions = [] if state is TxnState.EMPTY else v.transaction_partitions or []  # Kafka ignores them when Empty
    return transactional_id, TxnMetadata(
        transactional_id, v.producer_id, v.producer_epoch, v.transaction_timeout_ms, state,
        {(p.topic, i) for p in partitions for i in p.partition_ids},
        start_ms=v.transaction_start_timestamp_ms, last_update_ms=v.transaction_last_update_timestamp_ms,
        prev_producer_id=v.previous_producer_id)  # a v1 record's tagged field; -1 in v0


class TransactionStateLog:
    """The topic on the broker's own logs, created on first use (a coordinator lookup or a write), as Kafka does."""

    def __init__(self, broker: InternalTopicHost) -> None:
        self.broker = broker

    def _partitions(self) -> int:
        config = self.broker.config
        return self.broker.internal_topic_partitions(
            STATE_TOPIC, config["transaction.state.log.num.partitions"], config["transaction.state.log.segment.bytes"])

    def write(self, txn: TxnMetadata) -> None:
        self._append(txn.transactional_id, *state_record(txn))

    def remove(self, transactional_id: str) -> None:
        """The tombstone of an expired transactional id."""
        self._append(transactional_id, state_key(transactional_id), None)

    def replicated(self, transactional_id: str) -> asyncio.Future | None:
        """A future of the acks=all outcome of what was written so far to the id's partition; None
        on a single node."""
        partition = self.partition_of(transactional_id)
        plog = self.broker.partition_log(STATE_TOPIC, partition)
        return self.broker.replication_waiter(STATE_TOPIC, partition, plog.log_end_offset) if plog else None

    def partition_of(self, transactional_id: str) -> int:
        """The partition that keeps `transactional_id`; the topic is created if it is not there yet."""
        return partition_for(transactional_id, self._partitions())

    def _append(self, transactional_id: str, key: bytes, value: bytes | None) -> None:
        batch = bytearray(build_batch([Record(0, int(time.time() * 1000), key, value)]))
        self.broker.append_internal(STATE_TOPIC, self.partition_of(transactional_id), batch)

    def load(self, partition: int | None = None) -> Iterator[TxnMetadata]:
        """The last state of every transactional id of one partition, or of them all."""
        latest: dict[str, TxnMetadata | None] = {}
        info = self.broker.topics.get(STATE_TOPIC)
        for index in range(info.partitions if info else 0) if partition is None else [partition]:
            for record in stored_records(self.broker.partition_log(STATE_TOPIC, index), LOAD_CHUNK_BYTES):
                transactional_id, txn = read_state_record(record.key, record.value)
                latest[transactional_id] = txn
        return (txn for txn in latest.values() if txn is not None)
