"""The compression codecs of Kafka record batches and message sets, with bounded decompression.

Every decompressor takes `max_size` and refuses to produce more: a few kilobytes of gzip or zstd
can expand to gigabytes, and the bytes come from the network.
"""

from __future__ import annotations

import enum
import functools
import struct
import threading
import zlib
from typing import Iterator

import cramjam
import lz4.block
import lz4.frame
import zstandard

from kproto.exceptions import ProtocolError

# Kafka's default message.max.bytes is about 1 MiB and fetch.max.bytes 50 MiB; a batch that
# expands beyond 64 MiB is far outside what clients produce, so treat it as a bomb unless the
# caller raises the bound.
DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024

# Output a decompressor is first given room for. LZ4's and zstd's allocate the whole room up
# front, and glibc maps anything above 32 MiB afresh (page faults on every page written) on each
# call; 8 MiB is well above a produced batch and keeps it to one call without that cost.
OUTPUT_STEP = 8 * 1024 * 1024


class Codec(enum.IntEnum):
    """Compression ids as they appear in the low three attribute bits."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


_CODECS = tuple(Codec)  # by id: indexing is cheaper than calling the enum


def codec_of(value: int, where: str) -> Codec:
    """The codec for an attribute's compression bits, or ProtocolError for an unknown id."""
    if 0 <= value < len(_CODECS):
        return _CODECS[value]
    raise ProtocolError(f"{where}: unknown compression codec id {value}")


def compress(codec: Codec, data: bytes | bytearray | memoryview, *, magic: int = 2,
             xerial: bool = True, level: int | None = None) -> bytes:
    """Compress `data` as a Kafka producer would.

    `magic` matters for LZ4 only: magic 0 message sets carry the frame with Kafka's old,
    miscomputed header checksum. `xerial` picks the snappy framing: True (the default) writes
    the xerial stream that the Java client and broker write, which every client reads; False
    writes one raw snappy block, as librdkafka does.
    """
    if codec == Codec.NONE:
        return bytes(data)
    if codec == Codec.GZIP:
        return _gzip(data, 6 if level is None else level)
    if codec == Codec.SNAPPY:
        return _xerial_compress(data) if xerial else bytes(cramjam.snappy.compress_raw(data))
    if codec == Codec.LZ4:
        frame = lz4.frame.compress(bytes(data), compression_level=level or 0, block_linked=False,
                                   block_size=lz4.frame.BLOCKSIZE_MAX64KB, content_checksum=False,
                                   store_size=False)
        return _break_lz4_checksum(frame) if magic == 0 else frame
    if codec == Codec.ZSTD:
        return zstandard.ZstdCompressor(level=3 if level is None else level).compress(data)
    raise ValueError(f"unknown compression codec {codec!r}")


def decompress(codec: Codec, data: bytes | bytearray | memoryview,
               max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Decompress `data`, raising ProtocolError if it is corrupt or expands beyond `max_size`.

    Snappy is accepted raw or xerial-framed, LZ4 with either header checksum (the old magic-0
    variant and the correct one), gzip as one or more members, zstd with or without the
    content size in its frame.
    """
    name = Codec(codec).name.lower()
    try:
        if codec == Codec.NONE:
            out = bytes(data)
        elif codec == Codec.GZIP:
            out = _gunzip(data, max_size)
        elif codec == Codec.SNAPPY:
            out = _snappy_decompress(data, max_size)
        elif codec == Codec.LZ4:
            out = _lz4_decompress(data, max_size)
        else:
            out = _zstd_decompress(data, max_size)
    except ProtocolError as exc:
        raise ProtocolError(f"{name} data: {exc}") from None
    except (zlib.error, cramjam.DecompressionError, RuntimeError, zstandard.ZstdError) as exc:
        raise ProtocolError(f"{name} data is corrupt: {exc}") from None
    if len(out) > max_size:
        raise ProtocolError(f"{name} data expands beyond the limit of {max_size} bytes")
    return out


class _Scratch(threading.local):
    """Each thread's reusable output room for `decompress_transient` and its zstd decompressor,
    made on first use."""

    room: bytearray | None = None
    zstd: zstandard.ZstdDecompressor | None = None


_SCRATCH = _Scratch()


def decompress_transient(codec: Codec, data: bytes | bytearray | memoryview,
                         max_size: int = DEFAULT_MAX_DECOMPRESSED) -> tuple[bytes | bytearray, int]:
    """`decompress` for bytes that are read and dropped at once (the produce checks): (buffer,
    size), the output being the buffer's first `size` bytes. The buffer is this thread's
    reusable room, which its next call overwrites (a bytearray: indexing one is quicker than a
    memoryview), or a fresh one.

    `decompress` gives each batch fresh output, first OUTPUT_STEP bytes then shrunk to size; glibc
    may serve that from new pages each time, and faulting them in can cost more than the
    decompression itself. Whatever does not fit the room, or that cramjam refuses, goes the way
    of `decompress`, which then decides, so both accept and refuse the same data.
    """
    if _SCRATCH.room is None:
        _SCRATCH.room = bytearray(OUTPUT_STEP)
    try:
        size = _decompress_into(codec, data, memoryview(_SCRATCH.room)[:min(OUTPUT_STEP, max_size + 1)])
    except (ProtocolError, cramjam.DecompressionError, lz4.block.LZ4BlockError, zstandard.ZstdError):
        size = -1
    if 0 <= size <= max_size:
        return _SCRATCH.room, size
    out = decompress(codec, data, max_size)
    return out, len(out)


def _decompress_into(codec: Codec, data: bytes | bytearray | memoryview, room: memoryview) -> int:
    """Decompress into `room` and return the size (-1 for a codec without a way into it), or raise."""
    if codec == Codec.LZ4:
        size = _lz4_blocks_into(data, room)
        return size if size >= 0 else cramjam.lz4.decompress_into(data, room)
    if codec == Codec.ZSTD:
        return _zstd_decompress_into(data, room)
    if codec == Codec.GZIP:
        return cramjam.gzip.decompress_into(data, room)
    if codec == Codec.SNAPPY:
        view = memoryview(data)
        if bytes(view[:8]) != XERIAL_MAGIC:
            return cramjam.snappy.decompress_raw_into(view, room)
        size = 0
        for block in _xerial_blocks(view):
            size += cramjam.snappy.decompress_raw_into(block, room[size:])
        return size
    return -1


def _gzip(data: bytes | bytearray | memoryview, level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _gunzip(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    out = bytearray()
    rest = bytes(data)
    while True:  # Java's GZIPInputStream reads concatenated members as one stream
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(rest, max_size + 1 - len(out))
        if inflater.unconsumed_tail or len(out) > max_size:
            raise ProtocolError(f"expands beyond the limit of {max_size} bytes")
        if not inflater.eof:
            raise ProtocolError("gzip stream is truncated")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)


XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = struct.Struct(">8sii")  # magic, version, compatible version
XERIAL_BLOCK = 32 * 1024  # the block size snappy-java uses, hence what Java producers write
_BLOCK_LENGTH = struct.Struct(">i")


def _xerial_compress(data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data)
    parts = [XERIAL_HEADER.pack(XERIAL_MAGIC, 1, 1)]
    for start in range(0, len(view), XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(view[start:start + XERIAL_BLOCK]))
        parts.append(_BLOCK_LENGTH.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_block(block: bytes | memoryview, budget: int, where: str) -> bytes:
    declared = cramjam.snappy.decompress_raw_len(block)
    if declared > budget:
        raise ProtocolError(f"{where} declares {declared} bytes, beyond the limit")
    return bytes(cramjam.snappy.decompress_raw(block))


def _snappy_decompress(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    view = memoryview(data)
    if bytes(view[:8]) != XERIAL_MAGIC:
        return _snappy_block(view, max_size, "raw snappy block")
    out = bytearray()
    for block in _xerial_blocks(view):
        out += _snappy_block(block, max_size - len(out), "xerial block")
    return bytes(out)


def _xerial_blocks(view: memoryview) -> Iterator[memoryview]:
    """The snappy blocks of a xerial stream, each checked to lie within it."""
    if len(view) < XERIAL_HEADER.size:
        raise ProtocolError(f"xerial header truncated at {len(view)} of {XERIAL_HEADER.size} bytes")
    pos = XERIAL_HEADER.size
    while pos < len(view):
        if len(view) - pos < 4:
            raise ProtocolError(f"xerial block length truncated at byte {pos}")
        (length,) = _BLOCK_LENGTH.unpack_from(view, pos)
        pos += 4
        if length < 0 or length > len(view) - pos:
            raise ProtocolError(f"xerial block at byte {pos - 4} declares {length} bytes, "
                                f"{len(view) - pos} remain")
        yield view[pos:pos + length]
        pos += length


_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_CONTENT_SIZE_FLAG = 0x08
_LZ4_DICT_ID_FLAG = 0x01


def _lz4_descriptor_end(frame: bytes | bytearray) -> int:
    """Index of the header checksum byte: after magic, FLG, BD and the optional fields."""
    if len(frame) < 7 or frame[:4] != _LZ4_MAGIC:
        raise ProtocolError("not an LZ4 frame (bad magic or truncated header)")
    flags = frame[4]
    end = 6 + (8 if flags & _LZ4_CONTENT_SIZE_FLAG else 0) + (4 if flags & _LZ4_DICT_ID_FLAG else 0)
    if len(frame) <= end:
        raise ProtocolError("LZ4 frame header truncated")
    return end


# The frame descriptor Java's producer and librdkafka write: version 01, independent blocks, no
# block or content checksum, no content size or dictionary.
_LZ4_PLAIN_INDEPENDENT = 0x60
_LZ4_BLOCK_MAX_SIZES = {4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024}  # by BD's bits 4-6
_LZ4_STORED_BLOCK = 0x80000000  # a block size's high bit: the block is stored uncompressed
_LZ4_BLOCK_SIZE = struct.Struct("<I")


@functools.lru_cache(maxsize=16)
def _lz4_header_checksum(descriptor: bytes) -> int:
    return (xxh32(descriptor) >> 8) & 0xFF


def _lz4_blocks_into(data: bytes | bytearray | memoryview, room: memoryview) -> int:
    """A frame of independent blocks without checksums (what Java's producer and librdkafka send)
    decompressed block by block straight into `room`, up to its end mark, where Kafka's reader
    stops too, whatever follows; -1 for any other frame, for the frame decoder to take.

    The frame decoder decompresses each block into a buffer of its own and copies it out: for a
    batch of compressible records that copy costs as much as the decompression.
    """
    view = memoryview(data)
    if len(view) < 7 or view[:4] != _LZ4_MAGIC or view[4] != _LZ4_PLAIN_INDEPENDENT:
        return -1
    block_max = _LZ4_BLOCK_MAX_SIZES.get(view[5] >> 4) if not view[5] & 0x0F else None
    if block_max is None or view[6] != _lz4_header_checksum(bytes(view[4:6])):
        return -1
    pos, size, end = 7, 0, len(view)
    unpack_from, block_into = _LZ4_BLOCK_SIZE.unpack_from, cramjam.lz4.decompress_block_into
    while pos + 4 <= end:
        (word,) = unpack_from(view, pos)
        pos += 4
        if word == 0:
            return size
        length = word & ~_LZ4_STORED_BLOCK
        if length > block_max or pos + length > end:
            return -1
        out = room[size:size + block_max]
        if word & _LZ4_STORED_BLOCK:
            if length > len(out):
                return -1
            out[:length] = view[pos:pos + length]
            size += length
        elif length < 4 or unpack_from(view, pos)[0] > len(out):
            size += block_into(view[pos:pos + length], out, output_len=len(out))
        else:
            size += _lz4_bare_block_into(view[pos:pos + length], out)
        pos += length
    return -1


def _lz4_bare_block_into(block: memoryview, out: memoryview) -> int:
    """A compressed block whose first four bytes could be read as its decompressed size, read as
    the bare block it is, into `out`.

    cramjam's block decoder reads a block as one led by its size, first when not told the
    output's size and else when the bare reading fails: such a block (the first of a batch often
    is one: its records start with zeros) would come out as other data than Kafka reads, or a
    corrupt one be taken. python-lz4 reads it bare only, into a buffer of its own, then copied;
    the other blocks go straight to cramjam, inline in the loop above.
    """
    decoded = lz4.block.decompress(block, uncompressed_size=len(out))
    out[:len(decoded)] = decoded
    return len(decoded)


def _break_lz4_checksum(frame: bytes) -> bytes:
    """Rewrite the header checksum as Kafka's magic-0 writer computed it: magic bytes included."""
    out = bytearray(frame)
    end = _lz4_descriptor_end(out)
    out[end] = (xxh32(out[:end]) >> 8) & 0xFF
    return bytes(out)


def _lz4_decompress(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    frame = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    end = _lz4_descriptor_end(frame)
    good = (xxh32(frame[4:end]) >> 8) & 0xFF
    if frame[end] != good:
        if frame[end] != (xxh32(frame[:end]) >> 8) & 0xFF:
            raise ProtocolError("LZ4 frame header checksum mismatch")
        frame = bytearray(frame)
        frame[end] = good  # the old magic-0 variant: accept it as Kafka did
    inflater = lz4.frame.LZ4FrameDecompressor()
    parts = [inflater.decompress(frame, max_length=min(OUTPUT_STEP, max_size + 1))]
    size = len(parts[0])
    while parts[-1] and not inflater.eof and not inflater.needs_input and size <= max_size:
        parts.append(inflater.decompress(b"", max_length=min(OUTPUT_STEP, max_size + 1 - size)))
        size += len(parts[-1])
    if size > max_size:
        raise ProtocolError(f"expands beyond the limit of {max_size} bytes")
    if not inflater.eof:
        raise ProtocolError("LZ4 frame is truncated")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _zstd_decompress(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    # Java's and librdkafka's zstd streams write no content size; then max_output_size bounds the
    # output, and is allocated whole: a first try within OUTPUT_STEP serves the usual batch.
    # When the frame declares its size, zstandard trusts it, so check it first.
    declared = zstandard.frame_content_size(data)
    if declared > max_size:
        raise ProtocolError(f"frame declares {declared} bytes, beyond the limit of {max_size}")
    inflater = zstandard.ZstdDecompressor()
    if max_size > OUTPUT_STEP:
        try:
            return inflater.decompress(data, max_output_size=OUTPUT_STEP)
        except zstandard.ZstdError:
            pass  # larger than the step, or corrupt: the whole bound tells
    try:
        return inflater.decompress(data, max_output_size=max_size)
    except zstandard.ZstdError:
        # The same error means truncated or too big; a bounded streaming read tells which.
        if len(inflater.stream_reader(data).read(max_size + 1)) > max_size:
            raise ProtocolError(f"expands beyond the limit of {max_size} bytes") from None
        raise


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_DICT_ID_SIZES = (0, 1, 2, 4)
_ZSTD_CONTENT_SIZE_SIZES = (0, 2, 4, 8)  # by the descriptor's top two bits; 0 means 1 in a single segment


def _zstd_decompress_into(data: bytes | bytearray | memoryview, room: memoryview) -> int:
    """One whole zstd frame decompressed into `room`, or -1 (for `decompress` to decide) when the
    data is not exactly one complete frame or fills the room.

    zstandard's stream reader writes into the room faster than cramjam, but reads a truncated
    frame without complaint; the walk over the frame's block headers sees that first.
    """
    view = memoryview(data)
    if _zstd_frame_end(view) != len(view):
        return -1
    inflater = _SCRATCH.zstd
    if inflater is None:
        inflater = _SCRATCH.zstd = zstandard.ZstdDecompressor()
    size = 0
    with inflater.stream_reader(view) as reader:
        while size < len(room):
            got = reader.readinto(room[size:])
            if not got:
                return size
            size += got
    return -1


def _zstd_frame_end(view: memoryview) -> int:
    """Where the zstd frame at the start of `view` ends, by its header and block headers (RFC 8878
    section 3.1.1), or -1 if it is not a frame or ends beyond the data."""
    if len(view) < 6 or view[:4] != _ZSTD_MAGIC:
        return -1
    descriptor = view[4]
    single_segment = descriptor & 0x20
    content_size_bytes = _ZSTD_CONTENT_SIZE_SIZES[descriptor >> 6] or (1 if single_segment else 0)
    pos = 5 + (0 if single_segment else 1) + _ZSTD_DICT_ID_SIZES[descriptor & 3] + content_size_bytes
    while pos + 3 <= len(view):
        block = view[pos] | view[pos + 1] << 8 | view[pos + 2] << 16
        block_type = (block >> 1) & 3
        if block_type == 3:  # reserved
            return -1
        pos += 3 + (1 if block_type == 1 else block >> 3)  # an RLE block holds one byte
        if block & 1:  # the last block
            end = pos + (4 if descriptor & 4 else 0)  # the content checksum
            return end if end <= len(view) else -1
    return -1


_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def xxh32(data: bytes | bytearray, seed: int = 0) -> int:
    """XXH32 as the LZ4 frame format specifies it; used only on frame headers (a few bytes)."""
    n = len(data)
    pos = 0
    if n >= 16:
        lanes = [(seed + _P1 + _P2) & _M32, (seed + _P2) & _M32, seed & _M32, (seed - _P1) & _M32]
        while pos + 16 <= n:
            for i, word in enumerate(struct.unpack_from("<4I", data, pos)):
                lanes[i] = (_rotl((lanes[i] + word * _P2) & _M32, 13) * _P1) & _M32
            pos += 16
        acc = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18)) & _M32
    else:
        acc = (seed + _P5) & _M32
    acc = (acc + n) & _M32
    while pos + 4 <= n:
        (word,) = struct.unpack_from("<I", data, pos)
        acc = (_rotl((acc + word * _P3) & _M32, 17) * _P4) & _M32
        pos += 4
    for byte in data[pos:]:
        acc = (_rotl((acc + byte * _P5) & _M32, 11) * _P1) & _M32
    acc = ((acc ^ (acc >> 15)) * _P2) & _M32
    acc = ((acc ^ (acc >> 13)) * _P3) & _M32
    return acc ^ (acc >> 16)
