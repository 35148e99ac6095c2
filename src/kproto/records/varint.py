"""Zigzag varints, the variable-length integers of RecordBatch v2 records.

Kafka writes a signed value as zigzag (0, -1, 1, -2, ... become 0, 1, 2, 3, ...) in base-128
groups of seven bits, least significant first. An int32 takes at most 5 bytes and an int64 at
most 10; a longer encoding is malformed (and would otherwise let a reader loop on garbage).
"""

from __future__ import annotations

from kproto.exceptions import ProtocolError

INT32_BYTES = 5
INT64_BYTES = 10


def read_varint(buf: bytes | bytearray | memoryview, pos: int, end: int,
                max_bytes: int = INT32_BYTES) -> tuple[int, int]:
    """Decode the zigzag varint at `pos` (not reading at or past `end`): (value, next position)."""
    if pos >= end:
        raise ProtocolError(f"varint truncated at byte {pos}")
    byte = buf[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    start = pos
    value = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        if pos >= end:
            raise ProtocolError(f"varint at byte {start} truncated at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift >= 7 * max_bytes:
            raise ProtocolError(f"varint at byte {start} is longer than {max_bytes} bytes")


def varint_bytes(value: int) -> bytes:
    """`value` (an int64) as a zigzag varint."""
    zigzag = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


class _Varints(dict):
    """Zigzag varints by value, `VARINTS[value]`: a dict lookup, a sixth of the cost of a call.

    Values from -64 to 4095 (one and two bytes: lengths, deltas and counts of most records) are
    kept once made, so the table stays small; others are made on each use.
    """

    def __missing__(self, value: int) -> bytes:
        encoded = varint_bytes(value)
        if -64 <= value < 4096:
            self[value] = encoded
        return encoded


VARINTS = _Varints()
