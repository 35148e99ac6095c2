"""Compacting one partition log: keep the last record per key, with the offsets it was given.

The rules are those of Kafka's log cleaner (see docs/storage.md, "Compaction"):

- the log splits at the first dirty offset (where the last pass ended, from the
  `cleaner-offset-checkpoint`) into a clean head and a dirty tail; a pass reads the keys of the
  dirty part into a map of key -> last offset, then rewrites every segment from the log start to
  the end of that part, keeping a record only when no later offset holds its key;
- records never get new offsets: a batch that loses records is rebuilt with the survivors under
  its original base offset and last offset delta (so producer sequences still add up); a batch that
  loses none is copied byte for byte; a batch that loses all disappears, leaving a gap;
- tombstones (null values) and transaction markers go only after a delete horizon (KIP-534, as
  Kafka since 3.1): the first pass that meets a batch holding them rewrites it with the
  delete-horizon attribute bit set and its base timestamp set to that pass's time plus
  `delete.retention.ms` (record timestamps are unchanged, their deltas now count from the
  horizon); a later pass after the horizon removes them. So consumers reading from the start have
  `delete.retention.ms` to see a delete;
- records of aborted transactions go; records of transactions whose marker is not in the cleaned
  range stay untouched and do not hide older records, since they may still abort; a commit or abort
  marker goes once none of its transaction's records are left and its horizon has passed;
- records without a key are dropped, as Kafka counts them invalid in a compacted topic;
- the last data batch of each producer id in the log stays, emptied of records if none survive,
  so that its producer's epoch and sequence can still be rebuilt from the log (as Kafka keeps it).

Cleaned segments are swapped in as Kafka does: write `<base>.log.cleaned`, fsync, rename it to
`.log.swap`, delete the segments it replaces, rename it to `.log`, rebuild its indexes. Loading a
partition removes `.cleaned` leftovers and completes `.swap` files (see `loader.py`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterator

from kproto.compression import Codec
from kproto.records.batch import build_batch, decode_batch, same_batch_fields
from kproto.records.control import ControlType, read_control_type
from kproto.records.header import (
    ATTRIBUTES_OFFSET,
    DELETE_HORIZON_BIT,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    TIMESTAMP_TYPE_BIT,
    TRANSACTIONAL_BIT,
    BatchHeader,
)
from kproto.records.inplace import write_crc
from kproto.records.record import Record

from kbroker.log.files import CLEANED_SUFFIX, SWAP_SUFFIX, fsync_dir
from kbroker.log.index import INT32_MAX
from kbroker.log.partition import PartitionLog
from kbroker.log.scan import iter_file_batches, read_exactly
from kbroker.log.segment import LogSegment, read_header

# A pass reads at most this many dirty bytes, so that one maintenance call stays short on the
# event loop and the key map stays small (Kafka bounds the same map by log.cleaner.dedupe.buffer.size);
# a dirtier log is cleaned over several passes.
MAX_DIRTY_BYTES_PER_PASS = 64 * 1024 * 1024
LAST_OFFSET_DELTA = struct.Struct(">i")
ATTRIBUTES = struct.Struct(">h")
LAST_OFFSET_DELTA_OFFSET = 23  # after baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes


@dataclass(frozen=True)
class Cleanable:
    """What a pass over a log would clean: offsets [first_dirty, end) are dirty and cleanable."""

    first_dirty: int
    end: int
    dirty_ratio: float  # dirty bytes over clean plus dirty bytes, as min.cleanable.dirty.ratio reads it
    overdue: bool  # a dirty record is older than max.compaction.lag.ms: clean whatever the ratio


@dataclass
class Transactions:
    """The producers' batches of the range being cleaned, by base offset."""

    aborted: set[int] = field(default_factory=set)
    unresolved: set[int] = field(default_factory=set)  # no marker yet in the range: left as they are
    last_of_producer: set[int] = field(default_factory=set)  # each producer's last data batch in the log


def first_batch_timestamp(segment: LogSegment) -> int:
    return read_header(segment.fd, 0).max_timestamp if segment.size else -1


def roll_if_overdue(plog: PartitionLog, now: float) -> None:
    """Roll the active segment once its first record is older than max.compaction.lag.ms, so the
    cleaner may reach it (Kafka rolls compacted logs by that lag as well as segment.ms)."""
    active = plog.segments[-1]
    first = first_batch_timestamp(active)
    if first >= 0 and now - first > plog.config.max_compaction_lag_ms:
        plog.roll()


def find_cleanable(plog: PartitionLog, checkpoint: int | None, now: float) -> Cleanable | None:
    """The dirty range a pass may clean now, or None: never the active segment, nothing at or past
    the high watermark, nothing younger than min.compaction.lag.ms."""
    config = plog.config
    segments = plog.segments
    first_dirty = plog.log_start_offset
    if checkpoint is not None and plog.log_start_offset <= checkpoint <= plog.log_end_offset:
        first_dirty = checkpoint
    clean_bytes = dirty_bytes = 0
    end = first_dirty
    overdue = False
    for segment, upper in with_upper_bounds(segments[:-1], segments[-1].base_offset):
        if upper > plog.high_watermark:
            break
        if config.min_compaction_lag_ms > 0 and now - segment.largest_timestamp() < config.min_compaction_lag_ms:
            break
        if upper <= first_dirty:
            clean_bytes += segment.size
            continue
        if dirty_bytes and dirty_bytes + segment.size > MAX_DIRTY_BYTES_PER_PASS:
            break
        if not dirty_bytes:
            first = first_batch_timestamp(segment)
            overdue = first >= 0 and now - first > config.max_compaction_lag_ms
        dirty_bytes += segment.size
        end = upper
    if end <= first_dirty or not dirty_bytes:
        return None
    return Cleanable(first_dirty, end, dirty_bytes / max(clean_bytes + dirty_bytes, 1), overdue)


def with_upper_bounds(segments: list[LogSegment], last_upper: int) -> Iterator[tuple[LogSegment, int]]:
    """Each segment with the offset after its last: the next segment's base offset."""
    bases = [s.base_offset for s in segments[1:]] + [last_upper]
    return zip(segments, bases)


def clean(plog: PartitionLog, cleanable: Cleanable, now: float) -> None:
    """One compaction pass over the segments below `cleanable.end`."""
    segments = [s for s in plog.segments if s.base_offset < cleanable.end]
    bounded = list(with_upper_bounds(segments, cleanable.end))
    horizon = int(now) + plog.config.delete_retention_ms  # for batches meeting the cleaner for the first time
    transactions = transaction_status(segments, [s for s in plog.segments if s.base_offset >= cleanable.end])
    latest = offset_map([s for s, upper in bounded if upper > cleanable.first_dirty], cleanable.first_dirty,
                        transactions)
    kept_in_transaction: dict[int, bool] = {}
    for group in group_by_size(bounded, plog.config.segment_bytes):
        kept = chain.from_iterable(
            filter_segment(segment, latest, transactions, kept_in_transaction, now, horizon)
            for segment in group)
        swap_in(plog, group, kept)


def transaction_status(segments: list[LogSegment], later: list[LogSegment]) -> Transactions:
    """Which transactional batches belong to aborted transactions, which to open ones, and which
    batches are their producer's last (looking at the `later` segments too, by header only)."""
    found = Transactions()
    pending: dict[int, list[int]] = {}
    last: dict[int, int] = {}
    for _, _, header in batches_of(later):
        if header.producer_id >= 0 and not header.is_control:
            last[header.producer_id] = -1  # a later batch exists, so none in the range is the last
    for segment, position, header in batches_of(segments):
        if header.producer_id >= 0 and not header.is_control and last.get(header.producer_id) != -1:
            last[header.producer_id] = header.base_offset
        if not header.is_transactional:
            continue
        if not header.is_control:
            pending.setdefault(header.producer_id, []).append(header.base_offset)
            continue
        records = decode_batch(read_exactly(segment.fd, header.size, position)).records
        batches = pending.pop(header.producer_id, [])
        if records and read_control_type(records[0].key) == ControlType.ABORT:
            found.aborted.update(batches)
    found.unresolved = {offset for batches in pending.values() for offset in batches}
    found.last_of_producer = {offset for offset in last.values() if offset >= 0}
    return found


def offset_map(dirty: list[LogSegment], first_dirty: int, transactions: Transactions) -> dict[bytes, int]:
    """Key -> offset of its last record in the dirty part; aborted or undecided records do not count."""
    latest: dict[bytes, int] = {}
    for segment, position, header in batches_of(dirty):
        if header.is_control or header.base_offset in transactions.aborted \
                or header.base_offset in transactions.unresolved or header.last_offset < first_dirty:
            continue
        for record in decode_batch(read_exactly(segment.fd, header.size, position)).records:
            if record.key is not None and record.offset >= first_dirty:
                latest[record.key] = record.offset
    return latest


def batches_of(segments: list[LogSegment]) -> Iterator[tuple[LogSegment, int, BatchHeader]]:
    for segment in segments:
        for position, header in iter_file_batches(segment.fd, 0, segment.size):
            yield segment, position, header


def group_by_size(bounded: list[tuple[LogSegment, int]], segment_bytes: int) -> Iterator[list[LogSegment]]:
    """Runs of consecutive segments that fit one segment together (by their size before cleaning,
    as Kafka groups them) and whose offsets fit the indexes' int32 relative offsets."""
    group: list[LogSegment] = []
    size = 0
    for segment, upper in bounded:
        if group and (size + segment.size > segment_bytes or upper - 1 - group[0].base_offset > INT32_MAX):
            yield group
            group, size = [], 0
        group.append(segment)
        size += segment.size
    if group:
        yield group


def filter_segment(segment: LogSegment, latest: dict[bytes, int], transactions: Transactions,
                   kept_in_transaction: dict[int, bool], now: float, horizon: int) -> Iterator[tuple[bytes, int]]:
    """The segment's batches as they are to be kept, each with the offset after it. `horizon` is
    the delete horizon given to batches with tombstones or markers that have none yet."""
    for position, header in iter_file_batches(segment.fd, 0, segment.size):
        producer = header.producer_id
        has_horizon = bool(header.attributes & DELETE_HORIZON_BIT)
        expired = has_horizon and now >= header.base_timestamp
        if header.is_control:
            if kept_in_transaction.pop(producer, False) or not expired:
                data = read_exactly(segment.fd, header.size, position)
                if not has_horizon:
                    data = rebuild(header, decode_batch(data).records, horizon)
                yield data, header.next_offset
            continue
        if header.base_offset in transactions.aborted:
            if header.base_offset in transactions.last_of_producer:
                yield empty_batch(header), header.next_offset
            continue
        data = read_exactly(segment.fd, header.size, position)
        if header.base_offset in transactions.unresolved:
            kept_in_transaction[producer] = True
            yield data, header.next_offset
            continue
        records = decode_batch(data).records
        kept = [r for r in records if r.key is not None and latest.get(r.key, -1) <= r.offset
                and not (r.value is None and expired)]
        if not kept:
            if header.base_offset in transactions.last_of_producer:
                yield empty_batch(header), header.next_offset
            continue
        if header.is_transactional:
            kept_in_transaction[producer] = True
        needs_horizon = not has_horizon and any(r.value is None for r in kept)
        if len(kept) == len(records) and not needs_horizon:
            yield data, header.next_offset
        else:
            yield rebuild(header, kept, horizon if needs_horizon else None), header.next_offset


def rebuild(header: BatchHeader, kept: list[Record], new_horizon: int | None) -> bytes:
    """The batch with only `kept`, keeping its base offset, last offset delta, producer fields and
    delete horizon, or taking `new_horizon`."""
    horizon = header.base_timestamp if header.attributes & DELETE_HORIZON_BIT else new_horizon
    data = bytearray(build_batch(kept, compression=Codec(header.compression), base_timestamp=horizon,
                                 **same_batch_fields(header)))
    LAST_OFFSET_DELTA.pack_into(data, LAST_OFFSET_DELTA_OFFSET, header.last_offset_delta)
    if horizon is not None:
        attributes = ATTRIBUTES.unpack_from(data, ATTRIBUTES_OFFSET)[0]
        ATTRIBUTES.pack_into(data, ATTRIBUTES_OFFSET, attributes | DELETE_HORIZON_BIT)
    write_crc(data, 0, len(data))
    return bytes(data)


def empty_batch(header: BatchHeader) -> bytes:
    """The batch's header alone, with no records: what Kafka keeps of a producer's last batch.
    Offsets, producer fields, timestamp type and the transactional bit stay; both timestamps are
    the batch's max timestamp."""
    data = bytearray(HEADER_SIZE)
    attributes = header.attributes & (TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT)
    HEADER.pack_into(data, 0, header.base_offset, HEADER_SIZE - LOG_OVERHEAD, header.partition_leader_epoch, 2, 0,
                     attributes, header.last_offset_delta, header.max_timestamp, header.max_timestamp,
                     header.producer_id, header.producer_epoch, header.base_sequence, 0)
    write_crc(data, 0, len(data))
    return bytes(data)


def swap_in(plog: PartitionLog, group: list[LogSegment], batches: Iterator[tuple[bytes, int]]) -> None:
    """Write the group's kept batches as one segment and put it in the group's place, crash-safely.

    A crash leaves either the old segments (a `.cleaned` file is removed at load) or a `.swap`
    file, which loading completes: it replaces the segments whose base offsets lie below its end.
    Segments past the end of what is written hold only records this pass drops; they are deleted
    before the swap file exists, so completing a swap cannot leave them behind.
    """
    base = group[0].base_offset
    log_path = group[0].log_path
    cleaned = log_path.with_name(log_path.name + CLEANED_SUFFIX)
    swap = log_path.with_name(log_path.name + SWAP_SUFFIX)
    end = base + 1
    fd = os.open(cleaned, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for data, next_offset in batches:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            end = next_offset
        os.fsync(fd)
    finally:
        os.close(fd)
    remaining = []
    for segment in group:
        if segment.base_offset >= end and segment is not group[0]:
            segment.delete()
        else:
            remaining.append(segment)
    os.replace(cleaned, swap)
    fsync_dir(plog.directory)
    for segment in remaining:
        segment.delete()
    os.replace(swap, log_path)
    fsync_dir(plog.directory)
    replacement = LogSegment(plog.directory, base, plog.config.index_interval_bytes, plog.config.segment_index_bytes)
    replacement.recover(str(plog))
    plog.replace_segments(group, replacement)
