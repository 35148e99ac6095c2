"""Legacy message sets (magic 0 and 1), and their conversion to and from v2 batches.

A message set is a sequence of

    offset: int64
    messageSize: int32          bytes after this field
    crc: uint32                 CRC-32 (zlib's) of everything after it
    magic: int8                 0 or 1
    attributes: int8            bits 0-2 compression, bit 3 timestamp type (magic 1)
    timestamp: int64            magic 1 only
    key: int32 length (-1 null) + bytes
    value: int32 length (-1 null) + bytes

A compressed message is a wrapper whose value is a compressed message set of inner messages.
In magic 1 the inner offsets are relative (0, 1, ...) and the wrapper carries the absolute
offset of the last one; in magic 0 the inner offsets are absolute.

The broker stores v2 batches only: old producers' sets are converted up on produce, and
batches are converted down for fetches of old versions.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator, NamedTuple, Sequence

from kproto.compression import DEFAULT_MAX_DECOMPRESSED, Codec, codec_of, compress, decompress
from kproto.exceptions import InvalidRecordError, ProtocolError
from kproto.records.batch import NO_TIMESTAMP, build_batch, decode_batch
from kproto.records.header import COMPRESSION_MASK, TIMESTAMP_TYPE_BIT, iter_batch_headers
from kproto.records.record import Record

_PREFIX = struct.Struct(">qiIbb")  # offset, messageSize, crc, magic, attributes
_TIMESTAMP = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_CRC_START = 16  # offset (8) + messageSize (4) + crc (4): the CRC covers what follows
_MIN_SIZE = {0: 14, 1: 22}  # crc + magic + attributes (+ timestamp) + two int32 lengths
_LOG_OVERHEAD = 12


class _Message(NamedTuple):
    offset: int
    magic: int
    attributes: int
    timestamp: int
    key: bytes | None
    value: bytes | None


def _iter_messages(buf: bytes, strict: bool) -> Iterator[_Message]:
    """Parse top-level messages; without `strict`, stop quietly at a partial trailing one."""
    pos = 0
    end = len(buf)
    while pos < end:
        if end - pos < _PREFIX.size:
            if strict:
                raise ProtocolError(f"message at byte {pos} truncated: {end - pos} bytes")
            return
        offset, size, crc, magic, attributes = _PREFIX.unpack_from(buf, pos)
        if magic not in _MIN_SIZE:
            raise ProtocolError(f"message at byte {pos} has magic {magic}, expected 0 or 1")
        if size < _MIN_SIZE[magic]:
            raise ProtocolError(f"message at byte {pos} declares size {size}, below the minimum {_MIN_SIZE[magic]}")
        stop = pos + _LOG_OVERHEAD + size
        if stop > end:
            if strict:
                raise ProtocolError(f"message at byte {pos} declares size {size}, {end - pos - _LOG_OVERHEAD} bytes remain")
            return
        actual = zlib.crc32(memoryview(buf)[pos + _CRC_START:stop])
        if actual != crc:
            raise ProtocolError(f"message at byte {pos} has CRC {crc:#010x}, its bytes give {actual:#010x}")
        cursor = pos + _PREFIX.size
        timestamp = NO_TIMESTAMP
        if magic == 1:
            (timestamp,) = _TIMESTAMP.unpack_from(buf, cursor)
            cursor += 8
        key, cursor = _read_bytes(buf, cursor, stop, pos, "key")
        value, cursor = _read_bytes(buf, cursor, stop, pos, "value")
        if cursor != stop:
            raise ProtocolError(f"message at byte {pos} has {stop - cursor} bytes after its value")
        yield _Message(offset, magic, attributes, timestamp, key, value)
        pos = stop


def _read_bytes(buf: bytes, cursor: int, stop: int, pos: int, what: str) -> tuple[bytes | None, int]:
    if stop - cursor < 4:
        raise ProtocolError(f"message at byte {pos}: {what} length truncated at byte {cursor}")
    (length,) = _LENGTH.unpack_from(buf, cursor)
    cursor += 4
    if length < 0:
        return None, cursor
    if length > stop - cursor:
        raise ProtocolError(f"message at byte {pos}: {what} length {length} at byte {cursor - 4}, "
                            f"{stop - cursor} bytes remain")
    return buf[cursor:cursor + length], cursor + length


def _decode(buf: bytes | bytearray | memoryview, strict: bool, max_size: int) -> tuple[list[Record], Codec]:
    """Records of a message set with wrappers unpacked, and the codec of its first wrapper."""
    records: list[Record] = []
    first_codec = Codec.NONE
    budget = max_size
    magic: int | None = None
    for message in _iter_messages(bytes(buf), strict):
        if strict and magic is not None and message.magic != magic:
            raise InvalidRecordError(f"message at offset {message.offset} has magic {message.magic}, "
                                     f"the set began with magic {magic}")
        magic = message.magic
        codec = codec_of(message.attributes & COMPRESSION_MASK, f"message at offset {message.offset}")
        if codec == Codec.NONE:
            records.append(Record(message.offset, message.timestamp, message.key, message.value, []))
            continue
        if first_codec == Codec.NONE:
            first_codec = codec
        inner, used = _unwrap(message, codec, budget)
        records += inner
        budget -= used
    return records, first_codec


def _unwrap(wrapper: _Message, codec: Codec, budget: int) -> tuple[list[Record], int]:
    """The wrapper's inner records, and how many bytes they took decompressed."""
    where = f"compressed message at offset {wrapper.offset}"
    if wrapper.value is None:
        raise ProtocolError(f"{where} has a null value")
    try:
        data = decompress(codec, wrapper.value, budget)
        inner = list(_iter_messages(data, strict=True))
    except ProtocolError as exc:
        raise ProtocolError(f"{where}: {exc}") from None
    if not inner:
        raise ProtocolError(f"{where} holds no messages")
    if any(m.attributes & COMPRESSION_MASK for m in inner):
        raise InvalidRecordError(f"{where} holds a compressed message; nesting is not allowed")
    if any(m.magic != wrapper.magic for m in inner):
        raise InvalidRecordError(f"{where} of magic {wrapper.magic} holds messages of another magic")
    shift = wrapper.offset - inner[-1].offset if wrapper.magic == 1 else 0
    append_time = wrapper.magic == 1 and wrapper.attributes & TIMESTAMP_TYPE_BIT
    return [Record(m.offset + shift, wrapper.timestamp if append_time else m.timestamp, m.key, m.value, [])
            for m in inner], len(data)


def decode_message_set(buf: bytes | bytearray | memoryview, *, strict: bool = True,
                       max_size: int = DEFAULT_MAX_DECOMPRESSED) -> list[Record]:
    """The records of a magic 0/1 message set, compressed wrappers unpacked, offsets absolute.

    With `strict` (produce) a partial trailing message is an error, and so is a set mixing
    magics, which Kafka refuses from a producer; without it (a fetched set, cut at the size
    limit, perhaps spanning a format upgrade) the partial message is skipped. Magic 0 records
    have timestamp -1.
    """
    return _decode(buf, strict, max_size)[0]


def encode_message(offset: int, magic: int, attributes: int, timestamp: int, key: bytes | None,
                   value: bytes | None) -> bytes:
    """One message with its offset and size prefix, CRC computed."""
    body = bytearray(struct.pack(">bb", magic, attributes))
    if magic == 1:
        body += _TIMESTAMP.pack(timestamp)
    for data in (key, value):
        body += _LENGTH.pack(-1 if data is None else len(data))
        body += data or b""
    return struct.pack(">qiI", offset, len(body) + 4, zlib.crc32(body)) + body


def build_message_set(records: Sequence[Record], *, magic: int, compression: Codec = Codec.NONE,
                      log_append_time: int | None = None) -> bytes:
    """Encode `records` (absolute offsets, increasing) as a magic 0 or 1 message set.

    Compressed, they go in one wrapper message. Headers do not exist before magic 2 and are
    dropped; so are timestamps in magic 0. `log_append_time` (magic 1) stamps every message.
    """
    if magic not in _MIN_SIZE:
        raise ValueError(f"legacy message sets have magic 0 or 1, not {magic}")
    if not records:
        raise ValueError("a message set holds at least one message")
    if compression == Codec.ZSTD:
        raise ValueError("zstd needs magic 2")
    type_bit = TIMESTAMP_TYPE_BIT if magic == 1 and log_append_time is not None else 0

    def stamp(record: Record) -> int:
        return log_append_time if type_bit else record.timestamp

    if compression == Codec.NONE:
        return b"".join(encode_message(r.offset, magic, type_bit, stamp(r), r.key, r.value) for r in records)
    base = records[0].offset if magic == 1 else 0
    inner = b"".join(encode_message(r.offset - base, magic, 0, r.timestamp, r.key, r.value) for r in records)
    wrapper_time = log_append_time if type_bit else max(r.timestamp for r in records)
    return encode_message(records[-1].offset, magic, compression | type_bit, wrapper_time, None,
                    compress(compression, inner, magic=magic))


def message_set_to_batch(buf: bytes | bytearray | memoryview, *, compression: Codec | None = None,
                         max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Convert an old producer's message set into one v2 batch with offsets 0..n-1.

    The broker assigns offsets anyway, so the producer's are dropped. The batch is compressed
    with `compression`, by default the codec the producer used (Kafka's `compression.type=producer`).
    """
    records, used = _decode(buf, True, max_size)
    if not records:
        raise ProtocolError("message set holds no messages")
    renumbered = [Record(index, r.timestamp, r.key, r.value, []) for index, r in enumerate(records)]
    return build_batch(renumbered, compression=used if compression is None else compression)


def batches_to_message_set(buf: bytes | bytearray | memoryview, magic: int, *,
                           max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Convert the complete v2 batches in `buf` to a magic 0 or 1 message set, for old fetchers.

    Each batch keeps its codec; control batches are left out, as old clients cannot read them.
    A zstd batch cannot be converted (Kafka answers UNSUPPORTED_COMPRESSION_TYPE): ProtocolError.
    """
    parts = []
    for pos, header in iter_batch_headers(buf):
        if header.is_control:
            continue
        if header.compression == Codec.ZSTD:
            raise ProtocolError(f"record batch at byte {pos} is zstd-compressed; magic {magic} has no zstd")
        batch = decode_batch(buf, pos, max_size=max_size)
        if batch.records:
            append_time = header.max_timestamp if header.log_append_time else None
            parts.append(build_message_set(batch.records, magic=magic, compression=Codec(header.compression),
                                           log_append_time=append_time))
    return b"".join(parts)
