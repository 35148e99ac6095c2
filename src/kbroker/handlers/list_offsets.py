"""ListOffsets (key 2), v0-10: offsets by timestamp, and the special earliest / latest / max-timestamp.

v0 answers with a list of old-style offsets (where segments begin, dated by their files' mtimes,
as Kafka's v0 answers); v1 one offset and its timestamp; v2 added the isolation level (latest
means the last stable offset for read_committed); v4 leader epochs (the epoch of the batch at the
offset found, and the client's current epoch fenced as in Fetch); v7 MAX_TIMESTAMP (-3); v8
EARLIEST_LOCAL (-4); v9 LATEST_TIERED (-5). With an authorizer, each topic needs DESCRIBE
(TOPIC_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kproto import ErrorCode
from kproto.messages import ListOffsetsRequest, ListOffsetsResponse

from kbroker.handlers.authorized_operations import Op, Resource, denied_names
from kbroker.handlers.context import RequestContext
from kbroker.handlers.leader_epochs import fence_error
from kbroker.handlers.registry import handles

if TYPE_CHECKING:
    from kbroker.log.partition import PartitionLog

LIST_OFFSETS = 2
LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5
READ_COMMITTED = 1
CONSUMER_REPLICA_ID = -1


def old_style_offsets(log: PartitionLog, timestamp: int, max_count: int, from_consumer: bool) -> list[int]:
    """ListOffsets v0's answer, highest first: the offsets where segments begin, each dated by its
    file's mtime, and the log end (dated now) when the last segment holds anything. LATEST starts
    from the newest of these, EARLIEST from the oldest, a time from the newest dated at or before
    it; at most `max_count` are taken from there back. A consumer's list stops at the high
    watermark, which replaces any offset above it, as in Kafka."""
    segments = log.segments
    points = [(max(s.base_offset, log.log_start_offset), s.last_modified_ms()) for s in segments]
    if segments[-1].size > 0:
        points.append((log.log_end_offset, int(time.time() * 1000)))
    if timestamp == LATEST:
        start = len(points) - 1
    elif timestamp == EARLIEST:
        start = 0
    else:
        start = next((i for i in reversed(range(len(points))) if points[i][1] <= timestamp), -1)
    count = max(0, min(max_count, start + 1))
    offsets = sorted((offset for offset, _ in points[start + 1 - count:start + 1]), reverse=True)
    if from_consumer and any(offset > log.high_watermark for offset in offsets):
        offsets = [log.high_watermark] + [offset for offset in offsets if offset <= log.high_watermark]
    return offsets


def lookup_v0(ctx: RequestContext, topic: str, wanted: ListOffsetsRequest.ListOffsetsPartition,
              from_consumer: bool) -> ListOffsetsResponse.ListOffsetsPartitionResponse:
    """v0 knows only LATEST and EARLIEST among the negative timestamps."""
    result = ListOffsetsResponse.ListOffsetsPartitionResponse(partition_index=wanted.partition_index)
    if wanted.timestamp < EARLIEST:
        result.error_code = ErrorCode.UNSUPPORTED_VERSION
        return result
    log = ctx.broker.partition_log(topic, wanted.partition_index)
    if log is None:
        result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return result
    result.old_style_offsets = old_style_offsets(log, wanted.timestamp, wanted.max_num_offsets, from_consumer)
    return result


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
    return result


@handles(LIST_OFFSETS, 0, 10)
def list_offsets(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    committed_only = request.isolation_level == READ_COMMITTED
    from_consumer = request.replica_id == CONSUMER_REPLICA_ID
    refused = denied_names(ctx, Op.DESCRIBE, Resource.TOPIC, (topic.name for topic in request.topics))
    return ListOffsetsResponse(topics=[
        ListOffsetsResponse.ListOffsetsTopicResponse(
            name=topic.name,
            partitions=[ListOffsetsResponse.ListOffsetsPartitionResponse(
                partition_index=p.partition_index, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                if topic.name in refused else
                lookup_v0(ctx, topic.name, p, from_consumer) if ctx.api_version == 0 else
                lookup(ctx, topic.name, p, committed_only) for p in topic.partitions],
        )
        for topic in request.topics
    ])
