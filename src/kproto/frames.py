"""Split a byte stream into size-prefixed frames, without doing any I/O.

Feed it bytes as they arrive and take whole frames out, in the manner of h11:

    reader = FrameReader(max_size=100 * 1024 * 1024)
    reader.feed(data)
    while (frame := reader.next_frame()) is not None:
        handle(frame)

A declared size above `max_size` raises `ProtocolError` before any of that frame is buffered.
"""

from __future__ import annotations

import struct

from kproto.exceptions import ProtocolError

SIZE = struct.Struct(">i")

#: Kafka's default for socket.request.max.bytes: 100 MiB.
DEFAULT_MAX_FRAME = 104857600


class FrameReader:
    """Accumulates bytes and yields complete frames (without their 4-byte size)."""

    __slots__ = ("_buffer", "_max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None when more bytes are needed."""
        buf = self._buffer
        if len(buf) < 4:
            return None
        size = SIZE.unpack_from(buf, 0)[0]
        if size < 0 or size > self._max_size:
            raise ProtocolError(f"frame size {size} is outside 0..{self._max_size}")
        end = 4 + size
        if len(buf) < end:
            return None
        with memoryview(buf) as view:
            frame = bytes(view[4:end])  # one copy; slicing the bytearray first would make two
        del buf[:end]
        return frame


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its size."""
    return SIZE.pack(len(payload)) + payload
