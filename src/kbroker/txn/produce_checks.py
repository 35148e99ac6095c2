"""Checks Kafka makes on a whole Produce request with transactional batches, before any partition
is appended; a refused request gets the same error for every partition and appends nothing.

- Transactional batches need the request's transactional id: without one Kafka's broker answers
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED (its check that the id may write fails for no id). It
  looks at the first batch of each partition.
- The transactional batches of a request must all come from one producer, id and epoch (Kafka
  3.8+, ReplicaManager): otherwise INVALID_PRODUCER_ID_MAPPING. Kafka counts the partitions it
  would append to: those it hosts whose records pass its per-request checks (from Produce v3,
  exactly one batch of magic 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kproto import ErrorCode, ProtocolError
from kproto.messages import ProduceRequest
from kproto.records.header import (
    ATTRIBUTES_OFFSET,
    MAGIC_OFFSET,
    TRANSACTIONAL_BIT,
    iter_batch_headers,
    read_batch_header,
)

ONE_BATCH_VERSION = 3  # from Produce v3 a partition's records are exactly one v2 batch
ATTRIBUTES_LOW_BYTE = ATTRIBUTES_OFFSET + 1  # the int16's low byte holds the transactional bit
MORE_THAN_ONE_PRODUCER = "Transactional records contained more than one producer ID"


@dataclass(frozen=True, slots=True)
class Refusal:
    error: ErrorCode
    message: str | None = None


def first_batch_transactional(records: bytes | None) -> bool | None:
    """Whether the first batch is transactional; None when the records do not start with a v2 batch.
    Read from two bytes, since this runs for every partition of every Produce."""
    if records is None or len(records) <= ATTRIBUTES_LOW_BYTE or records[MAGIC_OFFSET] < 2:
        return None
    return bool(records[ATTRIBUTES_LOW_BYTE] & TRANSACTIONAL_BIT)


def transactional_producers(records: bytes, produce_version: int) -> set[tuple[int, int]]:
    """(producer id, epoch) of the transactional batches of records that would be appended; the
    others are refused when their partition is appended (corrupt, or not exactly one batch)."""
    try:
        if produce_version >= ONE_BATCH_VERSION:
            header = read_batch_header(records)
            headers = [header] if header.size == len(records) else []
        else:
            headers = [header for _, header in iter_batch_headers(records)]
    except ProtocolError:
        return set()
    return {(h.producer_id, h.producer_epoch) for h in headers if h.is_transactional and h.producer_id >= 0}


def produce_refusal(request: ProduceRequest, produce_version: int,
                    hosted: Callable[[str, int], object | None]) -> Refusal | None:
    """Kafka's refusal of the whole request, or None; `hosted(topic, partition)` is None for a
    partition this broker does not have. The missing transactional id is refused first, so the
    batch headers are read only for a request that has one."""
    producers: set[tuple[int, int]] = set()
    for topic in request.topic_data:
        for data in topic.partition_data:
            first = first_batch_transactional(data.records)
            if first is None or (not first and produce_version >= ONE_BATCH_VERSION):
                continue  # no transactional batch in it
            if first and request.transactional_id is None:
                return Refusal(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            if hosted(topic.name, data.index) is not None:
                producers |= transactional_producers(data.records, produce_version)
    if len(producers) > 1:
        return Refusal(ErrorCode.INVALID_PRODUCER_ID_MAPPING, MORE_THAN_ONE_PRODUCER)
    return None
