"""Where the coordinator keeps its records: `__consumer_offsets`, or memory for tests.

The coordinator only needs two things from storage: append a group's records (they go to that
group's partition, in order) and read everything back at start-up. Replaying the records with
"last value per key wins, a null value deletes" gives the compacted view whether or not the log
has been compacted yet.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Iterator, Protocol

from kproto.records import Record, build_batch, decode_batches

from kbroker.groups.records import RecordBytes, partition_for

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger("kbroker.groups")
OFFSETS_TOPIC = "__consumer_offsets"
LOAD_CHUNK_BYTES = 1 << 20  # read granularity at start-up; a larger batch still comes whole


class GroupLog(Protocol):
    def append(self, group_id: str, records: list[RecordBytes]) -> None: ...

    def load(self) -> Iterator[RecordBytes]: ...


class MemoryGroupLog:
    """Records kept in a list: a coordinator that forgets everything when the process ends."""

    def __init__(self) -> None:
        self.records: list[tuple[str, RecordBytes]] = []

    def append(self, group_id: str, records: list[RecordBytes]) -> None:
        self.records.extend((group_id, record) for record in records)

    def load(self) -> Iterator[RecordBytes]:
        return iter([record for _, record in self.records])


class OffsetsTopicLog:
    """`__consumer_offsets` on the broker's own partition logs, created on first write as Kafka does.

    Creating its partitions costs a few fsyncs each, so a broker that never sees a group never
    pays for them.
    """

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def _partitions(self) -> int:
        config = self.broker.config
        return self.broker.internal_topic_partitions(
            OFFSETS_TOPIC, config["offsets.topic.num.partitions"], config["offsets.topic.segment.bytes"])

    def append(self, group_id: str, records: list[RecordBytes]) -> None:
        if not records:
            return
        plog = self.broker.partition_log(OFFSETS_TOPIC, partition_for(group_id, self._partitions()))
        now = int(time.time() * 1000)
        batch = build_batch([Record(i, now, key, value) for i, (key, value) in enumerate(records)])
        plog.append(bytearray(batch))

    def load(self) -> Iterator[RecordBytes]:
        info = self.broker.topics.get(OFFSETS_TOPIC)
        for index in range(info.partitions if info else 0):
            plog = self.broker.partition_log(OFFSETS_TOPIC, index)
            if plog is None:
                continue
            offset = plog.log_start_offset
            while offset < plog.log_end_offset:
                data = plog.read(offset, LOAD_CHUNK_BYTES)
                batches = decode_batches(data)
                if not batches:
                    break
                for batch in batches:
                    if not batch.header.is_control:
                        for record in batch.records:
                            if record.offset >= offset:
                                yield record.key, record.value
                    offset = batch.header.next_offset
