"""The fixed 61-byte header of a RecordBatch (magic 2), read without touching the records.

Layout (all big-endian), as Kafka defines it:

    baseOffset: int64
    batchLength: int32            bytes after this field
    partitionLeaderEpoch: int32
    magic: int8                   2
    crc: uint32                   CRC-32C of everything from attributes to the end
    attributes: int16             bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
    lastOffsetDelta: int32
    baseTimestamp: int64
    maxTimestamp: int64
    producerId: int64
    producerEpoch: int16
    baseSequence: int32
    recordCount: int32            followed by the records
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

import crc32c

from kproto.exceptions import ProtocolError

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the part not counted by batchLength
PARTITION_LEADER_EPOCH_OFFSET = 12  # outside the CRC, like the base offset before it
MAGIC_OFFSET = 16  # position of the magic byte, the same in every message format
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21  # the CRC covers the batch from here to its end
MAX_TIMESTAMP_OFFSET = 35

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch takes, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def read_batch_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Parse the header at `pos`; the caller checks that the whole batch is present."""
    if len(buf) - pos < HEADER_SIZE:
        raise ProtocolError(f"record batch header truncated at byte {pos}: {len(buf) - pos} of {HEADER_SIZE} bytes")
    header = BatchHeader._make(HEADER.unpack_from(buf, pos))
    if header.magic != 2:
        raise ProtocolError(f"record batch at byte {pos} has magic {header.magic}, expected 2")
    if header.batch_length < HEADER_SIZE - LOG_OVERHEAD:
        raise ProtocolError(f"record batch at byte {pos} declares length {header.batch_length}, below the header size")
    return header


def batch_crc_ok(buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader) -> bool:
    """True when the stored CRC-32C matches the batch's bytes."""
    end = pos + header.size
    return crc32c.crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET:end]) == header.crc


def iter_batch_headers(buf: bytes | bytearray | memoryview) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) for each complete batch; stop quietly at a partial trailing batch.

    Fetch responses may end with a partial batch (Kafka cuts at max bytes); readers skip it.
    """
    pos = 0
    end = len(buf)
    while end - pos >= HEADER_SIZE:
        header = read_batch_header(buf, pos)
        if pos + header.size > end:
            return
        yield pos, header
        pos += header.size
