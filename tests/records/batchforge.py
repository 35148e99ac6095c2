"""Helpers to forge batches whose framing is right but whose contents are not."""

from __future__ import annotations

import struct
from kproto.records.header import HEADER_SIZE, LOG_OVERHEAD
from kproto.records.inplace import write_crc

RECORD_COUNT_OFFSET = HEADER_SIZE - 4


def forge(header_and_records: bytes | bytearray, *, record_count: int | None = None) -> bytes:
    """Fix the batch length and CRC of an edited batch (and set its record count if given)."""
    out = bytearray(header_and_records)
    struct.pack_into(">i", out, 8, len(out) - LOG_OVERHEAD)
    if record_count is not None:
        struct.pack_into(">i", out, RECORD_COUNT_OFFSET, record_count)
    write_crc(out, 0, len(out))
    return bytes(out)
