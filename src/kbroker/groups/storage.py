"""Where the coordinator keeps its records: `__consumer_offsets`, or memory for tests.

The coordinator only needs two things from storage: append a group's records (they go to that
group's partition, in order) and read a partition back when it starts serving it (at start-up on
a single node; on becoming its leader in a cluster). Replaying the records with "last value per
key wins, a null value deletes" gives the compacted view whether or not the log has been
compacted yet. In a cluster only the partition's leader appends, and `replicated` says when what
it appended has reached the in-sync replicas.

Offsets sent in a transaction are appended as a transactional batch carrying the producer's id
and epoch, as Kafka's coordinator writes them; they stay pending until the transaction's COMMIT
or ABORT marker in the same partition, which replay hands over in log order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Iterator, Protocol, Union

from kproto.compression import Codec
from kproto.records import Record, build_batch
from kproto.records.control import ControlType, read_control_type

from kbroker.coordinator_log import InternalTopicHost, stored_batches
from kbroker.groups.records import RecordBytes, partition_for

log = logging.getLogger("kbroker.groups")
OFFSETS_TOPIC = "__consumer_offsets"
LOAD_CHUNK_BYTES = 1 << 20  # read granularity at start-up; a larger batch still comes whole
NO_PRODUCER_ID = -1
TXN_BASE_SEQUENCE = 0  # Kafka's coordinator writes its transactional batches with sequence 0


@dataclass(frozen=True, slots=True)
class Producer:
    """The transactional producer whose TxnOffsetCommit a batch holds."""

    producer_id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class StoredRecord:
    key: bytes
    value: bytes | None
    offset: int  # in the group's partition
    producer_id: int = NO_PRODUCER_ID  # set for offsets committed in a transaction


@dataclass(frozen=True, slots=True)
class TxnMarker:
    """A transaction's end in the partition: its pending offsets there are committed or dropped."""

    producer_id: int
    commit: bool
    partition: int


Replayed = Union[StoredRecord, TxnMarker]


class GroupLog(Protocol):
    def append(self, group_id: str, records: list[RecordBytes], producer: Producer | None = None) -> int:
        """Append the group's records, transactional when `producer` is given; the first record's offset."""

    def load(self, partition: int | None = None) -> Iterator[Replayed]:
        """The records of one partition, or of every partition when `partition` is None."""

    def partition_of(self, group_id: str) -> int: ...

    def replicated(self, group_id: str) -> asyncio.Future | None:
        """A future of the acks=all outcome of everything appended so far to the group's partition;
        None where appends are complete at once."""


class MemoryGroupLog:
    """Records kept in a list, one partition: a coordinator that forgets everything when the process ends."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Replayed]] = []

    def append(self, group_id: str, records: list[RecordBytes], producer: Producer | None = None) -> int:
        first = len(self.entries)
        producer_id = producer.producer_id if producer else NO_PRODUCER_ID
        self.entries.extend((group_id, StoredRecord(key, value, first + i, producer_id))
                            for i, (key, value) in enumerate(records))
        return first if records else -1

    def end_transaction(self, producer_id: int, commit: bool) -> None:
        """The marker a transaction coordinator writes, as the broker does into `__consumer_offsets`."""
        self.entries.append(("", TxnMarker(producer_id, commit, 0)))

    def load(self, partition: int | None = None) -> Iterator[Replayed]:
        return iter([entry for _, entry in self.entries])

    def partition_of(self, group_id: str) -> int:
        return 0

    def replicated(self, group_id: str) -> asyncio.Future | None:
        return None


class OffsetsTopicLog:
    """`__consumer_offsets` on the broker's own partition logs, created on first use as Kafka does.

    Creating its partitions costs a few fsyncs each, so a broker that never sees a group never
    pays for them.
    """

    def __init__(self, broker: InternalTopicHost) -> None:
        self.broker = broker

    def _partitions(self) -> int:
        config = self.broker.config
        return self.broker.internal_topic_partitions(
            OFFSETS_TOPIC, config["offsets.topic.num.partitions"], config["offsets.topic.segment.bytes"])

    def partition_of(self, group_id: str) -> int:
        return partition_for(group_id, self._partitions())

    def append(self, group_id: str, records: list[RecordBytes], producer: Producer | None = None) -> int:
        if not records:
            return -1
        partition = self.partition_of(group_id)
        now = int(time.time() * 1000)
        entries = [Record(i, now, key, value) for i, (key, value) in enumerate(records)]
        codec = Codec(self.broker.config["offsets.topic.compression.codec"])
        if producer is None:
            batch = bytearray(build_batch(entries, compression=codec))
            return self.broker.append_internal(OFFSETS_TOPIC, partition, batch)
        batch = bytearray(build_batch(entries, compression=codec, transactional=True,
                                      producer_id=producer.producer_id, producer_epoch=producer.epoch,
                                      base_sequence=TXN_BASE_SEQUENCE))
        first = self.broker.append_internal(OFFSETS_TOPIC, partition, batch)
        plog = self.broker.partition_log(OFFSETS_TOPIC, partition)
        self.broker.producer_states(plog).record(plog, batch)  # the partition's open transaction, as for any log
        return first

    def replicated(self, group_id: str) -> asyncio.Future | None:
        partition = self.partition_of(group_id)
        plog = self.broker.partition_log(OFFSETS_TOPIC, partition)
        return self.broker.replication_waiter(OFFSETS_TOPIC, partition, plog.log_end_offset) if plog else None

    def load(self, partition: int | None = None) -> Iterator[Replayed]:
        info = self.broker.topics.get(OFFSETS_TOPIC)
        for index in range(info.partitions if info else 0) if partition is None else [partition]:
            yield from self._replay(index)

    def _replay(self, partition: int) -> Iterator[Replayed]:
        plog = self.broker.partition_log(OFFSETS_TOPIC, partition)
        start = plog.log_start_offset if plog else 0
        for batch in stored_batches(plog, LOAD_CHUNK_BYTES):
            header = batch.header
            if header.is_control:
                kind = read_control_type(batch.records[0].key) if batch.records else None
                if kind in (ControlType.COMMIT, ControlType.ABORT):
                    yield TxnMarker(header.producer_id, kind == ControlType.COMMIT, partition)
            else:
                producer_id = header.producer_id if header.is_transactional else NO_PRODUCER_ID
                for record in batch.records:
                    if record.offset >= start:
                        yield StoredRecord(record.key, record.value, record.offset, producer_id)
