"""Walking the batches of a `.log` file from a byte position, reading it in chunks."""

from __future__ import annotations

import os
from typing import Iterator

from kproto.exceptions import ProtocolError
from kproto.records.header import HEADER_SIZE, BatchHeader, batch_crc_ok, read_batch_header

LOOKUP_CHUNK = 16 * 1024  # an index interval (4 KiB by default) plus a few batches, in one read
RECOVERY_CHUNK = 1024 * 1024  # recovery reads every byte; large reads keep syscalls few


class CorruptBatchError(Exception):
    """The bytes at `position` are not a whole, valid batch: a torn write or damage."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"at byte {position}: {reason}")
        self.position = position
        self.reason = reason


def iter_file_batches(fd: int, start: int, end: int, *, check_crc: bool = False,
                      chunk: int = LOOKUP_CHUNK) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) for each batch in [start, end) of the file.

    Raises CorruptBatchError at the first batch that is cut short, has a bad header, or (with
    `check_crc`) a CRC-32C that does not match its bytes.
    """
    pos = start
    buf = b""
    buf_start = start
    while pos < end:
        rel = pos - buf_start
        if len(buf) - rel < HEADER_SIZE:
            buf, buf_start, rel = os.pread(fd, min(max(chunk, HEADER_SIZE), end - pos), pos), pos, 0
            if len(buf) < HEADER_SIZE:
                raise CorruptBatchError(pos, f"{end - pos} bytes left, less than a batch header")
        try:
            header = read_batch_header(buf, rel)
        except ProtocolError as exc:
            raise CorruptBatchError(pos, str(exc)) from None
        if pos + header.size > end:
            raise CorruptBatchError(pos, f"batch of {header.size} bytes runs {pos + header.size - end} bytes past the end")
        if check_crc:
            if rel + header.size > len(buf):
                buf, buf_start, rel = os.pread(fd, min(max(chunk, header.size), end - pos), pos), pos, 0
            if not batch_crc_ok(buf, rel, header):
                raise CorruptBatchError(pos, "CRC-32C does not match the batch's bytes")
        yield pos, header
        pos += header.size


def read_exactly(fd: int, size: int, position: int) -> bytes:
    """pread that insists on `size` bytes (a short read means the file shrank under us)."""
    data = os.pread(fd, size, position)
    if len(data) != size:
        raise OSError(f"short read: {len(data)} of {size} bytes at {position}")
    return data
