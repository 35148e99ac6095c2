"""Produce (key 0), v0-11: append producers' record sets to partition logs.

v0-2 carry legacy message sets (converted to v2 batches before they are stored), v3+ exactly one
RecordBatch of magic 2; v2 added the log append time to the answer, v5 the log start offset, v8
per-batch record errors and an error message. acks=0 gets no response at all. A request Kafka
refuses as a whole for its transactional batches (`txn/produce_checks.py`) appends nothing.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import ProduceRequest, ProduceResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.txn.produce_checks import Refusal, produce_refusal

PRODUCE = 0
VALID_ACKS = (0, 1, -1)


def partition_result(ctx: RequestContext, topic: str, data: ProduceRequest.PartitionProduceData,
                     acks: int, transactional_id: str | None) -> ProduceResponse.PartitionProduceResponse:
    if acks not in VALID_ACKS:
        return ProduceResponse.PartitionProduceResponse(index=data.index, error_code=ErrorCode.INVALID_REQUIRED_ACKS)
    outcome = ctx.broker.append(topic, data.index, data.records, ctx.api_version, transactional_id)
    return ProduceResponse.PartitionProduceResponse(
        index=data.index,
        error_code=outcome.error,
        base_offset=outcome.base_offset,
        log_append_time_ms=outcome.log_append_time,
        log_start_offset=outcome.log_start_offset,
        record_errors=[ProduceResponse.BatchIndexAndErrorMessage(batch_index=index, batch_index_error_message=why)
                       for index, why in outcome.record_errors],
        error_message=outcome.message,
    )


def refused_result(data: ProduceRequest.PartitionProduceData,
                   refusal: Refusal) -> ProduceResponse.PartitionProduceResponse:
    return ProduceResponse.PartitionProduceResponse(index=data.index, error_code=refusal.error, base_offset=-1,
                                                    log_append_time_ms=-1, log_start_offset=-1,
                                                    error_message=refusal.message)


@handles(PRODUCE, 0, 11)
def produce(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | None:
    refusal = produce_refusal(request, ctx.api_version, ctx.broker.partition_log)
    responses = [
        ProduceResponse.TopicProduceResponse(
            name=topic.name,
            partition_responses=[refused_result(data, refusal) if refusal else
                                 partition_result(ctx, topic.name, data, request.acks, request.transactional_id)
                                 for data in topic.partition_data],
        )
        for topic in request.topic_data
    ]
    if request.acks == 0:
        # The producer reads no answer; like Kafka, close the connection so that it notices a failure.
        ctx.close_connection = any(
            p.error_code != ErrorCode.NONE for t in responses for p in t.partition_responses
        )
        return None
    return ProduceResponse(responses=responses)
