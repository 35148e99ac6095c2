"""The KIP-848 consumer group protocol: ConsumerGroupHeartbeat (key 68) v0-1, ConsumerGroupDescribe (69) v0.

ConsumerGroupHeartbeat v1 lets the client choose its member id (KIP-1082) and adds the subscribed
topic regex; v0 members are given an id by the coordinator. Assignments travel by topic id, so
the handler turns ids into names and back; owned partitions of topics the broker no longer has
are dropped, as they are nothing the member can still consume.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)

from kbroker.groups.assignors import Assignment
from kbroker.groups.consumer_groups import Heartbeat
from kbroker.handlers.authorized_operations import GROUP_OPERATIONS, authorized_operations
from kbroker.handlers.context import RequestContext
from kbroker.handlers.groups import client_host
from kbroker.handlers.registry import handles

CONSUMER_GROUP_HEARTBEAT = 68
CONSUMER_GROUP_DESCRIBE = 69


def owned_by_name(ctx: RequestContext, owned: list | None) -> Assignment | None:
    if owned is None:
        return None
    out: Assignment = {}
    for tp in owned:
        info = ctx.broker.topics.by_id(tp.topic_id)
        if info is not None:
            out.setdefault(info.name, set()).update(tp.partitions)
    return out


def by_id(ctx: RequestContext, assignment: Assignment, struct: type) -> list:
    """An assignment by topic id, in topic name order; topics gone since are left out."""
    out = []
    for topic in sorted(assignment):
        info = ctx.broker.topics.get(topic)
        if info is not None and assignment[topic]:
            fields = {"topic_name": topic} if "topic_name" in struct.__slots__ else {}
            out.append(struct(topic_id=info.topic_id, partitions=sorted(assignment[topic]), **fields))
    return out


@handles(CONSUMER_GROUP_HEARTBEAT, 0, 1)
def consumer_group_heartbeat(ctx: RequestContext,
                             request: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
    result = ctx.broker.groups.consumer_heartbeat(Heartbeat(
        group_id=request.group_id, member_id=request.member_id, member_epoch=request.member_epoch,
        instance_id=request.instance_id, rack_id=request.rack_id, rebalance_timeout_ms=request.rebalance_timeout_ms,
        subscribed_topics=request.subscribed_topic_names, subscribed_regex=request.subscribed_topic_regex,
        server_assignor=request.server_assignor, owned=owned_by_name(ctx, request.topic_partitions),
        client_id=ctx.client_id, client_host=client_host(ctx)))
    assignment = None
    if result.assignment is not None:
        assignment = ConsumerGroupHeartbeatResponse.Assignment(
            topic_partitions=by_id(ctx, result.assignment, ConsumerGroupHeartbeatResponse.TopicPartitions))
    return ConsumerGroupHeartbeatResponse(
        error_code=result.error, error_message=result.message, member_id=result.member_id,
        member_epoch=result.member_epoch, heartbeat_interval_ms=result.heartbeat_interval_ms, assignment=assignment)


@handles(CONSUMER_GROUP_DESCRIBE, 0, 0)
def consumer_group_describe(ctx: RequestContext,
                            request: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse:
    R = ConsumerGroupDescribeResponse
    described = []
    for group_id in request.group_ids:
        error = ctx.broker.groups.availability(group_id)
        if error:
            described.append(R.DescribedGroup(error_code=error, group_id=group_id))
            continue
        group = ctx.broker.groups.consumer.groups.get(group_id)
        if group is None:
            message = (f"Group {group_id} is not a consumer group." if group_id in ctx.broker.groups.groups
                       else f"Group {group_id} not found.")
            described.append(R.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=message,
                                              group_id=group_id, group_state="Dead"))
            continue
        described.append(R.DescribedGroup(
            error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state, group_epoch=group.group_epoch,
            assignment_epoch=group.assignment_epoch, assignor_name=group.assignor,
            authorized_operations=authorized_operations(GROUP_OPERATIONS, request.include_authorized_operations),
            members=[R.Member(
                member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
                client_id=m.client_id, client_host=m.client_host, subscribed_topic_names=sorted(m.subscribed_topics),
                subscribed_topic_regex=m.subscribed_regex,
                assignment=R.Assignment(topic_partitions=by_id(ctx, m.assigned, R.TopicPartitions)),
                target_assignment=R.Assignment(topic_partitions=by_id(ctx, group.target.get(m.member_id, {}),
                                                                      R.TopicPartitions)))
                for m in group.members.values()]))
    return R(groups=described)
