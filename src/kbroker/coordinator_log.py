"""What the group and transaction coordinators share about their internal topic partitions.

Both keep their records on the node's own partition logs, reached through `InternalTopicHost`.
A coordinator reads a partition back whole when it starts serving it. Kafka's coordinators
append to `__consumer_offsets` and `__transaction_state` with acks=-1, so that what a client was
told survives the leader's failure: in a cluster the answer waits for the in-sync replicas (or
the timeout), and a failed wait becomes the coordinator's error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator, Protocol, TypeVar

from kproto import ErrorCode
from kproto.records import decode_batches

if TYPE_CHECKING:
    from kproto.records import Record
    from kproto.records.batch import Batch

    from kbroker.cluster.topics import TopicRegistry
    from kbroker.config import BrokerConfig
    from kbroker.log import PartitionLog
    from kbroker.txn.producer_state import ProducerStates

Response = TypeVar("Response")

# Kafka's answers to a client whose coordinator write failed to replicate
REPLICATION_ERRORS = {
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
}


class InternalTopicHost(Protocol):
    """What a coordinator's log asks of the node: its topic, created on first use, and appends to
    it as the partition's leader, with the acks=all wait for them."""

    config: BrokerConfig
    topics: TopicRegistry

    def internal_topic_partitions(self, name: str, partitions: int, segment_bytes: int) -> int: ...

    def append_internal(self, topic: str, partition: int, batch: bytearray) -> int: ...

    def partition_log(self, topic: str, partition: int) -> PartitionLog | None: ...

    def producer_states(self, plog: PartitionLog) -> ProducerStates: ...

    def replication_waiter(self, topic: str, partition: int, end_offset: int) -> asyncio.Future | None: ...


def stored_batches(plog: PartitionLog | None, chunk_bytes: int) -> Iterator[Batch]:
    """Every batch of the partition, from its log start, read `chunk_bytes` at a time (a larger
    batch still comes whole); nothing for a partition this broker does not have."""
    offset = plog.log_start_offset if plog else 0
    while plog is not None and offset < plog.log_end_offset:
        batches = decode_batches(plog.read(offset, chunk_bytes))
        if not batches:
            return
        yield from batches
        offset = batches[-1].header.next_offset


def stored_records(plog: PartitionLog | None, chunk_bytes: int) -> Iterator[Record]:
    """The data records of the partition from its log start (transaction markers left out)."""
    start = plog.log_start_offset if plog else 0
    for batch in stored_batches(plog, chunk_bytes):
        for record in batch.records if not batch.header.is_control else ():
            if record.offset >= start:
                yield record


def replicated(waiter: asyncio.Future | None, timeout_ms: int) -> Awaitable[ErrorCode] | None:
    """An awaitable of NONE once the write `waiter` stands for reached the in-sync replicas, else
    of the client's error; None when there is nothing to wait for (a single node)."""
    if waiter is None:
        return None

    async def outcome() -> ErrorCode:
        try:
            error = await asyncio.wait_for(waiter, timeout_ms / 1000)
        except asyncio.TimeoutError:
            error = ErrorCode.REQUEST_TIMED_OUT
        return REPLICATION_ERRORS.get(error, error)

    return outcome()


def answer_once_replicated(waiting: Awaitable[ErrorCode] | None,
                           build: Callable[[ErrorCode], Response]) -> Response | Awaitable[Response]:
    """`build(NONE)` at once when nothing waits, else `build` of the wait's outcome once it ends."""
    if waiting is None:
        return build(ErrorCode.NONE)

    async def answer() -> Response:
        return build(await waiting)

    return answer()
