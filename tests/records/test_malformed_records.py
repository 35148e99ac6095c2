"""Malformed batches and message sets: ProtocolError only, whatever the damage."""

from __future__ import annotations

import itertools
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kproto import ProtocolError
from kproto.compression import Codec
from kproto.records import (
    HEADER_SIZE,
    Record,
    build_batch,
    build_message_set,
    decode_batch,
    decode_message_set,
    message_set_to_batch,
    validate_batch,
)
from kproto.records.record import encode_records

from batchforge import forge

RECORDS = [Record(i, 1_000 + i, b"k%d" % i, b"v" * (i * 20), [("h", b"x"), ("n", None)]) for i in range(8)]
BATCHES = {codec: build_batch(RECORDS, compression=codec) for codec in Codec}
LEGACY = {(magic, codec): build_message_set(RECORDS, magic=magic, compression=codec)
          for magic in (0, 1) for codec in (Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4)}


def readers(data: bytes) -> list[Callable[[], object]]:
    return [lambda: decode_batch(data), lambda: validate_batch(data), lambda: validate_batch(data, from_producer=False)]


def legacy_readers(data: bytes) -> list[Callable[[], object]]:
    return [lambda: decode_message_set(data), lambda: message_set_to_batch(data)]


def only_protocol_errors(calls: list[Callable[[], object]]) -> None:
    for call in calls:
        try:
            call()
        except ProtocolError as exc:
            assert str(exc)


@pytest.mark.parametrize("codec", list(Codec))
def test_truncation_at_every_byte(codec: Codec) -> None:
    data = BATCHES[codec]
    for cut in range(len(data)):
        for call in readers(data[:cut]):
            with pytest.raises(ProtocolError):
                call()


def test_truncated_records_inside_a_sealed_batch() -> None:
    data = BATCHES[Codec.NONE]
    for cut in range(HEADER_SIZE, len(data)):
        for call in readers(forge(data[:cut])):
            with pytest.raises(ProtocolError, match="record"):
                call()


@pytest.mark.parametrize("key", [(magic, codec) for magic in (0, 1) for codec in Codec if codec != Codec.ZSTD])
def test_legacy_truncation_at_every_byte(key: tuple[int, Codec]) -> None:
    magic, codec = key
    data = LEGACY[key]
    ends = set(itertools.accumulate(len(build_message_set([r], magic=magic)) for r in RECORDS)) if not codec else set()
    for cut in range(1, len(data)):
        if cut in ends:  # a whole, shorter message set
            continue
        for call in legacy_readers(data[:cut]):
            with pytest.raises(ProtocolError):
                call()
    kept = decode_message_set(data[:-1], strict=False)  # a fetch cut inside the last message
    assert [r.key for r in kept] == ([] if codec else [r.key for r in RECORDS[:-1]])


@pytest.mark.parametrize("codec", list(Codec))
def test_every_flipped_byte_is_caught(codec: Codec) -> None:
    data = BATCHES[codec]
    for pos in range(len(data)):
        if 12 <= pos < 16 or pos < 8:  # partition leader epoch and base offset are outside the CRC
            continue
        damaged = bytearray(data)
        damaged[pos] ^= 0x5A
        for call in readers(bytes(damaged)):
            with pytest.raises(ProtocolError):
                call()


@pytest.mark.parametrize("key", sorted(LEGACY))
def test_every_flipped_legacy_byte_is_caught_or_harmless(key: tuple[int, Codec]) -> None:
    data = LEGACY[key]
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x5A
        only_protocol_errors(legacy_readers(bytes(damaged)))


def sealed(records_section: bytes, count: int) -> bytes:
    return forge(BATCHES[Codec.NONE][:HEADER_SIZE] + records_section, record_count=count)


@pytest.mark.parametrize("section, reason", [
    (b"\x7f" * 20, "length -64"),
    (b"\xff" * 12, "longer than 5 bytes"),
    (b"\x20\x00" + b"\xff" * 11 + bytes(4), "longer than 10 bytes"),  # timestamp delta
    (b"\x10\x00\x00\x00\xfe\xff\xff\xff\x0f", "key length 2147483647"),
    (b"\x10\x00\x00\x00\x01\x80\x01\x00\x00", "value length 64"),  # a two-byte length, two bytes left
    (b"\x0e\x00\x00\x00\x7e\x00\x00\x00", "key length 63"),  # a one-byte length, three bytes left
    (b"\x0c\x00\x00\x00\x01\x01\x01", "header count -1"),
    (b"\x14\x00\x00\x00\x01\x01\xfe\xff\xff\xff\x0f", "header count 2147483647"),
    (b"\x10\x00\x00\x00\x01\x01\x02\x01\x00", "null header key"),
    (b"\x10\x00\x00\x00\x01\x01\x02\x02\xff\x01", "not UTF-8"),
    (b"\x0e\x00\x00\x00\x01\x01\x00\x00", "left over"),
    (b"\xfe\xff\xff\xff\x0f", "length 2147483647"),
])
def test_bad_record_fields(section: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=f"record batch at byte 0: record 0: .*{reason}"):
        decode_batch(sealed(section, 1))


def test_a_huge_record_count_costs_nothing() -> None:
    data = sealed(bytes(encode_records(RECORDS[:1], 0, 1_000)), 2**31 - 1)
    with pytest.raises(ProtocolError, match="its records end after 1"):
        decode_batch(data)


def test_records_beyond_the_declared_count() -> None:
    """The records carry headers, whose counts are read on the way: the message keeps the batch's."""
    data = forge(BATCHES[Codec.NONE], record_count=3)
    with pytest.raises(ProtocolError, match=r"bytes follow the 3 declared records"):
        decode_batch(data)


def test_huge_declared_sizes() -> None:
    data = bytearray(BATCHES[Codec.NONE])
    data[8:12] = b"\x7f\xff\xff\xff"
    for call in readers(bytes(data)):
        with pytest.raises(ProtocolError, match="declares 2147483659 bytes"):
            call()
    legacy = bytearray(LEGACY[(1, Codec.NONE)])
    legacy[8:12] = b"\x7f\xff\xff\xff"
    with pytest.raises(ProtocolError, match="declares size 2147483647"):
        decode_message_set(bytes(legacy))


def test_legacy_rules() -> None:
    with pytest.raises(ProtocolError, match="magic 2"):
        decode_message_set(BATCHES[Codec.NONE])
    with pytest.raises(ProtocolError, match="holds no messages"):
        message_set_to_batch(b"")
    with pytest.raises(ProtocolError, match="has CRC"):
        decode_message_set(LEGACY[(0, Codec.NONE)][:-1] + b"!")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=st.sampled_from(list(Codec)), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                         min_size=1, max_size=6),
       cut=st.integers(0, 10_000), seal=st.booleans())
def test_fuzz_damaged_batches(codec: Codec, edits: list[tuple[int, int]], cut: int, seal: bool) -> None:
    data = bytearray(BATCHES[codec])
    for pos, value in edits:
        data[pos % len(data)] = value
    damaged = bytes(data[:max(cut, HEADER_SIZE)])
    if seal:
        damaged = forge(damaged)
    only_protocol_errors(readers(damaged))


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(LEGACY)), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                           min_size=1, max_size=6))
def test_fuzz_damaged_message_sets(key: tuple[int, Codec], edits: list[tuple[int, int]]) -> None:
    data = bytearray(LEGACY[key])
    for pos, value in edits:
        data[pos % len(data)] = value
    only_protocol_errors(legacy_readers(bytes(data)))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    only_protocol_errors(readers(data) + legacy_readers(data))
