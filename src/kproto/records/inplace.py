"""Checks and rewrites on a batch's bytes, without decoding its records: the broker's hot path.

`record_heads` reads the first fields of each record, for the topics whose checks need them
(a compacted topic's keys, bounded timestamps).

Produce appends the producer's bytes as they came. Before that it checks them here, as Kafka's
broker does, then stamps the base offset and partition leader epoch (both outside the CRC) and,
for LogAppendTime topics, the timestamp type and max timestamp (inside it, so the CRC is written
again).
"""

from __future__ import annotations

import struct

import crc32c

from kproto.compression import DEFAULT_MAX_DECOMPRESSED, Codec, codec_of, decompress_transient
from kproto.exceptions import InvalidRecordError, ProtocolError
from kproto.records.header import (
    ATTRIBUTES_OFFSET,
    CONTROL_BIT,
    CRC_OFFSET,
    HEADER_SIZE,
    MAX_TIMESTAMP_OFFSET,
    PARTITION_LEADER_EPOCH_OFFSET,
    TIMESTAMP_TYPE_BIT,
    BatchHeader,
    read_batch_header,
)
from kproto.records.record import read_record_heads, walk_records

_INT64 = struct.Struct(">q")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


def write_crc(buf: bytearray, pos: int, end: int) -> None:
    """Store the CRC-32C of the batch at `pos` (ending at `end`) in its header."""
    _UINT32.pack_into(buf, pos + CRC_OFFSET, crc32c.crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET:end]))


def _complete_header(buf: bytes | bytearray | memoryview, pos: int) -> BatchHeader:
    header = read_batch_header(buf, pos)
    if pos + header.size > len(buf):
        raise ProtocolError(f"record batch at byte {pos} declares {header.size} bytes, "
                            f"{len(buf) - pos} remain")
    return header


def check_batch(buf: bytes | bytearray | memoryview, pos: int = 0, *, from_producer: bool = True) -> BatchHeader:
    """Check the batch at `pos` up to its records, as Kafka's broker checks a produced one; return its header.

    Checks the sizes, magic, CRC and codec. With `from_producer`, also what Kafka demands of
    clients (InvalidRecordError): at least one record, offset deltas 0..count-1, no control
    batches, and a sequence number wherever there is a producer id. Batches read back from a
    compacted log may break those.
    """
    header = _complete_header(buf, pos)
    end = pos + header.size
    where = f"record batch at byte {pos}"
    crc = crc32c.crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET:end])
    if crc != header.crc:
        raise ProtocolError(f"{where} has CRC {header.crc:#010x}, its bytes give {crc:#010x}")
    codec_of(header.compression, where)
    if from_producer:
        if header.record_count < 1:
            raise InvalidRecordError(f"{where} declares {header.record_count} records")
        if header.last_offset_delta != header.record_count - 1:
            raise InvalidRecordError(f"{where} declares {header.record_count} records "
                                     f"but last offset delta {header.last_offset_delta}")
        if header.attributes & CONTROL_BIT:
            raise InvalidRecordError(f"{where} is a control batch, which clients may not produce")
        if header.producer_id >= 0 and header.base_sequence < 0:
            raise InvalidRecordError(f"{where} has producer id {header.producer_id} "
                                     f"but sequence number {header.base_sequence}")
    return header


def batch_records(buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader,
                  max_size: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[bytes | bytearray | memoryview, int, int]:
    """(data, start, stop): where the records of the checked batch at `pos` lie, in the batch
    itself or, for a compressed one, in its records decompressed within `max_size` into a room
    that this thread's next decompression reuses: read them before that."""
    end = pos + header.size
    if header.compression == Codec.NONE:
        return buf, pos + HEADER_SIZE, end
    data, size = decompress_transient(codec_of(header.compression, f"record batch at byte {pos}"),
                                      memoryview(buf)[pos + HEADER_SIZE:end], max_size)
    return data, 0, size


def validate_batch(buf: bytes | bytearray | memoryview, pos: int = 0, *, from_producer: bool = True,
                   max_size: int = DEFAULT_MAX_DECOMPRESSED) -> BatchHeader:
    """`check_batch`, then that the records (decompressed first if need be) are exactly as many
    as declared and tile the batch, by their lengths alone; return the header.

    Damaged bytes raise ProtocolError; intact ones breaking a rule, InvalidRecordError.
    """
    header = check_batch(buf, pos, from_producer=from_producer)
    data, start, stop = batch_records(buf, pos, header, max_size)  # data that will not decompress is damaged
    try:
        count = walk_records(data, start, stop)
    except ProtocolError as exc:
        raise InvalidRecordError(f"record batch at byte {pos}: {exc}") from None
    _check_count(pos, header, count)
    return header


def record_heads(buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader,
                 max_size: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[list[int], list[int]]:
    """The timestamp deltas and key lengths of the records of the checked batch at `pos`, for
    checks that look inside records (keys on a compacted topic, timestamp bounds); their count
    must be as declared."""
    data, start, stop = batch_records(buf, pos, header, max_size)
    try:
        deltas, key_lengths = read_record_heads(data, start, stop)
    except ProtocolError as exc:
        raise InvalidRecordError(f"record batch at byte {pos}: {exc}") from None
    _check_count(pos, header, len(deltas))
    return deltas, key_lengths


def _check_count(pos: int, header: BatchHeader, count: int) -> None:
    if count != header.record_count:
        raise InvalidRecordError(f"record batch at byte {pos} declares {header.record_count} records, holds {count}")


def writable(data: bytes | bytearray | memoryview) -> bytearray | memoryview:
    """`data` itself where it can be stamped in place (a bytearray, or a writable view such as
    the records of a request received into a buffer of its own), else a copy that can."""
    if isinstance(data, bytearray) or (isinstance(data, memoryview) and not data.readonly):
        return data
    return bytearray(data)


def set_base_offset(buf: bytearray, pos: int, offset: int) -> None:
    """Assign the batch at `pos` its base offset; the CRC does not cover it, so nothing else changes."""
    if len(buf) - pos < HEADER_SIZE:
        raise ProtocolError(f"record batch header truncated at byte {pos}")
    _INT64.pack_into(buf, pos, offset)


def set_partition_leader_epoch(buf: bytearray, pos: int, epoch: int) -> None:
    """Stamp the epoch of the leader appending the batch at `pos`; outside the CRC, like the base offset."""
    if len(buf) - pos < HEADER_SIZE:
        raise ProtocolError(f"record batch header truncated at byte {pos}")
    _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(buf: bytearray, pos: int, timestamp: int) -> None:
    """Mark the batch at `pos` LogAppendTime with `timestamp` as its max timestamp, and rewrite its CRC.

    Readers then give every record of the batch this timestamp.
    """
    header = _complete_header(buf, pos)
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp)
    write_crc(buf, pos, pos + header.size)
