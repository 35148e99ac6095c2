"""Bytes kproto must refuse: each case raises ProtocolError (or a subclass) with a message, quickly.

Decoders face untrusted input, so nothing here may raise another exception type, loop, or
allocate according to a declared length or count before checking it against the bytes that
remain. Every test runs under pytest-timeout.
"""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kproto import ProtocolError, UnsupportedVersionError, decode_request, decode_response, encode_request
from kproto.codec import decode, encode, uvarint
from kproto.messages import (
    ApiVersionsRequest,
    CreateTopicsRequest,
    FetchRequest,
    FetchResponse,
    JoinGroupRequest,
    MetadataRequest,
    MetadataResponse,
    ProduceRequest,
)
from kproto.model import Message
from kproto.protocol import HEADER_PREFIX, decode_request_header, request_class, request_header_version
from kproto.schema.headers import RequestHeader
from spec_strategies import message

pytestmark = pytest.mark.timeout(60)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def refused(call, *args) -> ProtocolError:
    """Run a decode that must fail, and return its ProtocolError."""
    with pytest.raises(ProtocolError) as info:
        call(*args)
    assert str(info.value), "a ProtocolError needs a message"
    return info.value


# ---------------------------------------------------------------- representative messages


def produce(version: int) -> ProduceRequest:
    return ProduceRequest(
        transactional_id="tx" if version >= 3 else None, acks=-1, timeout_ms=30000,
        topic_data=[ProduceRequest.TopicProduceData(
            name="orders" if version < 13 else "",
            partition_data=[ProduceRequest.PartitionProduceData(index=3, records=b"\x00" * 40)])],
    )


def metadata_response(version: int) -> MetadataResponse:
    return MetadataResponse(
        brokers=[MetadataResponse.MetadataResponseBroker(node_id=1, host="localhost", port=9092)],
        topics=[MetadataResponse.MetadataResponseTopic(
            name="orders", partitions=[MetadataResponse.MetadataResponsePartition(
                partition_index=0, leader_id=1, replica_nodes=[1], isr_nodes=[1])])],
    )


def fetch_response(version: int) -> FetchResponse:
    return FetchResponse(responses=[FetchResponse.FetchableTopicResponse(
        topic="orders" if version < 13 else "",
        partitions=[FetchResponse.PartitionData(partition_index=0, high_watermark=10, records=b"r" * 30)])])


SAMPLES: list[tuple[type[Message], int, Message]] = [
    (ProduceRequest, v, produce(v)) for v in (0, 3, 8, 9, 13)
] + [
    (MetadataResponse, v, metadata_response(v)) for v in (0, 8, 9, 12)
] + [
    (FetchResponse, v, fetch_response(v)) for v in (4, 11, 12, 16)
] + [
    (ApiVersionsRequest, 3, ApiVersionsRequest(client_software_name="kp", client_software_version="1"))
] + [
    (JoinGroupRequest, v, JoinGroupRequest(group_id="g", member_id="m", protocol_type="consumer",
                                           protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"\x01")]))
    for v in (0, 5, 6, 9)
]
SAMPLE_IDS = [f"{cls.__name__}-v{v}" for cls, v, _ in SAMPLES]


def sample_encoding(cls: type[Message], version: int, obj: Message) -> bytes:
    data = encode(obj, version)
    assert decode(cls, version, data) == obj
    return data


@pytest.mark.parametrize(("cls", "version", "obj"), SAMPLES, ids=SAMPLE_IDS)
def test_truncation_at_every_byte(cls: type[Message], version: int, obj: Message) -> None:
    data = sample_encoding(cls, version, obj)
    for cut in range(len(data)):
        refused(decode, cls, version, data[:cut])


@pytest.mark.parametrize(("cls", "version", "obj"), SAMPLES, ids=SAMPLE_IDS)
def test_trailing_garbage(cls: type[Message], version: int, obj: Message) -> None:
    data = sample_encoding(cls, version, obj)
    error = refused(decode, cls, version, data + b"\x00")
    assert "trailing" in str(error)


@pytest.mark.parametrize(("cls", "version", "obj"), SAMPLES, ids=SAMPLE_IDS)
def test_every_single_byte_change(cls: type[Message], version: int, obj: Message) -> None:
    """Setting any byte to 0x80, 0xff or 0x7f either still decodes or raises ProtocolError."""
    data = sample_encoding(cls, version, obj)
    for i in range(len(data)):
        for byte in (0x7F, 0x80, 0xFF):
            mutated = data[:i] + bytes([byte]) + data[i + 1:]
            try:
                decode(cls, version, mutated)
            except ProtocolError as exc:
                assert str(exc)


# ---------------------------------------------------------------- lengths, counts and varints


def test_negative_lengths_and_counts() -> None:
    # ProduceRequest v0: acks, timeout, then the topic array count
    head = struct.pack(">hi", 1, 1000)
    refused(decode, ProduceRequest, 0, head + struct.pack(">i", -2))
    assert "negative" in str(refused(decode, ProduceRequest, 0, head + struct.pack(">i", -(1 << 31))))
    refused(decode, ProduceRequest, 0, head + struct.pack(">i", -1))  # null, but the array is not nullable
    # a topic whose name has length -2
    refused(decode, ProduceRequest, 0, head + struct.pack(">ih", 1, -2))
    # records of length -5
    topic = struct.pack(">ih", 1, 1) + b"t" + struct.pack(">iii", 1, 0, -5)
    refused(decode, ProduceRequest, 0, head + topic)


@pytest.mark.parametrize("count", [1 << 20, (1 << 31) - 1])
def test_huge_counts_and_lengths_are_refused_without_allocating(count: int) -> None:
    head = struct.pack(">hi", 1, 1000)
    started = time.perf_counter()
    refused(decode, ProduceRequest, 0, head + struct.pack(">i", count))                   # topic count
    refused(decode, ProduceRequest, 0, head + struct.pack(">ih", 1, 0x7FFF))              # name length
    refused(decode, ProduceRequest, 0, head + struct.pack(">ih", 1, 1) + b"t" + struct.pack(">iii", 1, 0, count))
    refused(decode, MetadataRequest, 1, struct.pack(">i", count))                         # topics of v1
    # compact forms: a varint of length + 1
    refused(decode, ProduceRequest, 9, b"\x00" + struct.pack(">hi", 1, 1000) + uvarint(count))
    refused(decode, CreateTopicsRequest, 5, uvarint(count))
    # an array of int32s (replica ids) declaring far more than the frame holds
    refused(decode, FetchRequest, 4, struct.pack(">iiiib", -1, 0, 0, 0, 0) + struct.pack(">i", count))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("continuation", [5, 6, 10, 100])
def test_overlong_varints(continuation: int) -> None:
    bad = b"\xff" * continuation + b"\x01"
    # CreateTopicsRequest v5 begins with a compact array count
    error = refused(decode, CreateTopicsRequest, 5, bad)
    assert "varint" in str(error)
    # in a tagged-field count, a tag and a tag size
    empty_v3 = encode(ApiVersionsRequest(), 3)
    refused(decode, ApiVersionsRequest, 3, empty_v3[:-1] + bad)
    refused(decode, ApiVersionsRequest, 3, empty_v3[:-1] + b"\x01" + bad)
    refused(decode, ApiVersionsRequest, 3, empty_v3[:-1] + b"\x01\x05" + bad)


def test_tagged_field_size_beyond_the_message() -> None:
    empty_v3 = encode(ApiVersionsRequest(), 3)
    refused(decode, ApiVersionsRequest, 3, empty_v3[:-1] + b"\x01\x05\x7f" + b"x" * 10)
    refused(decode, ApiVersionsRequest, 3, empty_v3[:-1] + b"\x7f")  # 127 tags, none there


def test_known_tagged_field_with_wrong_size() -> None:
    """A known tag whose value does not fill exactly its declared size."""
    from kproto.messages import FetchRequest as F

    data = encode(F(cluster_id="c"), 12)
    assert data.endswith(b"\x01\x00\x02\x02c")  # one tag: tag 0, size 2, compact string "c"
    error = refused(decode, F, 12, data[:-5] + b"\x01\x00\x03\x02cx")
    assert "ClusterId" in str(error)


def test_invalid_utf8() -> None:
    # MetadataRequest v1: one topic named with bytes that are not UTF-8
    bad = struct.pack(">ih", 1, 2) + b"\xc3\x28"
    assert "UTF-8" in str(refused(decode, MetadataRequest, 1, bad))
    # and in a request header's client id
    frame = struct.pack(">hhih", 3, 1, 7, 2) + b"\xff\xfe" + struct.pack(">i", 0)
    refused(decode_request, frame)


def test_null_in_a_field_that_is_not_nullable() -> None:
    # JoinGroupRequest v0: group id null
    assert "nullable" in str(refused(decode, JoinGroupRequest, 0, struct.pack(">h", -1)))


# ---------------------------------------------------------------- headers and frames


def test_unknown_api_key_and_version() -> None:
    frame = struct.pack(">hhih", 9999, 0, 42, 0)
    error = refused(decode_request, frame)
    assert isinstance(error, UnsupportedVersionError)
    assert (error.api_key, error.api_version, error.correlation_id) == (9999, 0, 42)
    frame = struct.pack(">hhih", 18, 99, 43, 0)
    error = refused(decode_request, frame)
    assert isinstance(error, UnsupportedVersionError) and error.correlation_id == 43
    frame = struct.pack(">hhih", 0, -1, 44, 0)
    assert isinstance(refused(decode_request, frame), UnsupportedVersionError)
    refused(decode, ProduceRequest, 99, b"")
    refused(decode_response, struct.pack(">i", 1), 9999, 0)
    refused(decode_response, struct.pack(">i", 1), 3, 99)


@pytest.mark.parametrize("size", range(8))
def test_short_request_frames(size: int) -> None:
    frame = encode_request(RequestHeader(request_api_key=18, request_api_version=3, correlation_id=1, client_id="c"),
                           ApiVersionsRequest())
    refused(decode_request, frame[:size])


@pytest.mark.parametrize("client_id_length", [0, 900, HEADER_PREFIX, 5000])
def test_request_header_read_alike_from_bytes_and_a_received_bytearray(client_id_length: int) -> None:
    """A large request arrives as a bytearray, and its header is first read from a copy of its
    start: a client id running past that start, or a header cut short, must come out as from bytes."""
    header = RequestHeader(request_api_key=0, request_api_version=9, correlation_id=5, client_id="c" * client_id_length)
    frame = encode_request(header, ProduceRequest(acks=1, timeout_ms=1000)) + bytes(70_000)
    assert decode_request_header(bytearray(frame)) == decode_request_header(frame)
    assert decode_request_header(bytearray(frame))[0].client_id == header.client_id
    if client_id_length:
        cut = frame[:10 + client_id_length // 2]  # key, version, correlation id, the id's length, half the id
        assert str(refused(decode_request_header, bytearray(cut))) == str(refused(decode_request_header, cut))


def test_response_truncated_in_its_header() -> None:
    refused(decode_response, b"\x00\x00", 3, 12)
    refused(decode_response, b"\x00\x00\x00\x01", 3, 12)  # header v1 needs its tag section


# ---------------------------------------------------------------- fuzzing every request class


def _request_frame_strategy() -> st.SearchStrategy[bytes]:
    """Frames with a real api key and version in their header, followed by random bytes."""
    from kproto import messages

    keys = sorted(messages.APIS)

    @st.composite
    def frames(draw: st.DrawFn) -> bytes:
        key = draw(st.sampled_from(keys))
        low, high = request_class(key).SPEC.versions
        version = draw(st.integers(low, high))
        head = struct.pack(">hhi", key, version, draw(st.integers(-5, 5)))
        if request_header_version(key, version) >= 1:
            head += struct.pack(">h", 1) + b"c"
        if request_header_version(key, version) == 2:
            head += b"\x00"
        return head + draw(st.binary(max_size=200))

    return frames()


@FUZZ
@given(_request_frame_strategy())
@example(b"")
@example(struct.pack(">hhih", 0, 9, 0, 0) + b"\x00" + b"\xff" * 8)
def test_fuzz_request_frames(frame: bytes) -> None:
    try:
        decode_request(frame)
    except ProtocolError as exc:
        assert str(exc)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_raw_bytes(frame: bytes) -> None:
    try:
        decode_request(frame)
    except ProtocolError as exc:
        assert str(exc)


def _mutated_valid_request() -> st.SearchStrategy[bytes]:
    """A valid request of a random class and version with a few bytes changed."""
    from kproto import messages

    keys = sorted(messages.APIS)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        key = draw(st.sampled_from(keys))
        cls = request_class(key)
        version = draw(st.integers(*cls.SPEC.versions))
        obj = draw(message(cls, version))
        frame = bytearray(encode_request(
            RequestHeader(request_api_key=key, request_api_version=version, correlation_id=1, client_id="c"), obj))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(frame) - 1))
            frame[i] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(frame)))
        return bytes(frame[:cut]) if draw(st.booleans()) else bytes(frame)

    return mutated()


@settings(FUZZ, max_examples=150)
@given(_mutated_valid_request())
def test_fuzz_mutated_requests(frame: bytes) -> None:
    try:
        decode_request(frame)
    except ProtocolError as exc:
        assert str(exc)
