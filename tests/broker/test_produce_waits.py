"""How a produce answer waits: for a flush.messages flush without a time limit, as Kafka flushes
before it answers; for replication up to the request's timeout."""

from __future__ import annotations

import asyncio

from kproto import ErrorCode
from kproto.messages import ProduceResponse

from kbroker.handlers.produce import completed


def answer() -> tuple[ProduceResponse, ProduceResponse.PartitionProduceResponse]:
    partition = ProduceResponse.PartitionProduceResponse(index=0, error_code=ErrorCode.NONE, base_offset=7)
    return ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="t", partition_responses=[partition])]), partition


def test_a_flush_slower_than_the_request_timeout_is_still_waited_for():
    async def run():
        response, partition = answer()
        flushed = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, flushed.set_result, ErrorCode.NONE)
        await completed(response, [(partition, flushed)], [], timeout_ms=1)
        return partition
    partition = asyncio.run(run())
    assert (partition.error_code, partition.base_offset) == (ErrorCode.NONE, 7)


def test_a_failed_flush_answers_a_storage_error():
    async def run():
        response, partition = answer()
        flushed = asyncio.get_running_loop().create_future()
        flushed.set_result(ErrorCode.KAFKA_STORAGE_ERROR)
        await completed(response, [(partition, flushed)], [], timeout_ms=1000)
        return partition
    partition = asyncio.run(run())
    assert (partition.error_code, partition.base_offset) == (ErrorCode.KAFKA_STORAGE_ERROR, -1)


def test_replication_is_waited_for_up_to_the_timeout_after_the_flush():
    async def run():
        response, partition = answer()
        loop = asyncio.get_running_loop()
        flushed, replicated = loop.create_future(), loop.create_future()
        loop.call_later(0.05, flushed.set_result, ErrorCode.NONE)
        await completed(response, [(partition, flushed)], [(partition, replicated)], timeout_ms=10)
        return partition, replicated
    partition, replicated = asyncio.run(run())
    assert partition.error_code == ErrorCode.REQUEST_TIMED_OUT and replicated.cancelled()
