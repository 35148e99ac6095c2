"""The classic group protocol and the group views of admin tools.

JoinGroup (key 11) v0-9: v1 added the rebalance timeout (v0 uses the session timeout), v4 makes a
new member rejoin with the id it is given (MEMBER_ID_REQUIRED), v5 static membership
(group.instance.id), v6 flexible, v7 the protocol type in the answer, v8 a reason, v9 skip-assignment
for a rejoining static leader. SyncGroup (14) v0-5: v3 instance id, v5 protocol type and name.
Heartbeat (12) v0-4: v3 instance id. LeaveGroup (13) v0-5: v3 batches members (KIP-345), v5
reasons. ListGroups (16) v0-5: v4 state filter, v5 type filter. DescribeGroups (15) v0-5: v3
authorized operations, v4 instance ids. DeleteGroups (42) v0-2.

A JoinGroup or SyncGroup that must wait for the rebalance returns an awaitable; the connection
holds its later requests until the answer leaves, as Kafka does.

With an authorizer, a member needs READ on its group (else GROUP_AUTHORIZATION_FAILED), describing
needs DESCRIBE and deleting DELETE; ListGroups shows every group to a principal that may DESCRIBE
the cluster, and to others the groups they may DESCRIBE.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from kproto import ErrorCode
from kproto.messages import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListGroupsRequest,
    ListGroupsResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)

from kbroker.groups import JoinRequest
from kbroker.groups.results import JoinResult, SyncResult
from kbroker.handlers.authorized_operations import Op, Resource, allowed, authorized_operations, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14
DESCRIBE_GROUPS = 15
LIST_GROUPS = 16
DELETE_GROUPS = 42


def answer(future: asyncio.Future, build: Callable[[Any], Any]) -> Any | Awaitable[Any]:
    """The response now if the coordinator already decided, else a coroutine awaiting it."""
    if future.done():
        return build(future.result())

    async def wait() -> Any:
        return build(await future)

    return wait()


def may_read(ctx: RequestContext, group_id: str) -> bool:
    return allowed(ctx, Op.READ, Resource.GROUP, group_id)


def client_host(ctx: RequestContext) -> str:
    """Kafka shows a member's address as Java prints an InetAddress: with a leading slash."""
    return f"/{ctx.client_host}"


@handles(JOIN_GROUP, 0, 9)
def join_group(ctx: RequestContext, request: JoinGroupRequest) -> JoinGroupResponse | Awaitable[JoinGroupResponse]:
    version = ctx.api_version
    rebalance_timeout = request.rebalance_timeout_ms if version >= 1 else request.session_timeout_ms
    join = JoinRequest(
        group_id=request.group_id, member_id=request.member_id, group_instance_id=request.group_instance_id,
        protocol_type=request.protocol_type, protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
        session_timeout_ms=request.session_timeout_ms, rebalance_timeout_ms=rebalance_timeout,
        client_id=ctx.client_id, client_host=client_host(ctx),
        require_known_member_id=version >= 4, supports_skip_assignment=version >= 9,
    )

    def build(result: JoinResult) -> JoinGroupResponse:
        return JoinGroupResponse(
            error_code=result.error, generation_id=result.generation, protocol_type=result.protocol_type,
            protocol_name=result.protocol_name if result.protocol_name is not None or version >= 7 else "",
            leader=result.leader, skip_assignment=result.skip_assignment, member_id=result.member_id,
            members=[JoinGroupResponse.JoinGroupResponseMember(member_id=m.member_id,
                                                               group_instance_id=m.group_instance_id,
                                                               metadata=m.metadata) for m in result.members],
        )

    if not may_read(ctx, request.group_id):
        return build(JoinResult(ErrorCode.GROUP_AUTHORIZATION_FAILED))
    return answer(ctx.broker.groups.join(join), build)


@handles(SYNC_GROUP, 0, 5)
def sync_group(ctx: RequestContext, request: SyncGroupRequest) -> SyncGroupResponse | Awaitable[SyncGroupResponse]:
    if not may_read(ctx, request.group_id):
        return SyncGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    assignments = {a.member_id: bytes(a.assignment) for a in request.assignments}
    future = ctx.broker.groups.sync(request.group_id, request.generation_id, request.member_id,
                                    request.group_instance_id, request.protocol_type, request.protocol_name,
                                    assignments)

    def build(result: SyncResult) -> SyncGroupResponse:
        return SyncGroupResponse(error_code=result.error, protocol_type=result.protocol_type,
                                 protocol_name=result.protocol_name, assignment=result.assignment)

    return answer(future, build)


@handles(HEARTBEAT, 0, 4)
def heartbeat(ctx: RequestContext, request: HeartbeatRequest) -> HeartbeatResponse:
    if not may_read(ctx, request.group_id):
        return HeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = ctx.broker.groups.heartbeat(request.group_id, request.member_id, request.group_instance_id,
                                        request.generation_id)
    return HeartbeatResponse(error_code=error)


@handles(LEAVE_GROUP, 0, 5)
def leave_group(ctx: RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse:
    if not may_read(ctx, request.group_id):
        return LeaveGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if ctx.api_version >= 3:
        leaving = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        leaving = [(request.member_id, None)]
    error, results = ctx.broker.groups.leave(request.group_id, leaving)
    if ctx.api_version < 3:
        # one member, one error: the group's, else the member's
        return LeaveGroupResponse(error_code=error or next((r.error for r in results if r.error), ErrorCode.NONE))
    return LeaveGroupResponse(error_code=error, members=[
        LeaveGroupResponse.MemberResponse(member_id=r.member_id, group_instance_id=r.group_instance_id,
                                          error_code=r.error)
        for r in results
    ])


@handles(LIST_GROUPS, 0, 5)
def list_groups(ctx: RequestContext, request: ListGroupsRequest) -> ListGroupsResponse:
    listed = ctx.broker.groups.list_groups(request.states_filter, request.types_filter)
    if not cluster_allowed(ctx, Op.DESCRIBE):
        listed = [g for g in listed if allowed(ctx, Op.DESCRIBE, Resource.GROUP, g.group_id)]
    return ListGroupsResponse(error_code=ErrorCode.NONE, groups=[
        ListGroupsResponse.ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state,
                                       group_type=g.group_type)
        for g in listed
    ])


@handles(DESCRIBE_GROUPS, 0, 5)
def describe_groups(ctx: RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse:
    described = []
    for group_id in request.groups:
        if not allowed(ctx, Op.DESCRIBE, Resource.GROUP, group_id):  # as Kafka: no state, no members
            described.append(DescribeGroupsResponse.DescribedGroup(
                error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=group_id, group_state="", protocol_type="",
                protocol_data=""))
            continue
        d = ctx.broker.groups.describe_group(group_id)
        described.append(DescribeGroupsResponse.DescribedGroup(
            error_code=d.error, group_id=d.group_id, group_state=d.state, protocol_type=d.protocol_type,
            protocol_data=d.protocol,
            authorized_operations=authorized_operations(ctx, Resource.GROUP, group_id,
                                                        request.include_authorized_operations
                                                        and d.error == ErrorCode.NONE),
            members=[DescribeGroupsResponse.DescribedGroupMember(
                member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                client_host=m.client_host, member_metadata=m.metadata, member_assignment=m.assignment)
                for m in d.members],
        ))
    return DescribeGroupsResponse(groups=described)


@handles(DELETE_GROUPS, 0, 2)
def delete_groups(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    refused = [g for g in request.groups_names if not allowed(ctx, Op.DELETE, Resource.GROUP, g)]
    results = ctx.broker.groups.delete_groups([g for g in request.groups_names if g not in refused])
    for group_id, error in results:
        if error == ErrorCode.NONE:
            ctx.broker.shares.drop_group(group_id)  # a share group's share partitions go with it
    results += [(group_id, ErrorCode.GROUP_AUTHORIZATION_FAILED) for group_id in refused]  # after, as Kafka
    return DeleteGroupsResponse(results=[
        DeleteGroupsResponse.DeletableGroupResult(group_id=group_id, error_code=error) for group_id, error in results
    ])
