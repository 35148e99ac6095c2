"""ListOffsets (key 2), v0-10: offsets by timestamp, and the special earliest / latest / max-timestamp.

v0 answers with a list of old-style offsets; v1 one offset and its timestamp; v2 added the
isolation level (latest means the last stable offset for read_committed); v4 leader epochs (the
epoch of the batch at the offset found, and the client's current epoch fenced as in Fetch); v7
MAX_TIMESTAMP (-3); v8 EARLIEST_LOCAL (-4); v9 LATEST_TIERED (-5).
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import ListOffsetsRequest, ListOffsetsResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.leader_epochs import fence_error
from kbroker.handlers.registry import handles

LIST_OFFSETS = 2
LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5
READ_COMMITTED = 1


def lookup(ctx: RequestContext, topic: str, wanted: ListOffsetsRequest.ListOffsetsPartition,
           committed_only: bool) -> ListOffsetsResponse.ListOffsetsPartitionResponse:
    result = ListOffsetsResponse.ListOffsetsPartitionResponse(partition_index=wanted.partition_index)
    log, result.error_code = ctx.broker.leader_log(topic, wanted.partition_index)
    if log is None:
        return result
    result.error_code = fence_error(log, wanted.current_leader_epoch)
    if result.error_code:
        return result
    ts = wanted.timestamp
    offset, timestamp = -1, -1
    if ts == LATEST:
        offset = ctx.broker.last_stable_offset(log) if committed_only else log.high_watermark
    elif ts in (EARLIEST, EARLIEST_LOCAL):
        offset = log.log_start_offset
    elif ts == MAX_TIMESTAMP:
        found = log.max_timestamp_offset()
        if found is not None:
            offset, timestamp = found
    elif ts == LATEST_TIERED:
        pass  # no tiered storage: nothing has been tiered
    elif ts < 0:
        result.error_code = ErrorCode.INVALID_REQUEST
        return result
    else:
        found = log.offset_for_timestamp(ts)
        if found is not None:
            offset, timestamp = found
            if committed_only and offset >= ctx.broker.last_stable_offset(log):
                offset, timestamp = -1, -1
    result.offset = offset
    result.timestamp = timestamp
    if ctx.api_version >= 4 and offset >= 0:
        result.leader_epoch = log.leader_epochs.epoch_for_offset(offset)
    if ctx.api_version == 0:
        result.old_style_offsets = [offset] if offset >= 0 and wanted.max_num_offsets > 0 else []
    return result


@handles(LIST_OFFSETS, 0, 10)
def list_offsets(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    committed_only = request.isolation_level == READ_COMMITTED
    return ListOffsetsResponse(topics=[
        ListOffsetsResponse.ListOffsetsTopicResponse(
            name=topic.name,
            partitions=[lookup(ctx, topic.name, p, committed_only) for p in topic.partitions],
        )
        for topic in request.topics
    ])
