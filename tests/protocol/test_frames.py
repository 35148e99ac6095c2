"""FrameReader: whole frames out of a byte stream however it is split, oversize frames refused early."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kproto import FrameReader, ProtocolError, decode_request, encode_request
from kproto.frames import FrameReceiver, frame
from kproto.messages import ApiVersionsRequest, MetadataRequest
from kproto.schema.headers import RequestHeader

pytestmark = pytest.mark.timeout(60)


def stream() -> tuple[bytes, list[bytes]]:
    payloads = [
        encode_request(RequestHeader(request_api_key=18, request_api_version=3, correlation_id=1, client_id="c"),
                       ApiVersionsRequest(client_software_name="kproto", client_software_version="1")),
        b"",  # a zero-length frame is a frame
        encode_request(RequestHeader(request_api_key=3, request_api_version=12, correlation_id=2, client_id=None),
                       MetadataRequest(topics=None)),
        bytes(range(256)) * 3,
    ]
    return b"".join(frame(p) for p in payloads), payloads


def drain(reader: FrameReader | FrameReceiver) -> list[bytes]:
    out = []
    while (f := reader.next_frame()) is not None:
        out.append(f)
    return out


def test_split_at_every_byte_boundary() -> None:
    data, payloads = stream()
    for cut in range(len(data) + 1):
        reader = FrameReader()
        reader.feed(data[:cut])
        got = drain(reader)
        reader.feed(data[cut:])
        got += drain(reader)
        assert got == payloads, cut
        assert reader.buffered == 0


def test_one_byte_at_a_time() -> None:
    data, payloads = stream()
    reader = FrameReader()
    got = []
    for i in range(len(data)):
        reader.feed(data[i:i + 1])
        got += drain(reader)
    assert got == payloads
    assert decode_request(got[0])[1].client_software_name == "kproto"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2000), max_size=8))
def test_any_split_into_pieces(cuts: list[int]) -> None:
    data, payloads = stream()
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    reader = FrameReader()
    got = []
    for a, b in zip(points, points[1:]):
        reader.feed(data[a:b])
        got += drain(reader)
    assert got == payloads


def test_oversize_frame_refused_before_buffering() -> None:
    reader = FrameReader(max_size=1024)
    reader.feed(struct.pack(">i", 1025))
    with pytest.raises(ProtocolError, match="1025"):
        reader.next_frame()
    reader = FrameReader(max_size=1024)
    reader.feed(struct.pack(">i", 1024) + b"x" * 10)
    assert reader.next_frame() is None  # within the limit: waits for the rest


def test_default_limit_is_kafkas_and_huge_sizes_are_refused_at_once() -> None:
    reader = FrameReader()
    reader.feed(struct.pack(">i", 0x7FFFFFFF))
    with pytest.raises(ProtocolError):
        reader.next_frame()


def test_negative_size_refused() -> None:
    reader = FrameReader()
    reader.feed(struct.pack(">i", -1))
    with pytest.raises(ProtocolError):
        reader.next_frame()


def test_partial_size_prefix_waits() -> None:
    reader = FrameReader()
    reader.feed(b"\x00\x00")
    assert reader.next_frame() is None
    reader.feed(b"\x00\x01z")
    assert reader.next_frame() == b"z"


def test_large_frames_across_many_pieces() -> None:
    payloads = [bytes(range(256)) * 4096, b"after", bytes(300_000)]
    data = b"".join(frame(p) for p in payloads)
    second = 4 + len(payloads[0])  # where the second frame's size begins: cut inside it
    cuts = [*range(0, second, 65536), second + 2, *range(second + 2, len(data), 65536), len(data)]
    reader = FrameReader()
    got: list[bytes] = []
    for a, b in zip(cuts, cuts[1:]):
        reader.feed(data[a:b])
        got += drain(reader)
        assert reader.buffered == b - sum(len(p) + 4 for p in got)
    assert got == payloads
    assert reader.buffered == 0


# ---------------------------------------------------------------- FrameReceiver (buffered reads)


def receive(receiver: FrameReceiver, data: bytes, read_size: int = 1 << 30) -> None:
    """What asyncio's BufferedProtocol transport does: fill each buffer handed out, up to `read_size`."""
    while data:
        room = receiver.get_buffer()
        assert len(room) > 0
        count = min(len(room), read_size, len(data))
        room[:count] = data[:count]
        del room
        receiver.received(count)
        data = data[count:]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 7, 3000, FrameReceiver.ROOM, FrameReceiver.ROOM + 1, 200_000]),
                min_size=1, max_size=8),
       st.sampled_from([1, 3, 4, 1000, 65536, 1 << 20]), st.integers(1, 5))
def test_receiver_gives_every_frame_however_reads_fall(sizes: list[int], read_size: int, drain_every: int) -> None:
    payloads = [bytes([i]) * size for i, size in enumerate(sizes)]
    data = b"".join(frame(p) for p in payloads)
    receiver = FrameReceiver()
    got: list[bytes | bytearray] = []
    for number, start in enumerate(range(0, len(data), read_size)):
        receive(receiver, data[start:start + read_size])
        if number % drain_every == 0:
            got += drain(receiver)
    got += drain(receiver)
    assert got == payloads
    assert [type(f) for f in got] == [bytearray if len(p) > FrameReceiver.ROOM else bytes for p in payloads]
    assert receiver.buffered == 0


def test_receiver_reads_a_large_frame_in_place() -> None:
    """After its header, a large frame's bytes are received straight into the buffer it comes out as."""
    payload = bytes(range(256)) * 1000
    data = frame(payload) + frame(b"next")
    receiver = FrameReceiver()
    receive(receiver, data[:1000])
    assert receiver.next_frame() is None
    room = receiver.get_buffer()
    assert len(room) == len(payload) - 996  # exactly the rest of the frame: nothing of the next one
    room[:] = data[1000:4 + len(payload)]
    receiver.received(len(room))
    big = receiver.next_frame()
    assert big == payload and room.obj is big
    del room
    receive(receiver, data[4 + len(payload):])
    assert receiver.next_frame() == b"next" and receiver.buffered == 0


def test_receiver_refuses_an_oversize_frame_before_receiving_it() -> None:
    receiver = FrameReceiver(max_size=1024)
    receive(receiver, struct.pack(">i", 1025))
    with pytest.raises(ProtocolError, match="1025"):
        receiver.next_frame()


def test_receiver_holds_a_frame_beyond_the_limit_until_it_rises() -> None:
    """A connection raises its limit once its client authenticates; a request sent right behind
    the authentication, in the same read, is held to the new limit, not the old one."""
    receiver = FrameReceiver(max_size=10)
    receive(receiver, frame(b"auth") + frame(b"x" * 100) + frame(b"y" * 70_000) + frame(b"z"))
    assert receiver.next_frame() == b"auth"
    receiver.max_size = 100_000
    assert drain(receiver) == [b"x" * 100, b"y" * 70_000, b"z"]
    assert receiver.buffered == 0


def test_receivers_share_one_room_and_an_idle_one_keeps_nothing() -> None:
    """Every receiver of a thread reads small frames into the same room; only a frame's
    received start is kept between reads."""
    first, second = FrameReceiver(), FrameReceiver()
    whole = frame(b"a" * 5000)
    receive(first, whole[:3000])
    receive(second, frame(b"b" * 10))
    assert first.get_buffer().obj is second.get_buffer().obj
    assert second.buffered == 14 and drain(second) == [b"b" * 10] and second.buffered == 0
    receive(first, whole[3000:])
    assert drain(first) == [b"a" * 5000]
