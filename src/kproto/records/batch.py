"""RecordBatch v2 (magic 2): build a batch from records, decode a batch into records."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import crc32c

from kproto.compression import DEFAULT_MAX_DECOMPRESSED, Codec, codec_of, compress, decompress
from kproto.exceptions import ProtocolError
from kproto.records.header import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CONTROL_BIT,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TIMESTAMP_TYPE_BIT,
    TRANSACTIONAL_BIT,
    BatchHeader,
    iter_batch_headers,
    read_batch_header,
)
from kproto.records.inplace import write_crc
from kproto.records.record import Record, decode_records, encode_records

NO_TIMESTAMP = -1
NO_PARTITION_LEADER_EPOCH = -1
MAX_OFFSET_DELTA = 0x7FFFFFFF  # offsetDelta and lastOffsetDelta are int32


class Batch(NamedTuple):
    """A decoded batch: its header (attributes, producer fields, ...) and its records."""

    header: BatchHeader
    records: list[Record]


def build_batch(records: Sequence[Record], *, base_offset: int = 0, compression: Codec = Codec.NONE,
                log_append_time: int | None = None, transactional: bool = False, control: bool = False,
                producer_id: int = NO_PRODUCER_ID, producer_epoch: int = -1,
                base_sequence: int = NO_SEQUENCE,
                partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
                base_timestamp: int | None = None, xerial: bool = True, level: int | None = None) -> bytes:
    """Encode `records` as one batch, compressed at the codec's `level` (None: its default).

    Offset deltas are `record.offset - base_offset` and must increase (gaps are allowed, as
    after compaction). The base timestamp defaults to the first record's; `log_append_time`
    marks the batch LogAppendTime and becomes its max timestamp, as a broker stamps it.
    `xerial` picks the snappy framing (see `kproto.compression.compress`).
    """
    if not records:
        raise ValueError("a record batch holds at least one record")
    previous = -1
    for record in records:
        delta = record.offset - base_offset
        if not previous < delta <= MAX_OFFSET_DELTA:
            raise ValueError(f"record offset {record.offset} does not follow base offset {base_offset} "
                             f"and the previous record in increasing order within int32 deltas")
        previous = delta
    if base_timestamp is None:
        base_timestamp = records[0].timestamp
    attributes = codec_of(compression, "build_batch")
    if log_append_time is not None:
        attributes |= TIMESTAMP_TYPE_BIT
        max_timestamp = log_append_time
    else:
        max_timestamp = max(record.timestamp for record in records)
    if transactional:
        attributes |= TRANSACTIONAL_BIT
    if control:
        attributes |= CONTROL_BIT
    body = encode_records(records, base_offset, base_timestamp)
    if compression != Codec.NONE:
        body = compress(compression, body, xerial=xerial, level=level)
    out = bytearray(HEADER_SIZE)
    out += body
    HEADER.pack_into(out, 0, base_offset, len(out) - LOG_OVERHEAD, partition_leader_epoch, 2, 0,
                     attributes, previous, base_timestamp, max_timestamp, producer_id, producer_epoch,
                     base_sequence, len(records))
    write_crc(out, 0, len(out))
    return bytes(out)


def recompressed(buf: bytes | bytearray | memoryview, codec: Codec, level: int | None = None) -> bytearray:
    """The batches of `buf` with their records compressed with `codec` at `level`, as a broker
    rewrites what producers sent to a topic whose compression.type names a codec; a batch already
    using it is kept as it is. Records are numbered on from the batch's base offset, as Kafka
    numbers them when it rewrites (whatever inner offsets an old client wrote); timestamps and the
    producer and transaction fields carry over; the base timestamp is the first record's and, for
    LogAppendTime, every record's timestamp is the append time, as a reader sees them. Records
    that do not decode raise ProtocolError."""
    out = bytearray()
    for pos, header in iter_batch_headers(buf):
        if header.compression == codec:
            out += buf[pos:pos + header.size]
            continue
        records = [record._replace(offset=header.base_offset + i)
                   for i, record in enumerate(decode_batch(buf, pos).records)]
        out += build_batch(records, compression=codec, level=level, **same_batch_fields(header))
    return out


def same_batch_fields(header: BatchHeader) -> dict[str, Any]:
    """`build_batch` arguments that rebuild a batch with `header`'s base offset, timestamp type,
    transaction and control flags, producer fields and leader epoch."""
    return {"base_offset": header.base_offset,
            "log_append_time": header.max_timestamp if header.log_append_time else None,
            "transactional": header.is_transactional, "control": header.is_control,
            "producer_id": header.producer_id, "producer_epoch": header.producer_epoch,
            "base_sequence": header.base_sequence, "partition_leader_epoch": header.partition_leader_epoch}


def decode_batch(buf: bytes | bytearray | memoryview, pos: int = 0, *,
                 max_size: int = DEFAULT_MAX_DECOMPRESSED) -> Batch:
    """Decode the batch at `pos`, checking its CRC and decompressing its records if needed.

    `max_size` bounds the decompressed record section.
    """
    header = read_batch_header(buf, pos)
    end = pos + header.size
    if end > len(buf):
        raise ProtocolError(f"record batch at byte {pos} declares {header.size} bytes, "
                            f"{len(buf) - pos} remain")
    view = memoryview(buf)
    crc = crc32c.crc32c(view[pos + ATTRIBUTES_OFFSET:end])
    if crc != header.crc:
        raise ProtocolError(f"record batch at byte {pos} has CRC {header.crc:#010x}, its bytes give {crc:#010x}")
    if header.record_count < 0:
        raise ProtocolError(f"record batch at byte {pos} declares {header.record_count} records")
    section = view[pos + HEADER_SIZE:end]
    if compression := header.attributes & COMPRESSION_MASK:
        data = decompress(codec_of(compression, f"record batch at byte {pos}"), section, max_size)
    else:
        data = bytes(section)
    append_time = header.max_timestamp if header.attributes & TIMESTAMP_TYPE_BIT else None
    try:
        records = decode_records(data, header.record_count, header.base_offset, header.base_timestamp,
                                 append_time)
    except ProtocolError as exc:
        raise ProtocolError(f"record batch at byte {pos}: {exc}") from None
    return Batch(header, records)


def decode_batches(buf: bytes | bytearray | memoryview, *,
                   max_size: int = DEFAULT_MAX_DECOMPRESSED) -> list[Batch]:
    """Decode every complete batch in `buf`; a partial trailing batch (cut by a fetch) is skipped."""
    return [decode_batch(buf, pos, max_size=max_size) for pos, _ in iter_batch_headers(buf)]
