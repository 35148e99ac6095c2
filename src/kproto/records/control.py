"""Control records: the transaction markers a coordinator writes into each partition.

A control batch has the control and transactional bits set and holds one record whose key is
(version int16, type int16) and, for COMMIT and ABORT, whose value is (version int16,
coordinatorEpoch int32). Consumers read the key to learn the type and skip the record.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from kproto.exceptions import ProtocolError
from kproto.records.batch import NO_PARTITION_LEADER_EPOCH, build_batch
from kproto.records.record import Record

_KEY = struct.Struct(">hh")
_MARKER_VALUE = struct.Struct(">hi")


class ControlType(enum.IntEnum):
    ABORT = 0
    COMMIT = 1


class EndTxnMarker(NamedTuple):
    """What a COMMIT or ABORT control record says."""

    type: ControlType
    coordinator_epoch: int


def control_key(kind: ControlType) -> bytes:
    return _KEY.pack(0, kind)


def _unpack_versioned(layout: struct.Struct, data: bytes | None, what: str) -> tuple[int, ...]:
    """Unpack `data` whose first field is a version, which must be 0; return the other fields."""
    if data is None or len(data) < layout.size:
        raise ProtocolError(f"{what} is {'null' if data is None else f'{len(data)} bytes'}, needs {layout.size}")
    version, *fields = layout.unpack_from(data)
    if version != 0:
        raise ProtocolError(f"{what} has unknown version {version}")
    return tuple(fields)


def read_control_type(key: bytes | None) -> int:
    """The type in a control record's key; an int, since types beyond COMMIT/ABORT exist (KRaft)."""
    return _unpack_versioned(_KEY, key, "control record key")[0]


def read_end_txn_marker(record: Record) -> EndTxnMarker:
    """Decode a COMMIT or ABORT control record."""
    kind = read_control_type(record.key)
    if kind not in (ControlType.ABORT, ControlType.COMMIT):
        raise ProtocolError(f"control record type {kind} is not a transaction marker")
    (epoch,) = _unpack_versioned(_MARKER_VALUE, record.value, "transaction marker value")
    return EndTxnMarker(ControlType(kind), epoch)


def build_end_txn_marker(kind: ControlType, *, producer_id: int, producer_epoch: int,
                         coordinator_epoch: int, timestamp: int, base_offset: int = 0,
                         partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH) -> bytes:
    """A control batch holding one COMMIT or ABORT marker for the producer's open transaction."""
    record = Record(base_offset, timestamp, control_key(kind), _MARKER_VALUE.pack(0, coordinator_epoch))
    return build_batch([record], base_offset=base_offset, transactional=True, control=True,
                       producer_id=producer_id, producer_epoch=producer_epoch,
                       partition_leader_epoch=partition_leader_epoch)
