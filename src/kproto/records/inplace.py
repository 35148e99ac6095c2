"""Checks and rewrites on a batch's bytes, without decoding its records: the broker's hot path.

Produce appends the producer's bytes as they came. Before that it checks them here, as Kafka's
broker does, then stamps the base offset and partition leader epoch (both outside the CRC) and,
for LogAppendTime topics, the timestamp type and max timestamp (inside it, so the CRC is written
again).
"""

from __future__ import annotations

import struct

import crc32c

from kproto.compression import DEFAULT_MAX_DECOMPRESSED, Codec, codec_of, decompress
from kproto.exceptions import ProtocolError
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
from kproto.records.record import walk_records

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


def validate_batch(buf: bytes | bytearray | memoryview, pos: int = 0, *, from_producer: bool = True,
                   max_size: int = DEFAULT_MAX_DECOMPRESSED) -> BatchHeader:
    """Check the batch at `pos` as Kafka's broker checks a produced one; return its header.

    Checks the sizes, magic, CRC and codec, and that the records (decompressed first, within
    `max_size`, if need be) are exactly as many as declared and tile the batch. With
    `from_producer`, also what Kafka demands of clients: at least one record, offsets deltas
    0..count-1, and no control batches. Batches read back from a compacted log may break those.
    """
    header = _complete_header(buf, pos)
    end = pos + header.size
    where = f"record batch at byte {pos}"
    view = memoryview(buf)
    crc = crc32c.crc32c(view[pos + ATTRIBUTES_OFFSET:end])
    if crc != header.crc:
        raise ProtocolError(f"{where} has CRC {header.crc:#010x}, its bytes give {crc:#010x}")
    codec = codec_of(header.compression, where)
    if from_producer:
        if header.record_count < 1:
            raise ProtocolError(f"{where} declares {header.record_count} records")
        if header.last_offset_delta != header.record_count - 1:
            raise ProtocolError(f"{where} declares {header.record_count} records "
                                f"but last offset delta {header.last_offset_delta}")
        if header.attributes & CONTROL_BIT:
            raise ProtocolError(f"{where} is a control batch, which clients may not produce")
    if codec == Codec.NONE:
        data, start, stop = buf, pos + HEADER_SIZE, end
    else:
        data = decompress(codec, view[pos + HEADER_SIZE:end], max_size)
        start, stop = 0, len(data)
    try:
        count = walk_records(data, start, stop)
    except ProtocolError as exc:
        raise ProtocolError(f"{where}: {exc}") from None
    if count != header.record_count:
        raise ProtocolError(f"{where} declares {header.record_count} records, holds {count}")
    return header


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
