"""The files a partition's producer state is kept in, byte for byte in Kafka's formats.

`<20-digit offset>.snapshot` holds the producer table as it stood before that offset (Kafka's
ProducerSnapshot, version 1): int16 version, uint32 CRC-32C of everything after the CRC, then an
int32 count of entries, each int64 producer id, int16 epoch, int32 last sequence, int64 last
offset, int32 offset delta, int64 timestamp, int32 coordinator epoch, int64 first offset of the
open transaction (-1 for none). Kafka writes one when a segment rolls (named after the new
segment's base offset) and at shutdown (after the log end offset).

`<base offset>.txnindex` lists the aborted transactions whose ABORT marker is in that segment:
entries of int16 version 0, int64 producer id, first offset, last offset (the marker's) and the
last stable offset after the abort.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import crc32c

from kbroker.log import PartitionLog
from kbroker.log.files import (
    SNAPSHOT_SUFFIX,
    TXN_INDEX_SUFFIX,
    replace_unsynced,
    write_atomically,
)
from kbroker.log.segment import LogSegment

SNAPSHOT_VERSION = 1
SNAPSHOT_HEAD = struct.Struct(">hIi")  # version, CRC-32C, entry count
SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")
CRC_START = 6  # the CRC covers everything after the version and itself
TXN_INDEX_VERSION = 0
TXN_INDEX_ENTRY = struct.Struct(">hqqqq")


class SnapshotRow(NamedTuple):
    """One producer in a snapshot, field for field as Kafka's ProducerSnapshot entry."""

    producer_id: int
    epoch: int
    last_sequence: int
    last_offset: int
    offset_delta: int
    timestamp: int
    coordinator_epoch: int
    current_txn_first_offset: int


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the ABORT marker's offset
    last_stable_offset: int = field(default=-1, compare=False)


def encode_snapshot(rows: Iterable[SnapshotRow]) -> bytes:
    rows = list(rows)
    body = struct.pack(">i", len(rows)) + b"".join(SNAPSHOT_ENTRY.pack(*row) for row in rows)
    return struct.pack(">hI", SNAPSHOT_VERSION, crc32c.crc32c(body)) + body


def decode_snapshot(data: bytes) -> list[SnapshotRow]:
    """The rows of a snapshot file; ValueError when it is not one Kafka would load."""
    if len(data) < SNAPSHOT_HEAD.size:
        raise ValueError("truncated header")
    version, crc, count = SNAPSHOT_HEAD.unpack_from(data)
    if version != SNAPSHOT_VERSION:
        raise ValueError(f"unknown version {version}")
    if crc32c.crc32c(data[CRC_START:]) != crc:
        raise ValueError("CRC-32C mismatch")
    if count < 0 or len(data) != SNAPSHOT_HEAD.size + count * SNAPSHOT_ENTRY.size:
        raise ValueError(f"{count} entries do not fill {len(data)} bytes")
    return [SnapshotRow(*SNAPSHOT_ENTRY.unpack_from(data, SNAPSHOT_HEAD.size + i * SNAPSHOT_ENTRY.size))
            for i in range(count)]


def snapshot_files(directory: Path) -> dict[int, Path]:
    """The snapshot files of a partition dir by offset, oldest first."""
    found = {}
    for path in directory.glob(f"*{SNAPSHOT_SUFFIX}"):
        stem = path.name[:-len(SNAPSHOT_SUFFIX)]
        if stem.isdigit():
            found[int(stem)] = path
    return dict(sorted(found.items()))


def write_snapshot_file(directory: Path, offset: int, data: bytes, sync: bool = True) -> Path:
    """Write `<offset>.snapshot` whole: a crash leaves the old file or the new one, never half.
    Without `sync` the caller fsyncs it later (a roll's flush); until then a crash may lose it."""
    path = directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"
    (write_atomically if sync else replace_unsynced)(path, data)
    return path


def read_txn_index(path: Path) -> tuple[list[AbortedTxn], int]:
    """The index's whole entries, and its size in bytes (more than theirs after a torn write)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    usable = len(data) - len(data) % TXN_INDEX_ENTRY.size
    entries = [AbortedTxn(pid, first, last, lso) for _, pid, first, last, lso in
               (TXN_INDEX_ENTRY.unpack_from(data, pos) for pos in range(0, usable, TXN_INDEX_ENTRY.size))]
    return entries, len(data)


def encode_txn_index(entries: Iterable[AbortedTxn]) -> bytes:
    return b"".join(TXN_INDEX_ENTRY.pack(TXN_INDEX_VERSION, t.producer_id, t.first_offset, t.last_offset,
                                         t.last_stable_offset) for t in entries)


def append_txn_index(path: Path, aborted: AbortedTxn) -> None:
    with open(path, "ab") as fh:
        fh.write(encode_txn_index([aborted]))


def rewrite_txn_index(path: Path, entries: list[AbortedTxn]) -> None:
    """Replace an index that holds a torn entry or entries past the log's end, durably: the
    aborted transactions it keeps are what hides their records from read_committed consumers."""
    write_atomically(path, encode_txn_index(entries))


def txn_index_path(segment: LogSegment) -> Path:
    return Path(f"{segment.stem}{TXN_INDEX_SUFFIX}")


def load_txn_indexes(plog: PartitionLog) -> list[AbortedTxn]:
    """The aborted transactions of every segment's index; an index with a torn entry or entries
    past the log end (the log was cut after a crash) is rewritten without them."""
    aborted = []
    for segment in plog.segments:
        path = txn_index_path(segment)
        entries, size = read_txn_index(path)
        kept = [t for t in entries if t.last_offset < plog.log_end_offset]
        if len(kept) < len(entries) or size > len(entries) * TXN_INDEX_ENTRY.size:
            rewrite_txn_index(path, kept)
        aborted += kept
    return aborted
