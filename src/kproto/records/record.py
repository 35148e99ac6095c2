"""One record of a v2 batch, and the record section of a batch read and written as a whole.

Record layout (inside a batch, after its 61-byte header, possibly compressed):

    length: varint              bytes after this field
    attributes: int8            unused, 0
    timestampDelta: varlong     from the batch's base timestamp
    offsetDelta: varint         from the batch's base offset
    keyLength: varint           -1 for a null key
    key: bytes
    valueLength: varint         -1 for a null value
    value: bytes
    headerCount: varint
    headers: [keyLength varint, key utf-8, valueLength varint (-1 null), value]
"""

from __future__ import annotations

from array import array
from typing import Iterable, NamedTuple, Sequence

from kproto.exceptions import ProtocolError
from kproto.records.varint import INT64_BYTES, VARINTS, read_varint

Header = tuple[str, "bytes | None"]

# attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount: one byte each
MIN_RECORD_SIZE = 6
NULL = b"\x01"  # zigzag -1: the length of a null key or value


class Record(NamedTuple):
    """A record with its absolute offset and timestamp (milliseconds, -1 when unknown).

    A tuple rather than a dataclass: decoding builds one per record, and tuples build fastest.
    `headers` is shared when left at its default; treat it as read-only.
    """

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header] = []


def encode_records(records: Iterable[Record], base_offset: int, base_timestamp: int) -> bytearray:
    """The record section for `records`, deltas taken from the given bases.

    Each record's fields are joined in one call, and its varints come from a table (`VARINTS`).
    """
    out = bytearray()
    varint = VARINTS
    join = b"".join
    for offset, timestamp, key, value, headers in records:
        if key is None:
            key_length, key = NULL, b""
        else:
            key_length = varint[len(key)]
        if value is None:
            value_length, value = NULL, b""
        else:
            value_length = varint[len(value)]
        body = join((b"\x00", varint[timestamp - base_timestamp], varint[offset - base_offset], key_length, key,
                     value_length, value, _encode_headers(headers) if headers else b"\x00"))
        out += varint[len(body)]
        out += body
    return out


def _encode_headers(headers: Sequence[Header]) -> bytes:
    varint = VARINTS
    parts = [varint[len(headers)]]
    for name, data in headers:
        encoded = name.encode()
        parts += (varint[len(encoded)], encoded, NULL) if data is None else (
            varint[len(encoded)], encoded, varint[len(data)], data)
    return b"".join(parts)


def decode_records(data: bytes, count: int, base_offset: int, base_timestamp: int,
                   append_time: int | None) -> list[Record]:
    """Decode the whole record section `data`, which must hold exactly `count` records.

    With `append_time` (a LogAppendTime batch) every record carries that timestamp. This loop is
    where decoding spends its time, so each varint is read inline when it takes one byte, as
    nearly all do, or two (record and value lengths up to 8 KiB, timestamp deltas up to 8 s),
    and by `read_varint` otherwise.
    """
    records: list[Record] = []
    append = records.append
    new = tuple.__new__
    pos = 0
    end = len(data)
    for index in range(count):
        if pos >= end:
            raise ProtocolError(f"batch declares {count} records, its records end after {index}")
        try:
            if (byte := data[pos]) < 0x80:
                length = (byte >> 1) ^ -(byte & 1)
                pos += 1
            elif pos + 1 < end and data[pos + 1] < 0x80:
                zigzag = (byte & 0x7F) | (data[pos + 1] << 7)
                length = (zigzag >> 1) ^ -(zigzag & 1)
                pos += 2
            else:
                length, pos = read_varint(data, pos, end)
            if length < MIN_RECORD_SIZE or length > end - pos:
                raise ProtocolError(f"length {length} at byte {pos}, {end - pos} bytes remain")
            stop = pos + length
            # Skip the attributes; the minimum length puts the timestamp delta's first two bytes in the record.
            if (byte := data[pos + 1]) < 0x80:
                delta = (byte >> 1) ^ -(byte & 1)
                pos += 2
            elif data[pos + 2] < 0x80:
                zigzag = (byte & 0x7F) | (data[pos + 2] << 7)
                delta = (zigzag >> 1) ^ -(zigzag & 1)
                pos += 3
            else:
                delta, pos = read_varint(data, pos + 1, stop, INT64_BYTES)
            if pos < stop and (byte := data[pos]) < 0x80:
                offset_delta = (byte >> 1) ^ -(byte & 1)
                pos += 1
            elif pos + 1 < stop and data[pos + 1] < 0x80:
                zigzag = (byte & 0x7F) | (data[pos + 1] << 7)
                offset_delta = (zigzag >> 1) ^ -(zigzag & 1)
                pos += 2
            else:
                offset_delta, pos = read_varint(data, pos, stop)
            # Keys and values up to 63 bytes (an even first byte below 0x80) are sliced inline.
            if pos < stop and not (byte := data[pos]) & 0x81 and (size := byte >> 1) < stop - pos:
                pos += 1 + size
                key = data[pos - size:pos]
            else:
                key, pos = _read_bytes(data, pos, stop, "key")
            if pos + 1 < stop and (byte := data[pos]) & 0x81 == 0x80 and data[pos + 1] < 0x80 and (
                    size := (byte >> 1 & 0x3F) | data[pos + 1] << 6) < stop - pos - 1:  # 64 to 8191 bytes
                pos += 2 + size
                value = data[pos - size:pos]
            elif pos < stop and not (byte := data[pos]) & 0x81 and (size := byte >> 1) < stop - pos:
                pos += 1 + size
                value = data[pos - size:pos]
            else:
                value, pos = _read_bytes(data, pos, stop, "value")
            headers: list[Header] = []
            if pos < stop and not (byte := data[pos]) & 0x81:
                header_count = byte >> 1
                pos += 1
            else:
                header_count, pos = read_varint(data, pos, stop)
            if header_count:
                if header_count < 0 or header_count > (stop - pos) // 2:  # each header takes at least two bytes
                    raise ProtocolError(f"header count {header_count} at byte {pos} does not fit the record")
                for _ in range(header_count):
                    if pos < stop and not (byte := data[pos]) & 0x81 and (size := byte >> 1) < stop - pos:
                        pos += 1 + size
                        name = data[pos - size:pos]
                    else:
                        name, pos = _read_bytes(data, pos, stop, "header key")
                        if name is None:
                            raise ProtocolError(f"null header key before byte {pos}")
                    try:
                        text = name.decode()
                    except UnicodeDecodeError:
                        raise ProtocolError(f"header key before byte {pos} is not UTF-8") from None
                    if pos < stop and not (byte := data[pos]) & 0x81 and (size := byte >> 1) < stop - pos:
                        pos += 1 + size
                        headers.append((text, data[pos - size:pos]))
                    else:
                        header_value, pos = _read_bytes(data, pos, stop, "header value")
                        headers.append((text, header_value))
            if pos != stop:
                raise ProtocolError(f"{stop - pos} bytes left over after its fields at byte {pos}")
        except ProtocolError as exc:
            raise ProtocolError(f"record {index}: {exc}") from None
        timestamp = append_time if append_time is not None else base_timestamp + delta
        append(new(Record, (base_offset + offset_delta, timestamp, key, value, headers)))
    if pos != end:
        raise ProtocolError(f"{end - pos} bytes follow the {count} declared records")
    return records


def _read_bytes(data: bytes, pos: int, stop: int, what: str) -> tuple[bytes | None, int]:
    """A length-prefixed key or value; a negative length is null (Kafka writes -1)."""
    if pos < stop and (byte := data[pos]) < 0x80:
        length = (byte >> 1) ^ -(byte & 1)
        pos += 1
    elif pos + 1 < stop and data[pos + 1] < 0x80:
        zigzag = (data[pos] & 0x7F) | (data[pos + 1] << 7)
        length = (zigzag >> 1) ^ -(zigzag & 1)
        pos += 2
    else:
        length, pos = read_varint(data, pos, stop)
    if length < 0:
        return None, pos
    if length > stop - pos:
        raise ProtocolError(f"{what} length {length} at byte {pos}, {stop - pos} bytes remain in the record")
    return data[pos:pos + length], pos + length


def _record_steps() -> array:
    """How far the next record starts, by the two bytes that begin a record (first byte in the low
    eight bits), for lengths of one or two varint bytes (records up to 8 KiB) that are at least
    MIN_RECORD_SIZE; 0 for every other case, which the walk reads the long way."""
    steps = array("H", bytes(2 * 65536))
    for first in range(0x80):
        length = (first >> 1) ^ -(first & 1)
        if length >= MIN_RECORD_SIZE:
            steps[first::256] = array("H", [1 + length]) * 256
    for first in range(0x80, 0x100):
        for second in range(0x80):
            zigzag = (first & 0x7F) | (second << 7)
            length = (zigzag >> 1) ^ -(zigzag & 1)
            if length >= MIN_RECORD_SIZE:
                steps[first | second << 8] = 2 + length
    return steps


_RECORD_STEPS = _record_steps()


def walk_records(data: bytes | bytearray | memoryview, start: int, end: int) -> int:
    """Count the records between `start` and `end` by their lengths alone, checking they tile it.

    The broker's produce check: no record objects, just the length varints. Records of one size
    in a row (fixed-size values) are counted a run at a time, from a few strided slices; others
    step by a table lookup on their first two bytes. The bounds are checked once, at the end.
    """
    count, pos = _count_runs(data, start, end)
    last = end - 1
    steps = _RECORD_STEPS
    while True:
        while pos < last and (step := steps[data[pos] | data[pos + 1] << 8]):
            pos += step
            count += 1
        if pos >= end:
            break
        length, pos = read_varint(data, pos, end)
        if length < MIN_RECORD_SIZE or length > end - pos:
            raise ProtocolError(f"record {count} declares length {length} at byte {pos}, "
                                f"{end - pos} bytes remain")
        pos += length
        count += 1
    if pos > end:
        raise ProtocolError(f"record {count - 1} runs {pos - end} bytes past the end of the records")
    return count


def read_record_heads(data: bytes | bytearray | memoryview, start: int,
                      end: int) -> tuple[list[int], list[int]]:
    """The timestamp deltas and the key lengths of the records between `start` and `end`, which
    they must tile: two lists, so that a check can take their min and max at C speed.

    A key length below 0 is a null key. Only the fields up to the key's length are read: what
    the produce checks of compacted topics and timestamp bounds need, at a fraction of a decode.
    Record lengths of one or two bytes step by the walk's table, and fields of one or two bytes
    (one for the key length) are read inline; anything longer goes through `read_varint`.
    """
    deltas: list[int] = []
    key_lengths: list[int] = []
    add_delta, add_key_length = deltas.append, key_lengths.append
    steps = _RECORD_STEPS
    pos = start
    while pos < end:
        if pos + 1 < end and (step := steps[data[pos] | data[pos + 1] << 8]):
            cursor = pos + (2 if data[pos] < 0x80 else 3)  # past the length and the attributes byte
            stop = pos + step
        else:
            length, pos = read_varint(data, pos, end)
            if length < MIN_RECORD_SIZE:
                raise ProtocolError(f"record {len(deltas)} declares length {length} at byte {pos}")
            cursor, stop = pos + 1, pos + length
        if stop > end:
            raise ProtocolError(f"record {len(deltas)} runs {stop - end} bytes past the end of the records")
        # The minimum record size keeps a timestamp delta's first two bytes inside the record.
        if (byte := data[cursor]) < 0x80:
            delta = (byte >> 1) ^ -(byte & 1)
            cursor += 1
        elif data[cursor + 1] < 0x80:
            zigzag = (byte & 0x7F) | (data[cursor + 1] << 7)
            delta = (zigzag >> 1) ^ -(zigzag & 1)
            cursor += 2
        else:
            delta, cursor = read_varint(data, cursor, stop, INT64_BYTES)
        if cursor < stop and data[cursor] < 0x80:  # the offset delta, only stepped over
            cursor += 1
        elif cursor + 1 < stop and data[cursor + 1] < 0x80:
            cursor += 2
        else:
            cursor = read_varint(data, cursor, stop)[1]
        if cursor < stop and (byte := data[cursor]) < 0x80:
            key_length = (byte >> 1) ^ -(byte & 1)
            cursor += 1
        else:
            key_length, cursor = read_varint(data, cursor, stop)
        if key_length > stop - cursor:
            raise ProtocolError(f"record {len(deltas)} has key length {key_length} at byte {cursor}, "
                                f"{stop - cursor} bytes remain in it")
        add_delta(delta)
        add_key_length(key_length)
        pos = stop
    return deltas, key_lengths


_SHORTEST_RUN = 4  # below this, sizes vary: stepping one record at a time is cheaper


def _count_runs(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """(records, position after them) of the runs of same-size records that begin at `pos`,
    stopping at the first run shorter than _SHORTEST_RUN."""
    count = 0
    while pos < end - 1 and (step := _RECORD_STEPS[data[pos] | data[pos + 1] << 8]):
        run = _same_size_run(data, pos, step, end)
        if run < _SHORTEST_RUN:
            break
        pos += run * step
        count += run
    return count, pos


def _same_size_run(data: bytes | bytearray | memoryview, pos: int, step: int, end: int) -> int:
    """How many records from `pos` on, each `step` bytes after the last and ending by `end`, begin
    with the same two bytes as the one at `pos` (and so have its length): a strided slice takes
    one byte of each, and how many of its bytes lead with the expected one tells how many match."""
    first, second = bytes(data[pos:pos + 1]), bytes(data[pos + 1:pos + 2])
    run = 0
    chunk = 32  # the first slice takes 64 records: fewer slices for the long runs of fixed-size values
    left = (end - pos) // step
    while left:
        chunk = min(2 * chunk, left)
        stop = pos + chunk * step
        same = min(_leading(bytes(data[pos:stop:step]), first), _leading(bytes(data[pos + 1:stop:step]), second))
        run += same
        if same < chunk:
            break
        pos = stop
        left -= chunk
    return run


def _leading(column: bytes, byte: bytes) -> int:
    """How many of `column`'s bytes from its start are `byte`. Comparing with a column of only
    that byte is one memcmp, and the common answer (all of them); lstrip tests byte by byte."""
    if column == byte * len(column):
        return len(column)
    return len(column) - len(column.lstrip(byte))
