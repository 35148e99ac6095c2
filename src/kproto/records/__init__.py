"""Record batches (magic 2), legacy message sets (magic 0 and 1) and control records."""

from kproto.records.header import (
    BatchHeader,
    HEADER_SIZE,
    LOG_OVERHEAD,
    batch_crc_ok,
    iter_batch_headers,
    read_batch_header,
)

__all__ = [
    "BatchHeader",
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "batch_crc_ok",
    "iter_batch_headers",
    "read_batch_header",
]
