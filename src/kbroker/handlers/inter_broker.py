"""The controller's requests to brokers, and the leaders' requests to the controller.

LeaderAndIsr (key 4, v0-7), StopReplica (key 5, v3-4), UpdateMetadata (key 6, v5-8),
ControlledShutdown (key 7, v1-3) and AlterPartition (key 56, v0-1), as ZooKeeper-era Kafka brokers
serve them. They exist only on a
broker started with `zookeeper.connect`, and are advertised only there. A request from a
controller of an older epoch is refused with STALE_CONTROLLER_EPOCH; AlterPartition sent to a
broker that is not the controller gets NOT_CONTROLLER, and so does ControlledShutdown. With an
authorizer, each needs CLUSTER_ACTION on the cluster (else CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from kproto import ErrorCode
from kproto.messages import (
    AlterPartitionRequest, AlterPartitionResponse, ControlledShutdownRequest, ControlledShutdownResponse,
    LeaderAndIsrRequest, LeaderAndIsrResponse, StopReplicaRequest,
    StopReplicaResponse, UpdateMetadataRequest, UpdateMetadataResponse,
)

from kbroker.handlers.authorized_operations import Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

if TYPE_CHECKING:
    from kbroker.cluster.controller import Controller

LEADER_AND_ISR = 4
STOP_REPLICA = 5
UPDATE_METADATA = 6
CONTROLLED_SHUTDOWN = 7
ALTER_PARTITION = 56
REFUSED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED


@handles(LEADER_AND_ISR, 5, 7, cluster_only=True)
def leader_and_isr(ctx: RequestContext, request: LeaderAndIsrRequest) -> LeaderAndIsrResponse:
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        R = LeaderAndIsrResponse
        return R(error_code=REFUSED, topics=[R.LeaderAndIsrTopicError(topic_id=t.topic_id, partition_errors=[
            R.LeaderAndIsrPartitionError(partition_index=p.partition_index, error_code=REFUSED)
            for p in t.partition_states]) for t in request.topic_states])
    return ctx.broker.cluster.replicas.apply_leader_and_isr(request)


@handles(STOP_REPLICA, 3, 4, cluster_only=True)
def stop_replica(ctx: RequestContext, request: StopReplicaRequest) -> StopReplicaResponse:
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        return StopReplicaResponse(error_code=REFUSED, partition_errors=[
            StopReplicaResponse.StopReplicaPartitionError(topic_name=t.topic_name, partition_index=p.partition_index,
                                                          error_code=REFUSED)
            for t in request.topic_states for p in t.partition_states])
    results = ctx.broker.cluster.replicas.stop_replicas(request)
    if any(p.delete_partition for t in request.topic_states for p in t.partition_states):
        ctx.broker.sync_topics()
    return StopReplicaResponse(error_code=ErrorCode.NONE, partition_errors=[
        StopReplicaResponse.StopReplicaPartitionError(topic_name=topic, partition_index=index, error_code=error)
        for topic, index, error in results])


@handles(UPDATE_METADATA, 5, 8, cluster_only=True)
def update_metadata(ctx: RequestContext, request: UpdateMetadataRequest) -> UpdateMetadataResponse:
    cluster = ctx.broker.cluster
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        return UpdateMetadataResponse(error_code=REFUSED)
    if request.controller_epoch < cluster.view.controller_epoch:
        return UpdateMetadataResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
    cluster.update_metadata(request)
    ctx.broker.sync_topics()
    return UpdateMetadataResponse(error_code=ErrorCode.NONE)


def to_controller(ctx: RequestContext, ask: Callable[[Controller], Awaitable[Any]], not_controller: Any) -> Any:
    """The controller's answer when this broker runs it; `not_controller` elsewhere (admin clients
    and brokers then look the controller up again)."""
    controller = ctx.broker.cluster.controller if ctx.broker.cluster is not None else None
    return ask(controller) if controller is not None else not_controller


@handles(CONTROLLED_SHUTDOWN, 1, 3, cluster_only=True)
def controlled_shutdown(ctx: RequestContext, request: ControlledShutdownRequest
                        ) -> ControlledShutdownResponse | Awaitable[ControlledShutdownResponse]:
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        return ControlledShutdownResponse(error_code=REFUSED)
    return to_controller(ctx, lambda c: c.controlled_shutdown(request),
                         ControlledShutdownResponse(error_code=ErrorCode.NOT_CONTROLLER))


@handles(ALTER_PARTITION, 0, 1, cluster_only=True)
def alter_partition(ctx: RequestContext, request: AlterPartitionRequest
                    ) -> AlterPartitionResponse | Awaitable[AlterPartitionResponse]:
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        return AlterPartitionResponse(error_code=REFUSED)
    return to_controller(ctx, lambda c: c.alter_partition(request),
                         AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER))
