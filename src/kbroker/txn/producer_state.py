"""Per-partition producer state: the sequence checks that make idempotent producers exactly-once.

For each producer id the partition keeps its epoch and its last five batches (first and last
sequence, last offset), as Kafka's ProducerStateManager does: a retried batch that matches one of
them is answered with its original offset instead of being appended again, since a producer has at
most five requests in flight. The rules follow Kafka 2.5+ (KIP-360): a producer the partition does
not know may start at any sequence, so UNKNOWN_PRODUCER_ID is never sent for a produce.

The state is rebuilt at load from the latest `<offset>.snapshot` file (Kafka's format, version 1)
and the batch headers after it, or from the whole log when no snapshot fits.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import crc32c
from kproto import ErrorCode
from kproto.records.header import NO_SEQUENCE, BatchHeader, iter_batch_headers

from kbroker.log import PartitionLog
from kbroker.log.files import fsync_dir
from kbroker.log.scan import CorruptBatchError, iter_file_batches

log = logging.getLogger("kbroker.txn")

BATCHES_KEPT = 5  # max.in.flight.requests.per.connection may be at most 5 with idempotence
NO_EPOCH = -1
NO_OFFSET = -1
SEQUENCE_MODULUS = 2**31
SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
SNAPSHOT_HEAD = struct.Struct(">hIi")  # version, CRC-32C of what follows it, entry count
SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")  # id, epoch, last seq, last offset, offset delta, timestamp,
#                                              coordinator epoch, current transaction's first offset
CRC_START = 6  # the CRC covers the entries: everything after version and CRC


class ProducerStateError(Exception):
    """A producer's batch breaks the sequence rules; nothing of the request is appended."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


@dataclass(slots=True)
class ProducerEntry:
    producer_id: int
    epoch: int = NO_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int = NO_OFFSET

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def duplicate_of(self, header: BatchHeader) -> BatchMetadata | None:
        if header.producer_epoch != self.epoch:
            return None
        return next((b for b in self.batches
                     if b.first_seq == header.base_sequence and b.last_seq == header.last_sequence), None)

    def set_epoch(self, epoch: int) -> None:
        """A new epoch starts its sequences afresh."""
        if epoch != self.epoch:
            self.batches.clear()
            self.epoch = epoch


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == (last_seq + 1) % SEQUENCE_MODULUS


class ProducerStates:
    """The producer entries of one partition."""

    def __init__(self, directory: Path, context: str) -> None:
        self.directory = directory
        self.context = context
        self.producers: dict[int, ProducerEntry] = {}

    # -- produce path

    def check(self, records: bytes | bytearray) -> BatchMetadata | None:
        """Check the producer batches of a validated record set before it is appended.

        Returns the earlier batch when the set is a retry of one (nothing is to be appended);
        raises ProducerStateError when a sequence or epoch is wrong.
        """
        pending: dict[int, tuple[int, int]] = {}  # producer id -> (epoch, last sequence) within this set
        for _, header in iter_batch_headers(records):
            if header.producer_id < 0 or header.is_control:
                continue
            entry = self.producers.get(header.producer_id)
            if header.producer_id not in pending and entry is not None:
                duplicate = entry.duplicate_of(header)
                if duplicate is not None:
                    return duplicate
            stored_epoch = entry.epoch if entry else NO_EPOCH
            epoch, last_seq = pending.get(header.producer_id, (stored_epoch, entry.last_seq if entry else NO_SEQUENCE))
            self._check_batch(header, epoch, last_seq, stored_epoch)
            pending[header.producer_id] = (header.producer_epoch, header.last_sequence)
        return None

    def _check_batch(self, header: BatchHeader, epoch: int, last_seq: int, stored_epoch: int) -> None:
        where = f"producer {header.producer_id} in {self.context}"
        if header.producer_epoch < epoch:
            raise ProducerStateError(ErrorCode.INVALID_PRODUCER_EPOCH,
                                     f"Epoch of {where} is {header.producer_epoch}, which is smaller than the "
                                     f"last seen epoch {epoch}")
        if header.producer_epoch != epoch:
            if header.base_sequence != 0 and epoch != NO_EPOCH:
                raise ProducerStateError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                         f"Invalid sequence number for new epoch of {where}: "
                                         f"{header.base_sequence} (request epoch), 0 (expected)")
        elif stored_epoch != NO_EPOCH and not in_sequence(last_seq, header.base_sequence):
            raise ProducerStateError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                     f"Out of order sequence number for {where}: {header.base_sequence} "
                                     f"(incoming seq. number), {last_seq} (current end sequence number)")

    def record(self, records: bytes | bytearray) -> None:
        """Note the producer batches of a record set once it is appended (offsets assigned)."""
        for _, header in iter_batch_headers(records):
            self.apply(header)

    def apply(self, header: BatchHeader) -> None:
        if header.producer_id < 0:
            return
        entry = self.producers.setdefault(header.producer_id, ProducerEntry(header.producer_id))
        entry.set_epoch(header.producer_epoch)
        entry.last_timestamp = header.max_timestamp
        if header.is_control:
            entry.current_txn_first_offset = NO_OFFSET
            return
        if header.base_sequence != NO_SEQUENCE:
            entry.batches.append(BatchMetadata(header.base_sequence, header.last_sequence, header.last_offset,
                                               header.last_offset_delta, header.max_timestamp))
        if header.is_transactional and entry.current_txn_first_offset == NO_OFFSET:
            entry.current_txn_first_offset = header.base_offset

    def expire(self, now_ms: float, expiration_ms: int) -> int:
        """Forget producers idle for `producer.id.expiration.ms` with no open transaction."""
        expired = [pid for pid, e in self.producers.items()
                   if e.current_txn_first_offset == NO_OFFSET and now_ms - e.last_timestamp >= expiration_ms]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    # -- loading and snapshots

    def load(self, plog: PartitionLog) -> None:
        """Rebuild from the newest usable snapshot and the batches after it."""
        start = plog.log_start_offset
        for offset, path in sorted(self._snapshots(), reverse=True):
            if offset > plog.log_end_offset:
                continue
            try:
                self.producers = read_snapshot(path.read_bytes())
            except ValueError as exc:
                log.warning("%s: ignoring producer snapshot %s: %s", self.context, path.name, exc)
                continue
            start = max(offset, start)
            break
        for header in log_headers(plog, start):
            self.apply(header)

    def write_snapshot(self, offset: int) -> None:
        """Write `<offset>.snapshot` (as Kafka does on roll and shutdown) and drop older ones."""
        path = self.directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(encode_snapshot(self.producers.values()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        for other_offset, other in self._snapshots():
            if other_offset != offset:
                other.unlink(missing_ok=True)
        fsync_dir(self.directory)

    def _snapshots(self) -> Iterator[tuple[int, Path]]:
        for path in self.directory.glob(f"*{SNAPSHOT_SUFFIX}"):
            stem = path.name[:-len(SNAPSHOT_SUFFIX)]
            if stem.isdigit():
                yield int(stem), path


def log_headers(plog: PartitionLog, start: int) -> Iterator[BatchHeader]:
    """Headers of the batches holding offsets >= `start`."""
    for segment in plog.segments:
        try:
            for _, header in iter_file_batches(segment.fd, 0, segment.size):
                if header.last_offset >= start:
                    yield header
        except CorruptBatchError:
            return  # recovery has already cut torn writes; a damaged tail holds no state


def encode_snapshot(entries: Iterable[ProducerEntry]) -> bytes:
    body = bytearray()
    count = 0
    for e in entries:
        last = e.batches[-1] if e.batches else None
        body += SNAPSHOT_ENTRY.pack(
            e.producer_id, e.epoch, last.last_seq if last else NO_SEQUENCE,
            last.last_offset if last else NO_OFFSET, last.offset_delta if last else 0, e.last_timestamp,
            e.coordinator_epoch, e.current_txn_first_offset)
        count += 1
    entries_bytes = struct.pack(">i", count) + bytes(body)
    return struct.pack(">hI", SNAPSHOT_VERSION, crc32c.crc32c(entries_bytes)) + entries_bytes


def read_snapshot(data: bytes) -> dict[int, ProducerEntry]:
    if len(data) < SNAPSHOT_HEAD.size:
        raise ValueError("truncated header")
    version, crc, count = SNAPSHOT_HEAD.unpack_from(data)
    if version != SNAPSHOT_VERSION:
        raise ValueError(f"unknown version {version}")
    if crc32c.crc32c(data[CRC_START:]) != crc:
        raise ValueError("CRC-32C mismatch")
    if count < 0 or len(data) != SNAPSHOT_HEAD.size + count * SNAPSHOT_ENTRY.size:
        raise ValueError(f"{count} entries do not fill {len(data)} bytes")
    producers = {}
    for i in range(count):
        (pid, epoch, last_seq, last_offset, delta, timestamp, coordinator_epoch,
         txn_first) = SNAPSHOT_ENTRY.unpack_from(data, SNAPSHOT_HEAD.size + i * SNAPSHOT_ENTRY.size)
        entry = ProducerEntry(pid, epoch, coordinator_epoch=coordinator_epoch, last_timestamp=timestamp,
                              current_txn_first_offset=txn_first)
        if last_offset >= 0:
            first_seq = (last_seq - delta) % SEQUENCE_MODULUS if last_seq >= 0 else NO_SEQUENCE
            entry.batches.append(BatchMetadata(first_seq, last_seq, last_offset, delta, timestamp))
        producers[pid] = entry
    return producers
