"""Produce (key 0), v0-11: append producers' record sets to partition logs.

v0-2 carry legacy message sets (converted to v2 batches before they are stored), v3+ exactly one
RecordBatch of magic 2; v2 added the log append time to the answer, v5 the log start offset, v8
per-batch record errors and an error message. acks=0 gets no response at all. A request Kafka
refuses as a whole for its transactional batches (`txn/produce_checks.py`) appends nothing.

With an authorizer, a request with transactional batches needs WRITE on its transactional id (else
every partition is answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and each topic WRITE (else its
partitions are answered TOPIC_AUTHORIZATION_FAILED and nothing of them is appended).

In a cluster, only a partition's leader appends (others answer NOT_LEADER_OR_FOLLOWER), acks=all
is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than `min.insync.replicas`, and its
answer waits, up to the request's timeout, until every in-sync replica has the batch. An append
that reaches the topic's `flush.messages` is answered once the log flush thread has fsynced it
(KAFKA_STORAGE_ERROR if that failed), however long that takes, as Kafka answers it after its flush.

A producer over its `producer_byte_rate` still has its records appended; the answer says for how
long it is throttled (and the connection reads nothing more from it for that long).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable

from kproto import ErrorCode
from kproto.messages import ProduceRequest, ProduceResponse

from kbroker.handlers.authorized_operations import Op, Resource, allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.security.quotas import PRODUCE as PRODUCE_RATE, clock
from kbroker.txn.produce_checks import Refusal, first_batch_transactional, produce_refusal

PRODUCE = 0
VALID_ACKS = (0, 1, -1)
TOPIC_REFUSED = Refusal(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
TRANSACTIONAL_ID_REFUSED = Refusal(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)


def partition_result(ctx: RequestContext, topic: str, data: ProduceRequest.PartitionProduceData,
                     acks: int, transactional_id: str | None) -> ProduceResponse.PartitionProduceResponse:
    if acks not in VALID_ACKS:
        return ProduceResponse.PartitionProduceResponse(index=data.index, error_code=ErrorCode.INVALID_REQUIRED_ACKS)
    outcome = ctx.broker.append(topic, data.index, data.records, ctx.api_version, transactional_id, acks)
    result = ProduceResponse.PartitionProduceResponse(
        index=data.index,
        error_code=outcome.error,
        base_offset=outcome.base_offset,
        log_append_time_ms=outcome.log_append_time,
        log_start_offset=outcome.log_start_offset,
        record_errors=[ProduceResponse.BatchIndexAndErrorMessage(batch_index=index, batch_index_error_message=why)
                       for index, why in outcome.record_errors],
        error_message=outcome.message,
    )
    if outcome.error == ErrorCode.NOT_LEADER_OR_FOLLOWER and ctx.api_version >= 10:  # KIP-951
        result.current_leader.leader_id, result.current_leader.leader_epoch = ctx.broker.current_leader(
            topic, data.index)
    if outcome.durable is not None:
        ctx.flush_waits.append((result, outcome.durable))
    if outcome.error == ErrorCode.NONE and acks == -1:
        waiter = ctx.broker.replication_waiter(topic, data.index, outcome.end_offset)
        if waiter is not None:
            ctx.replication_waits.append((result, waiter))
    return result


def refused_result(data: ProduceRequest.PartitionProduceData,
                   refusal: Refusal) -> ProduceResponse.PartitionProduceResponse:
    return ProduceResponse.PartitionProduceResponse(index=data.index, error_code=refusal.error, base_offset=-1,
                                                    log_append_time_ms=-1, log_start_offset=-1,
                                                    error_message=refusal.message)


Waits = list[tuple[ProduceResponse.PartitionProduceResponse, asyncio.Future]]


async def completed(response: ProduceResponse, flushes: Waits, replications: Waits, timeout_ms: int) -> ProduceResponse:
    """The answer once every waiting partition is on disk (`flush.messages`) and then replicated to
    its ISR (acks=all in a cluster). The request's timeout bounds only the replication: Kafka's
    append flushes before its answer is even put off, whatever the timeout."""
    if flushes:
        await asyncio.wait([future for _, future in flushes])
    if replications:
        await asyncio.wait([future for _, future in replications], timeout=max(timeout_ms, 0) / 1000)
    for result, future in flushes + replications:
        error = future.result() if future.done() else ErrorCode.REQUEST_TIMED_OUT
        if not future.done():
            future.cancel()
        if error != ErrorCode.NONE:
            result.error_code = error
            result.error_message = None
            if error != ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
                result.base_offset = -1
    return response


def transactional_id_refusal(ctx: RequestContext, request: ProduceRequest) -> Refusal | None:
    """Transactional batches need WRITE on the request's transactional id, checked before anything else."""
    transactional_id = request.transactional_id
    if transactional_id is None or ctx.broker.authorizer is None \
            or allowed(ctx, Op.WRITE, Resource.TRANSACTIONAL_ID, transactional_id):
        return None
    transactional = any(first_batch_transactional(data.records) for topic in request.topic_data
                        for data in topic.partition_data)
    return TRANSACTIONAL_ID_REFUSED if transactional else None


@handles(PRODUCE, 0, 11)
def produce(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | Awaitable[ProduceResponse] | None:
    if ctx.broker.client_quotas.enabled:
        ctx.throttle_time_ms = ctx.broker.client_quotas.record(PRODUCE_RATE, ctx.principal, ctx.client_id, ctx.size,
                                                               clock())
    refusal = transactional_id_refusal(ctx, request) or produce_refusal(request, ctx.api_version,
                                                                        ctx.broker.partition_log)
    responses = []
    for topic in request.topic_data:
        refused = refusal or (None if allowed(ctx, Op.WRITE, Resource.TOPIC, topic.name) else TOPIC_REFUSED)
        responses.append(ProduceResponse.TopicProduceResponse(
            name=topic.name,
            partition_responses=[refused_result(data, refused) if refused else
                                 partition_result(ctx, topic.name, data, request.acks, request.transactional_id)
                                 for data in topic.partition_data],
        ))
    if request.acks == 0:
        # The producer reads no answer; like Kafka, close the connection so that it notices a failure.
        ctx.close_connection = any(
            p.error_code != ErrorCode.NONE for t in responses for p in t.partition_responses
        )
        return None
    response = ProduceResponse(responses=responses)
    if ctx.api_version >= 10:
        leaders = {p.current_leader.leader_id for t in responses for p in t.partition_responses
                   if p.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER}
        response.node_endpoints = [ProduceResponse.NodeEndpoint(node_id=node_id, host=host, port=port, rack=rack)
                                   for node_id, host, port, rack in ctx.broker.endpoints(leaders, ctx.listener)] if leaders else []
    if ctx.flush_waits or ctx.replication_waits:
        return completed(response, ctx.flush_waits, ctx.replication_waits, request.timeout_ms)
    return response
