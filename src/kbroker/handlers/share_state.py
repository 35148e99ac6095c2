"""The share coordinator's APIs (KIP-932): InitializeShareGroupState (key 83) v0,
ReadShareGroupState (84) v0, WriteShareGroupState (85) v0-1, DeleteShareGroupState (86) v0,
ReadShareGroupStateSummary (87) v0-1.

Brokers send them to the share coordinator of a share partition (FindCoordinator key type 2); a
single node is its own share coordinator and reaches it in process. Each key (group, topic id,
partition) is answered on its own, as Kafka's coordinator service does; in a cluster a key whose
`__share_group_state` partition another broker leads is NOT_COORDINATOR, and an answer waits
until what was written reached the in-sync replicas (`share.coordinator.write.timeout.ms`). An
empty group id, no topics, or a topic without partitions is answered with no results at all. With an authorizer the caller needs CLUSTER_ACTION on the cluster, else every
partition is CLUSTER_AUTHORIZATION_FAILED. WriteShareGroupState v1 and the summary's v1 carry
the count of records whose delivery is complete (KIP-1226).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from kproto import ErrorCode
from kproto.messages import (
    DeleteShareGroupStateRequest,
    DeleteShareGroupStateResponse,
    InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse,
    ReadShareGroupStateRequest,
    ReadShareGroupStateResponse,
    ReadShareGroupStateSummaryRequest,
    ReadShareGroupStateSummaryResponse,
    WriteShareGroupStateRequest,
    WriteShareGroupStateResponse,
)

from kbroker.coordinator_log import replicated
from kbroker.handlers.authorized_operations import MESSAGES, Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.share.coordinator import Outcome
from kbroker.share.state import StateBatch

INITIALIZE_SHARE_GROUP_STATE = 83
READ_SHARE_GROUP_STATE = 84
WRITE_SHARE_GROUP_STATE = 85
DELETE_SHARE_GROUP_STATE = 86
READ_SHARE_GROUP_STATE_SUMMARY = 87


def per_key(ctx: RequestContext, request: Any, response_cls: type, result_cls: type,
            serve: Callable[[tuple, Any], Outcome], fill: Callable[[Any, Outcome], None] | None = None) -> Any:
    """The answer for each (group, topic id, partition) the request names: `serve` gives the
    coordinator's outcome, `fill` copies its state into the partition's answer; once replicated."""
    if not request.group_id or not request.topics or any(not t.partitions for t in request.topics):
        return response_cls(results=[])
    authorized = cluster_allowed(ctx, Op.CLUSTER_ACTION)
    state_log = ctx.broker.share_coordinator.state_log
    partition_cls = response_cls.PartitionResult
    results = []
    written: dict[int, list] = {}  # state partition -> the answers that wait for it
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            if not authorized:
                outcome = Outcome(ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                  MESSAGES[ErrorCode.CLUSTER_AUTHORIZATION_FAILED])
            else:
                outcome = serve((request.group_id, topic.topic_id, p.partition), p)
            answer = partition_cls(partition=p.partition, error_code=outcome.error, error_message=outcome.message)
            if fill is not None and outcome.state is not None:
                fill(answer, outcome)
            if outcome.error == ErrorCode.NONE:
                written.setdefault(state_log.partition_of((request.group_id, topic.topic_id, p.partition)),
                                   []).append(answer)
            partitions.append(answer)
        results.append(result_cls(topic_id=topic.topic_id, partitions=partitions))
    waits = [(answers, state_log.replicated(partition)) for partition, answers in written.items()]
    waits = [(answers, waiter) for answers, waiter in waits if waiter is not None]
    if not waits:
        return response_cls(results=results)

    async def once_replicated() -> Any:
        timeout_ms = ctx.broker.config["share.coordinator.write.timeout.ms"]
        errors = await asyncio.gather(*(replicated(waiter, timeout_ms) for _, waiter in waits))
        for (answers, _), error in zip(waits, errors):
            for answer in answers if error != ErrorCode.NONE else ():
                answer.error_code, answer.error_message = error, f"Unable to write share group state: {error.name}"
        return response_cls(results=results)

    return once_replicated()


@handles(INITIALIZE_SHARE_GROUP_STATE, 0, 0)
def initialize_share_group_state(ctx: RequestContext, request: InitializeShareGroupStateRequest
                                 ) -> InitializeShareGroupStateResponse | Awaitable[InitializeShareGroupStateResponse]:
    R = InitializeShareGroupStateResponse
    coordinator = ctx.broker.share_coordinator
    return per_key(ctx, request, R, R.InitializeStateResult,
                   lambda key, p: coordinator.initialize(key, p.state_epoch, p.start_offset))


@handles(READ_SHARE_GROUP_STATE, 0, 0)
def read_share_group_state(ctx: RequestContext, request: ReadShareGroupStateRequest
                           ) -> ReadShareGroupStateResponse | Awaitable[ReadShareGroupStateResponse]:
    R = ReadShareGroupStateResponse

    def fill(answer: R.PartitionResult, outcome: Outcome) -> None:
        state = outcome.state
        answer.state_epoch, answer.start_offset = state.state_epoch, state.start_offset
        answer.state_batches = [R.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                             delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                                for b in state.batches]

    coordinator = ctx.broker.share_coordinator
    return per_key(ctx, request, R, R.ReadStateResult, lambda key, p: coordinator.read(key, p.leader_epoch), fill)


@handles(WRITE_SHARE_GROUP_STATE, 0, 1)
def write_share_group_state(ctx: RequestContext, request: WriteShareGroupStateRequest
                            ) -> WriteShareGroupStateResponse | Awaitable[WriteShareGroupStateResponse]:
    R = WriteShareGroupStateResponse
    coordinator = ctx.broker.share_coordinator

    def write(key: tuple, p: WriteShareGroupStateRequest.PartitionData) -> Outcome:
        batches = [StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)
                   for b in p.state_batches]
        return coordinator.write(key, p.state_epoch, p.leader_epoch, p.start_offset, batches,
                                 p.delivery_complete_count)

    return per_key(ctx, request, R, R.WriteStateResult, write)


@handles(DELETE_SHARE_GROUP_STATE, 0, 0)
def delete_share_group_state(ctx: RequestContext, request: DeleteShareGroupStateRequest
                             ) -> DeleteShareGroupStateResponse | Awaitable[DeleteShareGroupStateResponse]:
    R = DeleteShareGroupStateResponse
    coordinator = ctx.broker.share_coordinator
    return per_key(ctx, request, R, R.DeleteStateResult, lambda key, p: coordinator.delete(key))


@handles(READ_SHARE_GROUP_STATE_SUMMARY, 0, 1)
def read_share_group_state_summary(
        ctx: RequestContext, request: ReadShareGroupStateSummaryRequest
) -> ReadShareGroupStateSummaryResponse | Awaitable[ReadShareGroupStateSummaryResponse]:
    R = ReadShareGroupStateSummaryResponse

    def fill(answer: R.PartitionResult, outcome: Outcome) -> None:
        state = outcome.state
        answer.state_epoch, answer.leader_epoch = state.state_epoch, state.leader_epoch
        answer.start_offset = state.start_offset
        if ctx.api_version >= 1:  # KIP-1226's count
            answer.delivery_complete_count = state.delivery_complete_count

    coordinator = ctx.broker.share_coordinator
    return per_key(ctx, request, R, R.ReadStateSummaryResult, lambda key, p: coordinator.summary(key), fill)
