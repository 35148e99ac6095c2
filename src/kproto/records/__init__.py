"""Record batches (magic 2), legacy message sets (magic 0 and 1) and control records.

Read and build whole batches with `decode_batch` / `build_batch`; on the broker's hot path,
check and stamp a batch's bytes in place with `validate_batch` (or `check_batch` and
`record_heads` where the records' keys or timestamps matter), `set_base_offset`,
`set_partition_leader_epoch` and `set_log_append_time`. Old clients' message sets convert up
with `message_set_to_batch` and down with `batches_to_message_set`.
"""

from kproto.records.batch import (
    NO_PARTITION_LEADER_EPOCH,
    NO_TIMESTAMP,
    Batch,
    build_batch,
    decode_batch,
    decode_batches,
    recompressed,
)
from kproto.records.control import (
    ControlType,
    EndTxnMarker,
    build_end_txn_marker,
    read_control_type,
    read_end_txn_marker,
)
from kproto.records.header import (
    BatchHeader,
    HEADER_SIZE,
    LOG_OVERHEAD,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    batch_crc_ok,
    iter_batch_headers,
    read_batch_header,
)
from kproto.records.inplace import (
    check_batch,
    record_heads,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batch,
    writable,
)
from kproto.records.legacy import (
    batches_to_message_set,
    build_message_set,
    decode_message_set,
    message_set_to_batch,
)
from kproto.records.record import Header, Record

__all__ = [
    "Batch",
    "BatchHeader",
    "ControlType",
    "EndTxnMarker",
    "HEADER_SIZE",
    "Header",
    "LOG_OVERHEAD",
    "NO_PARTITION_LEADER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "Record",
    "batch_crc_ok",
    "batches_to_message_set",
    "build_batch",
    "build_end_txn_marker",
    "build_message_set",
    "check_batch",
    "decode_batch",
    "decode_batches",
    "decode_message_set",
    "iter_batch_headers",
    "message_set_to_batch",
    "read_batch_header",
    "read_control_type",
    "read_end_txn_marker",
    "recompressed",
    "record_heads",
    "set_base_offset",
    "set_partition_leader_epoch",
    "set_log_append_time",
    "validate_batch",
    "writable",
]
