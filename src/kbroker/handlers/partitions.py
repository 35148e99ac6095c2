"""CreatePartitions (key 37, v0-3) and DeleteRecords (key 21, v0-2).

CreatePartitions v2 became flexible; v3 is the same shape. DeleteRecords moves a partition's log
start offset forward (offset -1 means the high watermark); v2 became flexible. With an authorizer,
adding partitions needs ALTER on the topic and deleting records DELETE (TOPIC_AUTHORIZATION_FAILED).
The partitions added count against a `controller_mutation_rate` quota as in CreateTopics
(topics.py), refused with THROTTLING_QUOTA_EXCEEDED from v3.
"""

from __future__ import annotations

from collections import Counter

from kproto import ErrorCode
from kproto.messages import CreatePartitionsRequest, CreatePartitionsResponse, DeleteRecordsRequest, DeleteRecordsResponse

from kbroker.handlers.authorized_operations import Op, Resource, allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.handlers.topics import mutation_quota

DELETE_RECORDS = 21
CREATE_PARTITIONS = 37
HIGH_WATERMARK = -1
STRICT_CREATE_PARTITIONS = 3  # the first version a controller mutation quota may refuse


@handles(CREATE_PARTITIONS, 0, 3)
def create_partitions(ctx: RequestContext, request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    counts = Counter(topic.name for topic in request.topics)
    quota = mutation_quota(ctx, STRICT_CREATE_PARTITIONS)
    results = []
    for topic in request.topics:
        if counts[topic.name] > 1:
            error, message = ErrorCode.INVALID_REQUEST, "Duplicate topic in request."
        elif not allowed(ctx, Op.ALTER, Resource.TOPIC, topic.name):
            error, message = ErrorCode.TOPIC_AUTHORIZATION_FAILED, "The topic authorization is failed."
        else:
            assignments = [a.broker_ids for a in topic.assignments] if topic.assignments is not None else None
            error, message = ctx.broker.create_partitions(topic.name, topic.count, assignments, request.validate_only,
                                                          quota.admit)
        results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
            name=topic.name, error_code=error, error_message=message))
    ctx.throttle_time_ms = max(ctx.throttle_time_ms, quota.throttle_ms())
    return CreatePartitionsResponse(results=results)


def delete_before(ctx: RequestContext, topic: str, wanted: DeleteRecordsRequest.DeleteRecordsPartition
                  ) -> DeleteRecordsResponse.DeleteRecordsPartitionResult:
    result = DeleteRecordsResponse.DeleteRecordsPartitionResult(partition_index=wanted.partition_index, low_watermark=-1)
    if not allowed(ctx, Op.DELETE, Resource.TOPIC, topic):
        result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return result
    plog, result.error_code = ctx.broker.leader_log(topic, wanted.partition_index)
    if plog is None:
        return result
    offset = plog.high_watermark if wanted.offset == HIGH_WATERMARK else wanted.offset
    if offset < 0 or offset > plog.high_watermark:
        result.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
        return result
    if offset > plog.log_start_offset:
        plog.delete_records_before(offset)
    result.low_watermark = plog.log_start_offset
    return result


@handles(DELETE_RECORDS, 0, 2)
def delete_records(ctx: RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    return DeleteRecordsResponse(topics=[
        DeleteRecordsResponse.DeleteRecordsTopicResult(
            name=topic.name, partitions=[delete_before(ctx, topic.name, p) for p in topic.partitions])
        for topic in request.topics
    ])
