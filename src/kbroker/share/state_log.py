"""`__share_group_state`: the share coordinator's records, in Kafka's format, so share partitions outlive restarts.

Each share partition (group id, topic id, partition) is keyed by a ShareSnapshotKey (record type
0) or a ShareUpdateKey (type 1), the type being the key's version as Kafka writes it. A
ShareSnapshot holds the whole state; a ShareUpdate the start offset, the leader epoch and the
batches that changed since, to be combined with the snapshot before it. Deleting a share
partition's state writes tombstones for both keys. The partition of a key is Kafka's:
abs(hashCode("group:topicId:partition")) mod `share.coordinator.state.topic.num.partitions`.
"""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from typing import Iterator

from kproto.codec import decode, encode
from kproto.records import Record, build_batch
from kproto.schema.share_state_log import ShareSnapshotKey, ShareSnapshotValue, ShareUpdateKey, ShareUpdateValue

from kbroker.coordinator_log import InternalTopicHost, stored_records
from kbroker.groups.records import partition_for
from kbroker.log.metadata import uuid_to_str
from kbroker.share.state import ShareState, StateBatch, combine, delivery_complete

STATE_TOPIC = "__share_group_state"
SNAPSHOT, UPDATE = 0, 1  # record types: the key's version
VALUE_VERSION = 0
VERSION = struct.Struct(">h")
StateKey = tuple[str, uuid.UUID, int]  # (group id, topic id, partition)


def coordinator_key(key: StateKey) -> str:
    """Kafka's "group:topicId:partition", the topic id in its base64 form: what FindCoordinator's
    SHARE key type names and what picks the partition."""
    group_id, topic_id, partition = key
    return f"{group_id}:{uuid_to_str(topic_id)}:{partition}"


def state_records(key: StateKey, state: ShareState, kind: int) -> tuple[bytes, bytes]:
    """The (key, value) of a ShareSnapshot or a ShareUpdate of `state`."""
    group_id, topic_id, partition = key
    key_cls, value_cls = ((ShareSnapshotKey, ShareSnapshotValue) if kind == SNAPSHOT
                          else (ShareUpdateKey, ShareUpdateValue))
    raw_key = VERSION.pack(kind) + encode(key_cls(group_id=group_id, topic_id=topic_id, partition=partition), kind)
    value = value_cls(snapshot_epoch=state.snapshot_epoch, leader_epoch=state.leader_epoch,
                      start_offset=state.start_offset,
                      state_batches=[value_cls.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                                          delivery_state=b.delivery_state,
                                                          delivery_count=b.delivery_count) for b in state.batches])
    if kind == SNAPSHOT:
        value.state_epoch = state.state_epoch
    return raw_key, VERSION.pack(VALUE_VERSION) + encode(value, VALUE_VERSION)


def tombstone_keys(key: StateKey) -> list[bytes]:
    group_id, topic_id, partition = key
    return [VERSION.pack(kind) + encode(cls(group_id=group_id, topic_id=topic_id, partition=partition), kind)
            for kind, cls in ((SNAPSHOT, ShareSnapshotKey), (UPDATE, ShareUpdateKey))]


def replay(states: dict[StateKey, ShareState], updates: dict[StateKey, int], raw_key: bytes,
           raw_value: bytes | None) -> None:
    """Apply one record to `states` (and the count of updates since each snapshot), as the
    coordinator does when it loads a partition."""
    (kind,) = VERSION.unpack_from(raw_key)
    if kind not in (SNAPSHOT, UPDATE):
        return  # a record type of a later Kafka: not ours to read
    k = decode(ShareSnapshotKey if kind == SNAPSHOT else ShareUpdateKey, kind, raw_key, 2)
    key = (k.group_id, k.topic_id, k.partition)
    if raw_value is None:
        states.pop(key, None)
        updates.pop(key, None)
        return
    (version,) = VERSION.unpack_from(raw_value)
    v = decode(ShareSnapshotValue if kind == SNAPSHOT else ShareUpdateValue, version, raw_value, 2)
    batches = [StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count) for b in v.state_batches]
    apply(states, updates, key, kind, ShareState(v.snapshot_epoch, v.state_epoch if kind == SNAPSHOT else -1,
                                                 v.leader_epoch, v.start_offset, batches))


def apply(states: dict[StateKey, ShareState], updates: dict[StateKey, int], key: StateKey, kind: int,
          value: ShareState) -> None:
    """What a ShareSnapshot or ShareUpdate record of `value` does to the state of `key`."""
    stored = states.get(key)
    if kind == SNAPSHOT:
        states[key] = ShareState(value.snapshot_epoch, value.state_epoch, value.leader_epoch, value.start_offset,
                                 list(value.batches))
        updates[key] = 0
    elif stored is not None:
        stored.start_offset = stored.start_offset if value.start_offset == -1 else value.start_offset
        stored.leader_epoch = stored.leader_epoch if value.leader_epoch == -1 else value.leader_epoch
        stored.batches = combine(stored.batches, value.batches, stored.start_offset)
        updates[key] = updates.get(key, 0) + 1
    else:
        return  # an update without its snapshot (compacted away with a deletion): nothing to apply it to
    state = states[key]
    if state.batches:
        state.delivery_complete_count = delivery_complete(state.batches)


class ShareStateLog:
    """The topic on the broker's own logs, created on first use, as Kafka does."""

    def __init__(self, broker: InternalTopicHost) -> None:
        self.broker = broker

    def partitions(self) -> int:
        config = self.broker.config
        return self.broker.internal_topic_partitions(
            STATE_TOPIC, config["share.coordinator.state.topic.num.partitions"],
            config["share.coordinator.state.topic.segment.bytes"])

    def partition_of(self, key: StateKey) -> int:
        return partition_for(coordinator_key(key), self.partitions())

    def replicated(self, partition: int) -> asyncio.Future | None:
        """A future of the acks=all outcome of what was written so far to the partition; None on a
        single node."""
        plog = self.broker.partition_log(STATE_TOPIC, partition)
        return self.broker.replication_waiter(STATE_TOPIC, partition, plog.log_end_offset) if plog else None

    def append(self, key: StateKey, records: list[tuple[bytes, bytes | None]]) -> None:
        now = int(time.time() * 1000)
        batch = bytearray(build_batch([Record(i, now, k, v) for i, (k, v) in enumerate(records)]))
        self.broker.append_internal(STATE_TOPIC, self.partition_of(key), batch)

    def load(self, partitions: list[int] | None = None) -> Iterator[tuple[bytes, bytes | None]]:
        """Every record of the partitions (None: all of them), in order."""
        info = self.broker.topics.get(STATE_TOPIC)
        for index in range(info.partitions if info else 0) if partitions is None else partitions:
            for record in stored_records(self.broker.partition_log(STATE_TOPIC, index),
                                         self.broker.config["share.coordinator.load.buffer.size"]):
                yield record.key, record.value
