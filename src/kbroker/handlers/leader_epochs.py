"""OffsetForLeaderEpoch (key 23, v0-4): where each leader epoch of a partition ends.

A single node leads every partition in epoch 0 from the partition's first offset (Metadata says
so too), so epoch 0 ends at the log end offset; a later epoch is unknown (-1, -1), as Kafka's
leader-epoch cache answers. v1 added the epoch to the answer, v2 the current leader epoch fence
(checked as Kafka does), v3 a replica id, v4 became flexible.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

OFFSET_FOR_LEADER_EPOCH = 23
UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


def epoch_end(ctx: RequestContext, topic: str, wanted: OffsetForLeaderEpochRequest.OffsetForLeaderPartition
              ) -> OffsetForLeaderEpochResponse.EpochEndOffset:
    result = OffsetForLeaderEpochResponse.EpochEndOffset(partition=wanted.partition)
    plog = ctx.broker.partition_log(topic, wanted.partition)
    if plog is None:
        result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return result
    current = ctx.broker.leader_epoch(topic, wanted.partition)
    fence = wanted.current_leader_epoch
    if fence != UNDEFINED_EPOCH and fence > current:
        result.error_code = ErrorCode.UNKNOWN_LEADER_EPOCH
    elif fence != UNDEFINED_EPOCH and fence < current:
        result.error_code = ErrorCode.FENCED_LEADER_EPOCH
    elif wanted.leader_epoch == current:
        result.leader_epoch, result.end_offset = current, plog.log_end_offset
    return result


@handles(OFFSET_FOR_LEADER_EPOCH, 0, 4)
def offset_for_leader_epoch(ctx: RequestContext, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse:
    return OffsetForLeaderEpochResponse(topics=[
        OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(
            topic=topic.topic, partitions=[epoch_end(ctx, topic.topic, p) for p in topic.partitions])
        for topic in request.topics])
