"""Committed offsets, by group, topic and partition, the offsets of open transactions waiting
beside them, and Kafka's rules for when offsets expire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from kbroker.groups.classic import ClassicGroup
from kbroker.groups.states import EMPTY, STABLE

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    #: set only by OffsetCommit v2-4 with an explicit retention time
    expire_timestamp: int | None = None
    #: where its record sits in `__consumer_offsets`: of a plain and a transactional commit of one
    #: partition, the later record wins when the transaction commits
    record_offset: int = -1


class OffsetStore:
    """The latest committed offset of each partition, per group (the compacted view of the log)."""

    def __init__(self) -> None:
        self._by_group: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}

    def get(self, group_id: str, topic: str, partition: int) -> OffsetAndMetadata | None:
        offsets = self._by_group.get(group_id)
        return offsets.get((topic, partition)) if offsets else None

    def of_group(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        return self._by_group.get(group_id, {})

    def has_group(self, group_id: str) -> bool:
        return bool(self._by_group.get(group_id))

    def groups(self) -> Iterator[str]:
        return iter(list(self._by_group))

    def put(self, group_id: str, topic: str, partition: int, offset: OffsetAndMetadata) -> None:
        self._by_group.setdefault(group_id, {})[(topic, partition)] = offset

    def delete(self, group_id: str, topic: str, partition: int) -> bool:
        offsets = self._by_group.get(group_id)
        if not offsets or offsets.pop((topic, partition), None) is None:
            return False
        if not offsets:
            del self._by_group[group_id]
        return True

    def delete_group(self, group_id: str) -> list[TopicPartition]:
        return list(self._by_group.pop(group_id, {}))


class PendingOffsets:
    """Offsets sent in open transactions (TxnOffsetCommit), by producer id, as Kafka keeps them.

    Their records are in `__consumer_offsets` already, in a transactional batch; the transaction's
    COMMIT marker makes them committed offsets and its ABORT marker drops them. A producer has at
    most one open transaction, so its pending offsets all belong to it.
    """

    def __init__(self) -> None:
        self._by_producer: dict[int, dict[str, dict[TopicPartition, OffsetAndMetadata]]] = {}

    def put(self, producer_id: int, group_id: str, topic: str, partition: int, offset: OffsetAndMetadata) -> None:
        self._by_producer.setdefault(producer_id, {}).setdefault(group_id, {})[(topic, partition)] = offset

    def take(self, producer_id: int, wanted: Callable[[str], bool]
             ) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """The producer's pending offsets in the `wanted` groups, by group, forgotten here: its
        transaction has ended in their partition."""
        groups = self._by_producer.get(producer_id, {})
        taken = {group_id: groups.pop(group_id) for group_id in [g for g in groups if wanted(g)]}
        if not groups:
            self._by_producer.pop(producer_id, None)
        return taken

    def has(self, group_id: str, topic: str, partition: int) -> bool:
        return any((topic, partition) in groups.get(group_id, ()) for groups in self._by_producer.values())

    def has_group(self, group_id: str) -> bool:
        """Whether an open transaction holds offsets of the group."""
        return any(group_id in groups for groups in self._by_producer.values())

    def groups(self) -> set[str]:
        return {group_id for groups in self._by_producer.values() for group_id in groups}

    def drop_group(self, group_id: str) -> None:
        """Forget the group's pending offsets: another coordinator serves it now."""
        for producer_id in list(self._by_producer):
            groups = self._by_producer[producer_id]
            groups.pop(group_id, None)
            if not groups:
                del self._by_producer[producer_id]

    def partitions_of(self, group_id: str) -> set[TopicPartition]:
        return {tp for groups in self._by_producer.values() for tp in groups.get(group_id, ())}

    def discard(self, group_id: str, topic: str, partition: int) -> None:
        """A tombstone for the partition removes its pending offsets too, as in Kafka."""
        for groups in self._by_producer.values():
            groups.get(group_id, {}).pop((topic, partition), None)


def expired_offsets(group: ClassicGroup | None, offsets: dict[TopicPartition, OffsetAndMetadata],
                    now_ms: int, retention_ms: int) -> tuple[list[TopicPartition], bool]:
    """The offsets past retention, and whether that is all of the group's offsets.

    As in Kafka: offsets of a group with members are kept while it consumes them; an empty group's
    offsets expire `offsets.retention.minutes` after it became empty; a group that never used
    group management (offsets committed by a standalone consumer or a tool) counts from each commit;
    a commit with its own expiry time (OffsetCommit v2-4) expires then.
    """
    base_of = _expiry_base(group)
    if base_of is None:
        return [], False
    expired: list[TopicPartition] = []
    for (topic, partition), offset in offsets.items():
        if group is not None and group.is_subscribed_to(topic):
            continue
        if offset.expire_timestamp is not None:
            gone = now_ms >= offset.expire_timestamp
        else:
            gone = now_ms - base_of(offset) >= retention_ms
        if gone:
            expired.append((topic, partition))
    return expired, len(expired) == len(offsets)


def _expiry_base(group: ClassicGroup | None):
    """How old an offset is counted from, or None when the group's offsets do not expire now."""
    if group is None or group.protocol_type is None:
        return lambda offset: offset.commit_timestamp
    if group.is_in(EMPTY):
        return lambda offset: group.state_timestamp
    if group.is_in(STABLE) and group.protocol_type == "consumer" and group.subscribed_topics is not None:
        return lambda offset: offset.commit_timestamp
    return None
