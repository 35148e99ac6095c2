"""OffsetForLeaderEpoch (key 23, v0-4): where each leader epoch of a partition ends.

Answered from the partition log's leader-epoch cache (`log/leader_epochs.py`), as Kafka's
LeaderEpochFileCache answers: the latest epoch ends at the log end offset, an older one where
the next higher epoch begins, an unknown later one is (-1, -1). v1 added the epoch to the
answer, v2 the current leader epoch fence, v3 a replica id, v4 became flexible. With an
authorizer, CLUSTER_ACTION (brokers) or DESCRIBE on the topic (consumers, KIP-320) is needed.

`fence_error` is the current-leader-epoch check that Fetch (v9+), ListOffsets (v4+) and this API
(v2+) make before anything else, with Kafka's error codes.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse

from kbroker.handlers.authorized_operations import Op, Resource, cluster_allowed, denied_names
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.log import PartitionLog
from kbroker.log.leader_epochs import UNDEFINED_EPOCH

OFFSET_FOR_LEADER_EPOCH = 23


def fence_error(plog: PartitionLog, requested: int) -> ErrorCode:
    """FENCED_LEADER_EPOCH for a client behind the leader's epoch, UNKNOWN_LEADER_EPOCH for one
    ahead of it; no check for -1 (a client that does not know the epoch)."""
    if requested == UNDEFINED_EPOCH or requested == plog.leader_epoch:
        return ErrorCode.NONE
    return ErrorCode.FENCED_LEADER_EPOCH if requested < plog.leader_epoch else ErrorCode.UNKNOWN_LEADER_EPOCH


def epoch_end(ctx: RequestContext, topic: str, wanted: OffsetForLeaderEpochRequest.OffsetForLeaderPartition
              ) -> OffsetForLeaderEpochResponse.EpochEndOffset:
    result = OffsetForLeaderEpochResponse.EpochEndOffset(partition=wanted.partition)
    plog, result.error_code = ctx.broker.leader_log(topic, wanted.partition)
    if plog is None:
        return result
    result.error_code = fence_error(plog, wanted.current_leader_epoch)
    if result.error_code == ErrorCode.NONE:
        result.leader_epoch, result.end_offset = plog.leader_epochs.end_offset_for(
            wanted.leader_epoch, plog.log_end_offset)
    return result


@handles(OFFSET_FOR_LEADER_EPOCH, 0, 4)
def offset_for_leader_epoch(ctx: RequestContext, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse:
    refused = set() if cluster_allowed(ctx, Op.CLUSTER_ACTION) else \
        denied_names(ctx, Op.DESCRIBE, Resource.TOPIC, (topic.topic for topic in request.topics))
    return OffsetForLeaderEpochResponse(topics=[
        OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(topic=topic.topic, partitions=[
            OffsetForLeaderEpochResponse.EpochEndOffset(partition=p.partition,
                                                        error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
            if topic.topic in refused else epoch_end(ctx, topic.topic, p) for p in topic.partitions])
        for topic in request.topics])
