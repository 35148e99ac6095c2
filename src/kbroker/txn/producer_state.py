"""Per-partition producer state: the sequence checks that make idempotent producers exactly-once.

For each producer id the partition keeps its epoch and its last five batches (first and last
sequence, last offset), as Kafka's ProducerStateManager does: a retried batch that matches one of
them is answered with its original offset instead of being appended again, since a producer has at
most five requests in flight. The rules follow Kafka 2.5+ (KIP-360): a producer the partition does
not know may start at any sequence, so UNKNOWN_PRODUCER_ID is never sent for a produce.

It also knows each producer's open transaction, which gives the last stable offset, and the
aborted transactions, kept in each segment's `.txnindex` file so that read_committed fetches can
skip them. As Kafka does, a snapshot of the table is written whenever a segment rolls and at
shutdown (`state_files.py`); after any stop the state is rebuilt from the latest usable snapshot
and only the batches after it, or from the whole log when there is none.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kproto import ErrorCode
from kproto.exceptions import ProtocolError
from kproto.records.batch import decode_batch
from kproto.records.control import ControlType, EndTxnMarker, read_end_txn_marker
from kproto.records.header import NO_SEQUENCE, BatchHeader, iter_batch_headers

from kbroker.log import PartitionLog
from kbroker.log.scan import CorruptBatchError, iter_file_batches, read_exactly
from kbroker.log.segment import LogSegment
from kbroker.txn.state_files import (
    AbortedTxn,
    SnapshotRow,
    append_txn_index,
    decode_snapshot,
    encode_snapshot,
    load_txn_indexes,
    snapshot_files,
    txn_index_path,
    write_snapshot_file,
)

log = logging.getLogger("kbroker.txn")

BATCHES_KEPT = 5  # max.in.flight.requests.per.connection may be at most 5 with idempotence
NO_EPOCH = -1
NO_OFFSET = -1
SEQUENCE_MODULUS = 2**31


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

    def check(self, records: bytes | bytearray | memoryview,
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

    def record(self, plog: PartitionLog, records: bytes | bytearray | memoryview) -> None:
        """Note the producer batches of a record set once it is appended (offsets assigned); an
        aborted transaction goes into the `.txnindex` of the segment holding its marker."""
        for position, header in iter_batch_headers(records):
            aborted = self.apply(header, read_marker(records, position) if header.is_control else None)
            if aborted is not None:
                append_txn_index(txn_index_path(plog.segments[-1]), aborted)

    def apply(self, header: BatchHeader, marker: EndTxnMarker | None = None) -> AbortedTxn | None:
        """Update the producer's entry; returns the transaction an ABORT marker ends, if not known yet."""
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
                # the last stable offset after it, as Kafka records it: the next open transaction's start
                aborted = AbortedTxn(header.producer_id, first, header.base_offset,
                                     self.last_stable_offset(header.last_offset + 1))
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
        expired = [pid for pid, e in self.producers.items() if is_expired(e, now_ms, expiration_ms)]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    # -- loading and snapshots

    def load(self, plog: PartitionLog, expiration_ms: int, now_ms: float) -> None:
        """Rebuild from the newest usable snapshot and the batches after it, as Kafka does after any
        stop; the `.txnindex` files are cut to the log and completed with the aborts replayed.

        As in Kafka, producers of the snapshot that `producer.id.expiration.ms` has expired by
        `now_ms` are left out; those of the replayed batches wait for the next expiry check."""
        self.aborted = load_txn_indexes(plog)
        start = self._load_snapshot(plog, expiration_ms, now_ms)
        replayed = 0
        for segment, header, marker in log_headers(plog, start):
            aborted = self.apply(header, marker)
            if aborted is not None:
                append_txn_index(txn_index_path(segment), aborted)
            replayed += 1
        if replayed:
            self.write_snapshot(plog)  # Kafka's snapshot at the log end after recovery: the next load starts there
            log.info("%s: producer state from offset %d, %d batches replayed up to %d", self.context, start,
                     replayed, plog.log_end_offset)

    def _load_snapshot(self, plog: PartitionLog, expiration_ms: int, now_ms: float) -> int:
        """Take the newest usable snapshot; returns the offset the log must be replayed from.

        As Kafka: snapshots past the log end or not after the log start are deleted, and so are
        those of no segment (but the newest, from a shutdown); a damaged one is deleted and the
        next older tried."""
        snapshots = snapshot_files(self.directory)
        bases = {s.base_offset for s in plog.segments}
        newest_stray = max((o for o in snapshots if o not in bases), default=None)
        for offset, path in list(snapshots.items()):
            if (offset > plog.log_end_offset or offset <= plog.log_start_offset
                    or (offset not in bases and (offset != newest_stray or offset < max(bases)))):
                path.unlink(missing_ok=True)
                del snapshots[offset]
        for offset, path in reversed(snapshots.items()):
            try:
                rows = decode_snapshot(path.read_bytes())
            except ValueError as exc:
                log.warning("%s: deleting producer snapshot %s: %s", self.context, path.name, exc)
                path.unlink(missing_ok=True)
                continue
            entries = (entry_of(row) for row in rows)
            self.producers = {e.producer_id: e for e in entries if not is_expired(e, now_ms, expiration_ms)}
            return offset
        self.producers = {}
        return plog.log_start_offset

    def write_snapshot(self, plog: PartitionLog, sync: bool = True) -> None:
        """Snapshot the table at the log end, as Kafka does when a segment rolls and at shutdown;
        the log deletes a segment's snapshot with the segment."""
        write_snapshot_file(self.directory, plog.log_end_offset,
                            encode_snapshot(row_of(e) for e in self.producers.values()), sync)

    def snapshot_at_roll(self, plog: PartitionLog) -> None:
        """The snapshot of a roll, not fsynced here: the roll's flush, off the event loop, does it
        with the rolled segment, as Kafka's roll leaves it to its flush task."""
        self.write_snapshot(plog, sync=False)


def is_expired(entry: ProducerEntry, now_ms: float, expiration_ms: int) -> bool:
    """Idle for `producer.id.expiration.ms` (by its last batch's timestamp) with no open transaction."""
    return entry.current_txn_first_offset == NO_OFFSET and now_ms - entry.last_timestamp >= expiration_ms


def entry_of(row: SnapshotRow) -> ProducerEntry:
    entry = ProducerEntry(row.producer_id, row.epoch, coordinator_epoch=row.coordinator_epoch,
                          last_timestamp=row.timestamp, current_txn_first_offset=row.current_txn_first_offset)
    if row.last_offset >= 0:
        first_seq = (row.last_sequence - row.offset_delta) % SEQUENCE_MODULUS if row.last_sequence >= 0 else NO_SEQUENCE
        entry.batches.append(BatchMetadata(first_seq, row.last_sequence, row.last_offset, row.offset_delta,
                                           row.timestamp))
    return entry


def row_of(entry: ProducerEntry) -> SnapshotRow:
    """The entry as Kafka snapshots it: its last batch only, -1 and 0 when it has none."""
    last = entry.batches[-1] if entry.batches else None
    return SnapshotRow(entry.producer_id, entry.epoch, last.last_seq if last else NO_SEQUENCE,
                       last.last_offset if last else NO_OFFSET, last.offset_delta if last else 0,
                       entry.last_timestamp, entry.coordinator_epoch, entry.current_txn_first_offset)


def log_headers(plog: PartitionLog, start: int) -> Iterator[tuple[LogSegment, BatchHeader, EndTxnMarker | None]]:
    """The batches holding offsets >= `start`, each with its segment and the marker a control batch
    holds; the segments before `start`'s are not read, and in its segment the offset index finds it."""
    segments = plog.segments
    first = max(bisect_right([s.base_offset for s in segments], start) - 1, 0)
    for segment in segments[first:]:
        try:
            found = segment.locate(start)
            if found is None:
                continue
            for position, header in iter_file_batches(segment.fd, found[0], segment.size):
                marker = read_marker(read_exactly(segment.fd, header.size, position)) if header.is_control else None
                yield segment, header, marker
        except CorruptBatchError:
            return  # recovery has already cut torn writes; a damaged tail holds no state
