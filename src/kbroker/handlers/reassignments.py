"""ElectLeaders (key 43, v0-2), ListPartitionReassignments (key 46, v0), AlterPartitionReassignments
(key 45, v0): answered truthfully for a single node, which leads every partition it has.

In a cluster all three are the controller's (elections in cluster/elections.py, replica moves in
cluster/reassignment.py); other brokers answer NOT_CONTROLLER, and admin clients send them to the
controller.

ElectLeaders v1 added the election type and a top-level error, v2 became flexible; every named
partition already has its only replica as leader, so ELECTION_NOT_NEEDED (and, for "all
partitions", an empty list, as Kafka leaves out partitions that needed nothing). No reassignment
is ever in progress; moving a replica to another broker is refused, keeping it here is a no-op.
"""

from __future__ import annotations

from typing import Awaitable

from kproto import ErrorCode
from kproto.messages import (
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ElectLeadersRequest,
    ElectLeadersResponse, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
)

from kbroker.cluster.reassignment import target_problem
from kbroker.handlers.authorized_operations import MESSAGES, Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.inter_broker import to_controller
from kbroker.handlers.registry import handles

ELECT_LEADERS = 43
ALTER_PARTITION_REASSIGNMENTS = 45
LIST_PARTITION_REASSIGNMENTS = 46
REFUSED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED  # electing and moving need ALTER on the cluster, listing DESCRIBE


def partition_problem(ctx: RequestContext, topic: str, partition: int) -> tuple[ErrorCode, str] | None:
    if ctx.broker.partition_log(topic, partition) is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
    return None


def election(ctx: RequestContext, topic: str, partition: int) -> ElectLeadersResponse.PartitionResult:
    error, message = partition_problem(ctx, topic, partition) or (
        ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
    return ElectLeadersResponse.PartitionResult(partition_id=partition, error_code=error, error_message=message)


def election_refused(request: ElectLeadersRequest, error: ErrorCode) -> ElectLeadersResponse:
    """The whole request refused: the error at the top and on every partition named."""
    return ElectLeadersResponse(error_code=error, replica_election_results=[
        ElectLeadersResponse.ReplicaElectionResult(topic=t.topic, partition_result=[
            ElectLeadersResponse.PartitionResult(partition_id=p, error_code=error)
            for p in t.partitions]) for t in request.topic_partitions or []])


@handles(ELECT_LEADERS, 0, 2)
def elect_leaders(ctx: RequestContext, request: ElectLeadersRequest
                  ) -> ElectLeadersResponse | Awaitable[ElectLeadersResponse]:
    if not cluster_allowed(ctx, Op.ALTER):
        return election_refused(request, REFUSED)
    if ctx.broker.cluster is not None:
        return to_controller(ctx, lambda c: c.elect_leaders(request), election_refused(request, ErrorCode.NOT_CONTROLLER))
    return ElectLeadersResponse(replica_election_results=[
        ElectLeadersResponse.ReplicaElectionResult(
            topic=t.topic, partition_result=[election(ctx, t.topic, p) for p in t.partitions])
        for t in request.topic_partitions or []])


@handles(LIST_PARTITION_REASSIGNMENTS, 0, 0)
def list_partition_reassignments(ctx: RequestContext, request: ListPartitionReassignmentsRequest
                                 ) -> ListPartitionReassignmentsResponse | Awaitable[ListPartitionReassignmentsResponse]:
    if not cluster_allowed(ctx, Op.DESCRIBE):
        return ListPartitionReassignmentsResponse(error_code=REFUSED, error_message=MESSAGES[REFUSED])
    if ctx.broker.cluster is not None:
        return to_controller(ctx, lambda c: c.list_reassignments(request), ListPartitionReassignmentsResponse(
            error_code=ErrorCode.NOT_CONTROLLER, error_message=None))
    return ListPartitionReassignmentsResponse(error_message=None, topics=[])


def reassign(ctx: RequestContext, topic: str, wanted: AlterPartitionReassignmentsRequest.ReassignablePartition
             ) -> AlterPartitionReassignmentsResponse.ReassignablePartitionResponse:
    replicas = wanted.replicas
    if problem := partition_problem(ctx, topic, wanted.partition_index):
        error, message = problem
    elif replicas is None:
        error, message = ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No ongoing reassignment for this partition."
    else:
        error, message = target_problem(list(replicas), {ctx.broker.node_id}) or (ErrorCode.NONE, None)
    return AlterPartitionReassignmentsResponse.ReassignablePartitionResponse(
        partition_index=wanted.partition_index, error_code=error, error_message=message)


@handles(ALTER_PARTITION_REASSIGNMENTS, 0, 0)
def alter_partition_reassignments(ctx: RequestContext, request: AlterPartitionReassignmentsRequest
                                  ) -> AlterPartitionReassignmentsResponse | Awaitable[AlterPartitionReassignmentsResponse]:
    if not cluster_allowed(ctx, Op.ALTER):
        return AlterPartitionReassignmentsResponse(error_code=REFUSED, error_message=MESSAGES[REFUSED])
    if ctx.broker.cluster is not None:
        return to_controller(ctx, lambda c: c.alter_reassignments(request), AlterPartitionReassignmentsResponse(
            error_code=ErrorCode.NOT_CONTROLLER, error_message=None))
    return AlterPartitionReassignmentsResponse(error_message=None, responses=[
        AlterPartitionReassignmentsResponse.ReassignableTopicResponse(
            name=t.name, partitions=[reassign(ctx, t.name, p) for p in t.partitions])
        for t in request.topics])
