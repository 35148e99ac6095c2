"""The `__consumer_offsets` records, in Apache Kafka's format, so its tools read our topic.

A key and a value each start with an int16 version; the key's version says what the record is
(0-1 an offset commit, 2 a classic group's metadata, 3 and up KIP-848 group records). A record
with a null value is a tombstone: compaction drops the key. We write the versions Kafka writes
today: key 1 and value 3 for offsets (value 1 when the commit carries an expiry time), key 2 and
value 3 for group metadata.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Callable, Union

from kproto import ProtocolError
from kproto.codec import decode, encode
from kproto.messages import GroupMetadataKey, GroupMetadataValue, OffsetCommitKey, OffsetCommitValue

from kbroker.groups.assignors import Assignment
from kbroker.groups.classic import ClassicGroup
from kbroker.groups.offsets import OffsetAndMetadata

VERSION = struct.Struct(">h")
OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
GROUP_VALUE_VERSION = 3
OFFSET_VALUE_VERSION = 3
OFFSET_VALUE_WITH_EXPIRY_VERSION = 1

RecordBytes = tuple[bytes, Union[bytes, None]]  # (key, value); a None value is a tombstone
TopicId = Callable[[str], "uuid.UUID | None"]
TopicName = Callable[[uuid.UUID], "str | None"]


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's choice of `__consumer_offsets` partition: abs(String.hashCode) mod the count."""
    return abs_java(java_string_hash(group_id)) % partitions


def java_string_hash(text: str) -> int:
    """Java's String.hashCode, over UTF-16 code units with 32-bit overflow."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def abs_java(value: int) -> int:
    """Kafka's Utils.abs: Integer.MIN_VALUE maps to 0 rather than staying negative."""
    return 0 if value == -(1 << 31) else abs(value)


def _versioned(version: int, body: bytes) -> bytes:
    return VERSION.pack(version) + body


# -- writing

def offset_commit_record(group_id: str, topic: str, partition: int, offset: OffsetAndMetadata) -> RecordBytes:
    key = _versioned(OFFSET_KEY_VERSION, encode(OffsetCommitKey(group=group_id, topic=topic, partition=partition),
                                                OFFSET_KEY_VERSION))
    version = OFFSET_VALUE_WITH_EXPIRY_VERSION if offset.expire_timestamp is not None else OFFSET_VALUE_VERSION
    value = OffsetCommitValue(offset=offset.offset, leader_epoch=offset.leader_epoch, metadata=offset.metadata,
                              commit_timestamp=offset.commit_timestamp,
                              expire_timestamp=-1 if offset.expire_timestamp is None else offset.expire_timestamp)
    return key, _versioned(version, encode(value, version))


def offset_tombstone(group_id: str, topic: str, partition: int) -> RecordBytes:
    return offset_commit_record(group_id, topic, partition, OffsetAndMetadata(0))[0], None


def group_key(group_id: str) -> bytes:
    return _versioned(GROUP_KEY_VERSION, encode(GroupMetadataKey(group=group_id), GROUP_KEY_VERSION))


def group_metadata_record(group: ClassicGroup, assignment: dict[str, bytes]) -> RecordBytes:
    """The group as it stands, with each member's assignment; members carry only the chosen protocol."""
    members = [
        GroupMetadataValue.MemberMetadata(
            member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
            client_host=m.client_host, rebalance_timeout=m.rebalance_timeout_ms, session_timeout=m.session_timeout_ms,
            subscription=m.metadata(group.protocol_name), assignment=assignment.get(m.member_id, b""),
        )
        for m in group.members.values()
    ] if group.protocol_name is not None else []
    value = GroupMetadataValue(
        protocol_type=group.protocol_type or "", generation=group.generation, protocol=group.protocol_name,
        leader=group.leader_id if members else None, current_state_timestamp=group.state_timestamp, members=members,
    )
    return group_key(group.group_id), _versioned(GROUP_VALUE_VERSION, encode(value, GROUP_VALUE_VERSION))


def group_tombstone(group_id: str) -> RecordBytes:
    return group_key(group_id), None


# -- reading

@dataclass(frozen=True, slots=True)
class OffsetRecord:
    group_id: str
    topic: str
    partition: int
    offset: OffsetAndMetadata | None  # None: deleted


@dataclass(frozen=True, slots=True)
class GroupRecord:
    group_id: str
    value: GroupMetadataValue | None  # None: deleted


def read_record(key: bytes, value: bytes | None) -> OffsetRecord | GroupRecord | None:
    """Decode one record; None for kinds this coordinator does not keep (KIP-848 records)."""
    if key is None or len(key) < 2:
        raise ProtocolError("__consumer_offsets record without a versioned key")
    (key_version,) = VERSION.unpack_from(key)
    if key_version in (0, 1):
        k = decode(OffsetCommitKey, key_version, key, 2)
        if value is None:
            return OffsetRecord(k.group, k.topic, k.partition, None)
        (version,) = VERSION.unpack_from(value)
        v = decode(OffsetCommitValue, version, value, 2)
        return OffsetRecord(k.group, k.topic, k.partition, OffsetAndMetadata(
            v.offset, v.leader_epoch, v.metadata, v.commit_timestamp,
            v.expire_timestamp if version == 1 and v.expire_timestamp >= 0 else None))
    if key_version == GROUP_KEY_VERSION:
        k = decode(GroupMetadataKey, key_version, key, 2)
        if value is None:
            return GroupRecord(k.group, None)
        (version,) = VERSION.unpack_from(value)
        return GroupRecord(k.group, decode(GroupMetadataValue, version, value, 2))
    return None


# -- the keyed records of KIP-848 and KIP-932 groups

class RecordKinds:
    """One family of group records (KIP-848's, KIP-932's): key and value schemas by record type.
    A key names the group, and the member for the per-member kinds; values are written at v0."""

    def __init__(self, keys: dict[int, type], values: dict[int, type]) -> None:
        self.keys = keys
        self.values = values

    def key(self, kind: int, group_id: str, member_id: str | None = None) -> bytes:
        fields = {"group_id": group_id} if member_id is None else {"group_id": group_id, "member_id": member_id}
        return _versioned(kind, encode(self.keys[kind](**fields), kind))

    def record(self, kind: int, group_id: str, member_id: str | None, value) -> RecordBytes:
        return self.key(kind, group_id, member_id), _versioned(0, encode(value, 0))

    def tombstone(self, kind: int, group_id: str, member_id: str | None = None) -> RecordBytes:
        return self.key(kind, group_id, member_id), None


class KeyedReplay:
    """The last value of each key of one family, as replay leaves it; a tombstone deletes the key."""

    def __init__(self, kinds: RecordKinds) -> None:
        self.kinds = kinds
        self.values: dict[tuple[int, str, str | None], object] = {}

    def feed(self, key: bytes, value: bytes | None) -> bool:
        """Take a record if it is of this family; False otherwise."""
        (kind,) = VERSION.unpack_from(key)
        if kind not in self.kinds.keys:
            return False
        k = decode(self.kinds.keys[kind], kind, key, 2)
        ident = (kind, k.group_id, getattr(k, "member_id", None))
        if value is None:
            self.values.pop(ident, None)
        else:
            (version,) = VERSION.unpack_from(value)
            self.values[ident] = decode(self.kinds.values[kind], version, value, 2)
        return True


def by_topic_id(assignment: Assignment, topic_id: TopicId, struct: type) -> list:
    """Partitions by topic name as the records store them, by topic id; unknown topics are left out."""
    out = []
    for topic in sorted(assignment):
        tid = topic_id(topic)
        if tid is not None and assignment[topic]:
            out.append(struct(topic_id=tid, partitions=sorted(assignment[topic])))
    return out


def by_topic_name(parts: list, topic_name: TopicName) -> Assignment:
    """Stored partitions by topic id, by name again; topics deleted since are left out."""
    out: Assignment = {}
    for tp in parts:
        name = topic_name(tp.topic_id)
        if name is not None:
            out[name] = set(tp.partitions)
    return out
