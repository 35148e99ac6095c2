"""Per-partition producer state: the sequence checks that make idempotent producers exactly-once.

For each producer id the partition keeps its epoch and its last five batches (first and last
sequence, last offset), as Kafka's ProducerStateManager does: a retried batch that matches one of
them is answered with its original offset instead of being appended again, since a producer has at
most five requests in flight. The rules follow Kafka 2.5+ (KIP-360): a producer the partition does
not know may start at any sequence, so UNKNOWN_PRODUCER_ID is never sent for a produce.

The state is rebuilt at load from the latest `<offset>.snapshot` file (Kafka's format, version 1)
and the batch headers after it, or from the whole log when no snapshot fits. It also knows each
producer's open transaction, which gives the last stable offset, and the aborted transactions, kept
in each segment's `.txnindex` file in Kafka's format so that read_committed fetches can skip them.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import crc32c
from kproto import ErrorCode
from kproto.exceptions import ProtocolError
from kproto.records.batch import decode_batch
from kproto.records.control import ControlType, EndTxnMarker, read_end_txn_marker
from kproto.records.header import NO_SEQUENCE, BatchHeader, iter_batch_headers

from kbroker.log import PartitionLog
from kbroker.log.files import fsync_dir
from kbroker.log.files import TXN_INDEX_SUFFIX
from kbroker.log.scan import CorruptBatchError, iter_file_batches, read_exactly

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
TXN_INDEX_ENTRY = struct.Struct(">hqqqq")  # version 0, producer id, first offset, last offset, last stable offset


class ProducerStateError(Exception):
    """A producer's batch breaks the sequence rules; nothing of the request is appended.

    `client_message` is the produce answer's error message: Kafka sends one only for some of
    these errors, the others go with none.
    """

    def __init__(self, error: ErrorCode, message: str, client_message: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.client_message = client_message


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


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the ABORT marker's offset


def read_marker(batch: bytes | bytearray, position: int = 0) -> EndTxnMarker | None:
    """The COMMIT or ABORT a control batch holds; None for other control records."""
    try:
        records = decode_batch(batch, position).records
        return read_end_txn_marker(records[0]) if records else None
    except ProtocolError:
        return None


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == (last_seq + 1) % SEQUENCE_MODULUS


class ProducerStates:
    """The producer entries of one partition."""

    def __init__(self, directory: Path, context: str) -> None:
        self.directory = directory
        self.context = context
        self.producers: dict[int, ProducerEntry] = {}
        self.aborted: list[AbortedTxn] = []

    # -- produce path

    def check(self, records: bytes | bytearray,
              verify: Callable[[BatchHeader], None] | None = None) -> BatchMetadata | None:
        """Check the producer batches of a validated record set before it is appended.

        Returns the earlier batch when the set is a retry of one (nothing is to be appended);
        raises ProducerStateError when a sequence or epoch is wrong, or when `verify` refuses a
        transactional batch that would open the producer's transaction in this partition.
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
            if verify is not None and header.is_transactional and (
                    entry is None or entry.current_txn_first_offset == NO_OFFSET):
                verify(header)
            stored_epoch = entry.epoch if entry else NO_EPOCH
            epoch, last_seq = pending.get(header.producer_id, (stored_epoch, entry.last_seq if entry else NO_SEQUENCE))
            self._check_batch(header, epoch, last_seq, stored_epoch)
            if entry is not None and entry.current_txn_first_offset != NO_OFFSET and not header.is_transactional:
                raise ProducerStateError(ErrorCode.INVALID_TXN_STATE,
                                         f"Expected transactional write from producer {header.producer_id} in "
                                         f"{self.context}, which has a transaction open")
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

    def record(self, plog: PartitionLog, records: bytes | bytearray) -> None:
        """Note the producer batches of a record set once it is appended (offsets assigned); an
        aborted transaction goes into the `.txnindex` of the segment holding its marker."""
        for position, header in iter_batch_headers(records):
            aborted = self.apply(header, read_marker(records, position) if header.is_control else None)
            if aborted is not None:
                segment = plog.segments[-1]
                with open(f"{segment.stem}{TXN_INDEX_SUFFIX}", "ab") as fh:
                    fh.write(TXN_INDEX_ENTRY.pack(0, aborted.producer_id, aborted.first_offset,
                                                  aborted.last_offset, self.last_stable_offset(plog.high_watermark)))

    def apply(self, header: BatchHeader, marker: EndTxnMarker | None = None) -> AbortedTxn | None:
        """Update the producer's entry; returns the transaction an ABORT marker ends."""
        if header.producer_id < 0:
            return None
        entry = self.producers.setdefault(header.producer_id, ProducerEntry(header.producer_id))
        entry.set_epoch(header.producer_epoch)
        entry.last_timestamp = header.max_timestamp
        if header.is_control:
            first, entry.current_txn_first_offset = entry.current_txn_first_offset, NO_OFFSET
            if marker is not None:
                entry.coordinator_epoch = marker.coordinator_epoch
            if marker is not None and marker.type == ControlType.ABORT and first != NO_OFFSET:
                aborted = AbortedTxn(header.producer_id, first, header.base_offset)
                if aborted not in self.aborted:
                    self.aborted.append(aborted)
                return aborted
            return None
        if header.base_sequence != NO_SEQUENCE:
            entry.batches.append(BatchMetadata(header.base_sequence, header.last_sequence, header.last_offset,
                                               header.last_offset_delta, header.max_timestamp))
        if header.is_transactional and entry.current_txn_first_offset == NO_OFFSET:
            entry.current_txn_first_offset = header.base_offset
        return None

    def check_marker(self, producer_id: int, epoch: int, coordinator_epoch: int) -> None:
        """Kafka's checks of a marker sent with WriteTxnMarkers: not from an older producer epoch,
        nor from an older coordinator than the last marker's."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return
        if epoch < entry.epoch:
            raise ProducerStateError(ErrorCode.INVALID_PRODUCER_EPOCH,
                                     f"Epoch of producer {producer_id} in {self.context} is {epoch}, which is "
                                     f"smaller than the last seen epoch {entry.epoch}")
        if coordinator_epoch < entry.coordinator_epoch:
            raise ProducerStateError(ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                                     f"Invalid coordinator epoch for producer {producer_id} in {self.context}: "
                                     f"{coordinator_epoch} (zombie), {entry.coordinator_epoch} (current)")

    def last_stable_offset(self, high_watermark: int) -> int:
        """The first offset of the oldest open transaction, else the high watermark."""
        return min((e.current_txn_first_offset for e in self.producers.values()
                    if e.current_txn_first_offset != NO_OFFSET), default=high_watermark)

    def aborted_between(self, start: int, upper: int) -> list[AbortedTxn]:
        """Aborted transactions a read_committed fetch of [start, upper) must be told of."""
        return [t for t in self.aborted if t.last_offset >= start and t.first_offset < upper]

    def expire(self, now_ms: float, expiration_ms: int) -> int:
        """Forget producers idle for `producer.id.expiration.ms` with no open transaction."""
        expired = [pid for pid, e in self.producers.items()
                   if e.current_txn_first_offset == NO_OFFSET and now_ms - e.last_timestamp >= expiration_ms]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    # -- loading and snapshots

    def load(self, plog: PartitionLog) -> None:
        """Rebuild from the newest usable snapshot, the `.txnindex` files and the batches after it."""
        self.aborted = [t for segment in plog.segments for t in read_txn_index(Path(f"{segment.stem}{TXN_INDEX_SUFFIX}"))
                        if t.last_offset < plog.log_end_offset]
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
        for header, marker in log_headers(plog, start):
            self.apply(header, marker)

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


def log_headers(plog: PartitionLog, start: int) -> Iterator[tuple[BatchHeader, EndTxnMarker | None]]:
    """Headers of the batches holding offsets >= `start`, each with the marker a control batch holds."""
    for segment in plog.segments:
        try:
            for position, header in iter_file_batches(segment.fd, 0, segment.size):
                if header.last_offset >= start:
                    marker = read_marker(read_exactly(segment.fd, header.size, position)) if header.is_control else None
                    yield header, marker
        except CorruptBatchError:
            return  # recovery has already cut torn writes; a damaged tail holds no state


def read_txn_index(path: Path) -> list[AbortedTxn]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    usable = len(data) - len(data) % TXN_INDEX_ENTRY.size  # a torn last entry is rebuilt from the log
    return [AbortedTxn(pid, first, last) for _, pid, first, last, _ in
            (TXN_INDEX_ENTRY.unpack_from(data, pos) for pos in range(0, usable, TXN_INDEX_ENTRY.size))]


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
