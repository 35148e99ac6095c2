"""Split a byte stream into size-prefixed frames, without doing any I/O.

Feed it bytes as they arrive and take whole frames out, in the manner of h11:

    reader = FrameReader(max_size=100 * 1024 * 1024)
    reader.feed(data)
    while (frame := reader.next_frame()) is not None:
        handle(frame)

A declared size above `max_size` raises `ProtocolError` before any of that frame is buffered.
"""

from __future__ import annotations

import itertools
import struct
import threading
from collections import deque

from kproto.exceptions import ProtocolError

SIZE = struct.Struct(">i")

#: Kafka's default for socket.request.max.bytes: 100 MiB.
DEFAULT_MAX_FRAME = 104857600


class FrameReader:
    """Accumulates bytes and yields complete frames (without their 4-byte size).

    The pieces fed are kept as they came, and each frame is copied out of them once: a large
    produce request arrives in many pieces, and gathering them into one buffer first would copy
    every byte twice.
    """

    __slots__ = ("_pieces", "_start", "_buffered", "_max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._pieces: deque[bytes] = deque()
        self._start = 0  # where the unread bytes begin in the first piece
        self._buffered = 0
        self._max_size = max_size

    def feed(self, data: bytes) -> None:
        if data:
            self._pieces.append(bytes(data))
            self._buffered += len(data)

    @property
    def max_size(self) -> int:
        """The largest frame accepted; a connection may lower it (before a client authenticates) and raise it again."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        self._max_size = value

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return self._buffered

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None when more bytes are needed."""
        if self._buffered < 4:
            return None
        size = SIZE.unpack(self._peek(4))[0]
        if size < 0 or size > self._max_size:
            raise ProtocolError(f"frame size {size} is outside 0..{self._max_size}")
        if self._buffered < 4 + size:
            return None
        self._take(4)
        return self._take(size)

    def _peek(self, n: int) -> bytes:
        """The next `n` bytes, left in place; all of them are buffered."""
        first = self._pieces[0]
        if len(first) - self._start >= n:
            return first[self._start:self._start + n]
        joined = first[self._start:]
        for piece in itertools.islice(self._pieces, 1, None):  # a size split between pieces: rare
            joined += piece[:n - len(joined)]
            if len(joined) == n:
                break
        return joined

    def _take(self, n: int) -> bytes:
        """Remove and return the next `n` bytes; all of them are buffered."""
        if not n:
            return b""
        self._buffered -= n
        first = self._pieces[0]
        stop = self._start + n
        if stop <= len(first):  # within one piece: a single slice (none at all for a whole piece)
            taken = first[self._start:stop]
            self._advance(stop, first)
            return taken
        parts = [memoryview(first)[self._start:]]
        left = stop - len(first)
        self._advance(len(first), first)
        while left:
            piece = self._pieces[0]
            used = min(left, len(piece))
            parts.append(memoryview(piece)[:used])
            left -= used
            self._advance(used, piece)
        return b"".join(parts)

    def _advance(self, stop: int, first: bytes) -> None:
        """Mark the first piece read up to `stop`, dropping it once read to its end."""
        if stop == len(first):
            self._pieces.popleft()
            self._start = 0
        else:
            self._start = stop


class _Rooms(threading.local):
    """Each thread's reception room, which all its FrameReceivers share."""

    room: bytearray | None = None


_ROOMS = _Rooms()


class FrameReceiver:
    """Whole frames out of a stream that is received into buffers it hands out, as asyncio's
    BufferedProtocol receives: no bytes object per read, and a large frame lands in place.

    Small frames are read into one room that every receiver of the thread shares: asyncio hands
    a buffer out, fills it and reports the count in one go, so no two receivers use it at once.
    The frames a read completes are copied out of it at once, and the start of one still coming
    is kept by the receiver until its next read: an idle connection holds no buffer. A frame
    larger than ROOM gets a buffer of its own, sized by its header, and the reads after that
    header go straight into it: a 1 MB produce request is received into the bytearray its
    records are then checked and stamped in, with no copy in between. Big frames come out as
    that bytearray, small ones as bytes.

    A size above `max_size` is refused when `next_frame` reaches it, not when it arrives: a
    connection raises its limit once a client authenticates, and a request sent right behind
    the authentication is held to the new limit.
    """

    __slots__ = ("_partial", "_held", "_lent", "_big", "_filled", "_ready", "_ready_bytes", "max_size")

    #: Frames above this size are received in place; the shared room holds twice as much.
    ROOM = 64 * 1024

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._partial = b""  # the received start of the next frames, not yet split
        self._held = False  # whether the partial bytes begin with a size beyond the limit
        self._lent: bytearray | None = None  # the room handed out by the last get_buffer
        self._big: bytearray | None = None  # a large frame being received in place
        self._filled = 0  # how much of it has come
        self._ready: deque[bytes | bytearray] = deque()  # complete frames not yet taken
        self._ready_bytes = 0
        #: The largest frame accepted; a connection may lower it (before a client authenticates).
        self.max_size = max_size

    @property
    def buffered(self) -> int:
        """Bytes received (size prefixes too) but not yet returned as a frame."""
        return self._ready_bytes + len(self._partial) + (4 + self._filled if self._big is not None else 0)

    def get_buffer(self) -> memoryview:
        """Where the next bytes received should go (never empty)."""
        if self._big is not None:
            return memoryview(self._big)[self._filled:]
        kept = len(self._partial)
        if kept > self.ROOM + 4:  # bytes held behind a size not yet allowed: a room of its own
            room = bytearray(kept + self.ROOM)
        else:
            room = _ROOMS.room
            if room is None:
                room = _ROOMS.room = bytearray(2 * self.ROOM)
        room[:kept] = self._partial
        self._lent = room
        return memoryview(room)[kept:]

    def received(self, count: int) -> None:
        """`count` bytes have been written at the start of the last buffer handed out."""
        if self._big is None:
            self._split(memoryview(self._lent)[:len(self._partial) + count])
            self._lent = None
            return
        self._filled += count
        if self._filled == len(self._big):
            self._ready.append(self._big)
            self._ready_bytes += 4 + self._filled
            self._big, self._filled = None, 0

    def next_frame(self) -> bytes | bytearray | None:
        """The next complete frame, or None when more bytes are needed."""
        if self._held and not self._ready:  # a size the limit refused: it may have risen since
            self._split(memoryview(self._partial))
            if self._held:
                size = SIZE.unpack_from(self._partial)[0]
                raise ProtocolError(f"frame size {size} is outside 0..{self.max_size}")
        if not self._ready:
            return None
        ready = self._ready.popleft()
        self._ready_bytes -= 4 + len(ready)
        return ready

    def _split(self, data: memoryview) -> None:
        """Take the complete frames out of `data`, start receiving a large one in place, and keep
        the rest; stop at a size beyond the limit."""
        pos, end = 0, len(data)
        self._held = False
        while end - pos >= 4:
            size = SIZE.unpack_from(data, pos)[0]
            if size < 0 or size > self.max_size:
                self._held = True
                break
            begin = pos + 4
            if size > self.ROOM:
                big = bytearray(size)
                pos = min(end, begin + size)
                big[:pos - begin] = data[begin:pos]
                if pos - begin < size:
                    self._big, self._filled = big, pos - begin
                    break
                self._ready.append(big)
            elif end - begin >= size:
                pos = begin + size
                self._ready.append(bytes(data[begin:pos]))
            else:
                break
            self._ready_bytes += 4 + size
        self._partial = bytes(data[pos:end])


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its size."""
    return SIZE.pack(len(payload)) + payload
