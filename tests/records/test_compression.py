"""Compression codecs: round trips, the framings other writers use, and bounds on output."""

from __future__ import annotations

import gzip
import os
import struct
from typing import Callable

import cramjam
import kafka.codec
import lz4.frame
import pytest
import xxhash
import zstandard
from hypothesis import given, settings, strategies as st

from kproto import ProtocolError
from kproto.compression import Codec, _lz4_blocks_into, compress, decompress, decompress_transient, xxh32

PAYLOADS = [b"", b"x", os.urandom(3000), b"kafka " * 20000 + os.urandom(100)]


def transient(codec: Codec, data: bytes | bytearray, max_size: int = 64 * 1024 * 1024) -> bytes:
    """`decompress_transient`'s output, copied out of the room its next call reuses."""
    out, size = decompress_transient(codec, data, max_size)
    return bytes(out[:size])


#: The produce checks decompress into a reused room; both ways must accept and refuse alike.
DECOMPRESSORS = pytest.mark.parametrize("decompressor", [decompress, transient], ids=["fresh", "transient"])


@pytest.mark.parametrize("codec", list(Codec))
@pytest.mark.parametrize("options", [{}, {"magic": 0}, {"xerial": False}, {"level": 1}])
@DECOMPRESSORS
def test_round_trip(codec: Codec, options: dict, decompressor: Callable[..., bytes]) -> None:
    for payload in PAYLOADS:
        assert decompressor(codec, compress(codec, payload, **options)) == payload


@pytest.mark.parametrize("codec", [c for c in Codec if c != Codec.NONE])
@DECOMPRESSORS
def test_output_bound_refuses_bombs(codec: Codec, decompressor: Callable[..., bytes]) -> None:
    bomb = compress(codec, bytes(8 * 1024 * 1024))
    assert len(bomb) < 500_000
    with pytest.raises(ProtocolError, match="limit"):
        decompressor(codec, bomb, max_size=1024 * 1024)
    assert decompressor(codec, bomb, max_size=8 * 1024 * 1024) == bytes(8 * 1024 * 1024)


STREAMED_ZSTD = "zstd without content size"


@pytest.mark.parametrize("codec", [c for c in Codec if c != Codec.NONE] + [STREAMED_ZSTD])
@DECOMPRESSORS
def test_output_larger_than_the_first_decompressor_step(codec: Codec | str, decompressor: Callable[..., bytes]) -> None:
    payload = os.urandom(1000) * 20_000  # 20 MB, beyond the 8 MiB a decompressor first gets
    if codec == STREAMED_ZSTD:
        codec, data = Codec.ZSTD, zstandard.ZstdCompressor(write_content_size=False).compress(payload)
    else:
        data = compress(codec, payload)
    assert decompressor(codec, data) == payload
    with pytest.raises(ProtocolError, match="limit"):
        decompressor(codec, data, max_size=len(payload) - 1)


def test_xxh32_matches_reference() -> None:
    for size in range(0, 70):
        data = os.urandom(size)
        assert xxh32(data) == xxhash.xxh32(data).intdigest()
    assert xxh32(b"abc", seed=7) == xxhash.xxh32(b"abc", seed=7).intdigest()


@DECOMPRESSORS
def test_snappy_reads_xerial_and_raw_as_kafka_python_writes_them(decompressor: Callable[..., bytes]) -> None:
    payload = PAYLOADS[3]
    assert decompressor(Codec.SNAPPY, kafka.codec.snappy_encode(payload, xerial_compatible=True)) == payload
    assert decompressor(Codec.SNAPPY, kafka.codec.snappy_encode(payload, xerial_compatible=False)) == payload
    assert kafka.codec.snappy_decode(compress(Codec.SNAPPY, payload)) == payload
    assert kafka.codec.snappy_decode(compress(Codec.SNAPPY, payload, xerial=False)) == payload


def test_snappy_xerial_default_has_java_header_and_blocks() -> None:
    out = compress(Codec.SNAPPY, bytes(70_000))
    assert out[:16] == b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    (first_block,) = struct.unpack_from(">i", out, 16)
    assert 0 < first_block < len(out)


def test_lz4_magic0_variant_matches_kafka_python() -> None:
    payload = PAYLOADS[3]
    old = compress(Codec.LZ4, payload, magic=0)
    assert kafka.codec.lz4_decode_old_kafka(old) == payload
    assert decompress(Codec.LZ4, kafka.codec.lz4_encode_old_kafka(payload)) == payload
    with pytest.raises(RuntimeError):  # the old checksum is wrong for a standard reader
        lz4.frame.decompress(old)
    assert lz4.frame.decompress(compress(Codec.LZ4, payload)) == payload


@DECOMPRESSORS
def test_lz4_frame_with_content_size_and_bad_checksum(decompressor: Callable[..., bytes]) -> None:
    frame = bytearray(lz4.frame.compress(b"hello" * 100, store_size=True))
    assert decompressor(Codec.LZ4, frame) == b"hello" * 100
    frame[14] ^= 0xFF  # the header checksum byte, after magic, FLG, BD and the 8-byte size
    with pytest.raises(ProtocolError, match="header checksum"):
        decompressor(Codec.LZ4, frame)


@DECOMPRESSORS
def test_zstd_without_content_size_and_with_a_false_one(decompressor: Callable[..., bytes]) -> None:
    payload = PAYLOADS[3]
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(payload)
    assert zstandard.frame_content_size(streamed) == -1
    assert decompressor(Codec.ZSTD, streamed) == payload
    with pytest.raises(ProtocolError, match="limit"):
        decompressor(Codec.ZSTD, streamed, max_size=1000)
    sized = zstandard.ZstdCompressor().compress(payload)
    with pytest.raises(ProtocolError, match="declares"):
        decompressor(Codec.ZSTD, sized, max_size=1000)


@pytest.mark.parametrize("payload", [bytes(300_000), os.urandom(300_000), b"kafka " * 50_000],
                         ids=["rle-blocks", "raw-blocks", "compressed-blocks"])
@DECOMPRESSORS
def test_zstd_with_checksum_refused_when_cut_anywhere(payload: bytes, decompressor: Callable[..., bytes]) -> None:
    """A frame that lost only its content checksum, or part of it, decompresses to all of its
    data: it must still be refused, as Kafka's zstd stream refuses a truncated source."""
    frame = zstandard.ZstdCompressor(write_checksum=True, write_content_size=False).compress(payload)
    assert decompressor(Codec.ZSTD, frame) == payload
    for cut in (1, 2, 3, 4, 5, len(frame) // 2):
        with pytest.raises(ProtocolError):
            decompressor(Codec.ZSTD, frame[:-cut])


#: The frames Java's producer and librdkafka write, which are decompressed block by block.
LZ4_PLAIN_FRAMES = {
    "java-and-librdkafka": {"block_linked": False, "store_size": False},
    "256-KiB-blocks-unsized": {"block_linked": False, "store_size": False, "block_size": lz4.frame.BLOCKSIZE_MAX256KB},
}
LZ4_FRAMES = {  # what other writers may send: each must be read, or refused, the same both ways
    **LZ4_PLAIN_FRAMES,
    "independent": {"block_linked": False},
    "linked": {"block_linked": True},
    "content-checksum": {"block_linked": False, "content_checksum": True},
    "block-checksum": {"block_linked": False, "block_checksum": True},
    "content-size": {"block_linked": False, "store_size": True},
    "256-KiB-blocks": {"block_linked": False, "block_size": lz4.frame.BLOCKSIZE_MAX256KB},
}


@pytest.mark.parametrize("options", list(LZ4_FRAMES.values()), ids=list(LZ4_FRAMES))
@DECOMPRESSORS
def test_lz4_frames_of_every_layout(options: dict, decompressor: Callable[..., bytes]) -> None:
    payload = os.urandom(100_000) + b"kafka " * 100_000  # incompressible blocks are stored as they are
    frame = lz4.frame.compress(payload, **options)
    assert decompressor(Codec.LZ4, frame) == payload
    for cut in (1, 4, 5, len(frame) // 2):
        with pytest.raises(ProtocolError):
            decompressor(Codec.LZ4, frame[:-cut])


@DECOMPRESSORS
def test_lz4_frame_with_trailing_bytes_or_an_oversized_block(decompressor: Callable[..., bytes]) -> None:
    frame = lz4.frame.compress(b"kafka " * 50_000, block_linked=False, store_size=False)
    assert decompressor(Codec.LZ4, frame + b"junk") == b"kafka " * 50_000  # Kafka's reader stops at the end mark
    assert decompressor(Codec.LZ4, frame + frame) == b"kafka " * 50_000  # and reads no second frame
    header = frame[:7]  # magic, FLG, BD (64 KiB blocks), header checksum: no content size between
    stored = header + struct.pack("<I", 0x80000000 | 70_000) + bytes(70_000) + bytes(4)
    with pytest.raises(ProtocolError):
        decompressor(Codec.LZ4, stored)  # a stored block larger than the frame's block size


@pytest.mark.parametrize("options", list(LZ4_FRAMES.values()), ids=list(LZ4_FRAMES))
def test_lz4_block_by_block_takes_the_frames_java_and_librdkafka_write(options: dict) -> None:
    """Independent blocks without checksums go straight into the room, stored blocks too, up to
    the end mark (a second frame behind it is not read, as Kafka reads none); every other layout
    and a bad header checksum go to the frame decoder."""
    payload = os.urandom(100_000) + b"kafka " * 100_000
    frame = lz4.frame.compress(payload, **options)
    room = memoryview(bytearray(len(payload) + 10))
    size = _lz4_blocks_into(frame, room)
    if options in LZ4_PLAIN_FRAMES.values():
        assert bytes(room[:size]) == payload
        assert _lz4_blocks_into(frame + frame, room) == len(payload)
        assert _lz4_blocks_into(frame + b"junk", room) == len(payload)
        bad_checksum = bytearray(frame)
        bad_checksum[6] ^= 0xFF
        assert _lz4_blocks_into(bad_checksum, room) == -1
    else:
        assert size == -1


@DECOMPRESSORS
def test_lz4_compressed_block_beyond_the_frame_block_size(decompressor: Callable[..., bytes]) -> None:
    header = lz4.frame.compress(b"", block_linked=False)[:7]  # 64 KiB blocks
    block = bytes(cramjam.lz4.compress_block(bytes(70_000), store_size=False))
    with pytest.raises(ProtocolError):
        decompressor(Codec.LZ4, header + struct.pack("<I", len(block)) + block + bytes(4))


def _lz4_frame_of_one_block(block: bytes) -> bytes:
    """A frame as Java's producer and librdkafka write it (64 KiB blocks) holding `block` alone."""
    return lz4.frame.compress(b"", block_linked=False, store_size=False)[:7] + struct.pack("<I", len(block)) + block + bytes(4)


@DECOMPRESSORS
def test_lz4_block_read_bare_when_its_first_bytes_could_be_a_size(decompressor: Callable[..., bytes]) -> None:
    """A block in a frame is bare (Kafka reads it so); one whose first four bytes could be read as
    a size before a block, as some block decoders try, must neither come out as that block's
    content nor be taken when it is corrupt bare."""
    payload = bytes(range(65, 81)) + b"y" * 1000
    inner = bytes(cramjam.lz4.compress_block(payload, store_size=False))
    # Bare: a token of 15 + len(inner) - 13 literals, the rest of the block. Led by a size: the
    # size 0x..F0 and `inner`, which decompresses within it.
    both_ways = bytes([0xF0, len(inner) - 13, 0, 0]) + inner
    assert 0 < len(inner) - 13 < 255 and len(payload) <= 0xF0 + 256 * (len(inner) - 13)
    assert decompressor(Codec.LZ4, _lz4_frame_of_one_block(both_ways)) == bytes(2) + inner
    sized_only = struct.pack("<I", 1024) + bytes(cramjam.lz4.compress_block(b"x" * 1000, store_size=False))
    with pytest.raises(ProtocolError):  # bare, its first sequence copies from before the output's start
        decompressor(Codec.LZ4, _lz4_frame_of_one_block(sized_only))


@DECOMPRESSORS
def test_gzip_concatenated_members(decompressor: Callable[..., bytes]) -> None:
    assert decompressor(Codec.GZIP, gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"


@pytest.mark.parametrize("codec", [c for c in Codec if c != Codec.NONE])
@DECOMPRESSORS
def test_truncated_or_garbled_input_raises_protocol_error(codec: Codec, decompressor: Callable[..., bytes]) -> None:
    good = compress(codec, PAYLOADS[2])
    for cut in range(0, len(good), 97):
        with pytest.raises(ProtocolError):
            decompressor(codec, good[:cut])
    with pytest.raises(ProtocolError):
        decompressor(codec, b"\x00garbage" * 10)


@settings(max_examples=300, deadline=None)
@given(codec=st.sampled_from([c for c in Codec if c != Codec.NONE]), data=st.binary(max_size=200))
@DECOMPRESSORS
def test_fuzz_only_protocol_errors(codec: Codec, data: bytes, decompressor: Callable[..., bytes]) -> None:
    try:
        decompressor(codec, data, max_size=4096)
    except ProtocolError:
        pass


@settings(max_examples=100, deadline=None)
@given(codec=st.sampled_from(list(Codec)), data=st.binary(max_size=5000))
@DECOMPRESSORS
def test_round_trip_any_bytes(codec: Codec, data: bytes, decompressor: Callable[..., bytes]) -> None:
    assert decompressor(codec, compress(codec, data)) == data
