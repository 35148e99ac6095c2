"""DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31), v0-3.

Without an authorizer they are answered as Apache Kafka answers them then, SECURITY_DISABLED: a
client asks, and learns why nothing is there, rather than meeting an unsupported API. With one
(`authorizer.class.name`), describing needs DESCRIBE on the cluster and changing ALTER (else
CLUSTER_AUTHORIZATION_FAILED), and the ACLs are listed, added and removed by the filters' rules
(`kbroker.security.acls`). v1 added the resource pattern type (KIP-290; v0 requests are literal),
v2 became flexible, v3 added the user resource type.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from kproto import ErrorCode
from kproto.messages import (
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
)

from kbroker.handlers.authorized_operations import MESSAGES, Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.security.acls import (
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternType, PermissionType, ResourcePattern,
    ResourceType,
)

DESCRIBE_ACLS = 29
CREATE_ACLS = 30
DELETE_ACLS = 31
NO_AUTHORIZER = "No Authorizer is configured."
NO_AUTHORIZER_TO_DESCRIBE = "No Authorizer is configured on the broker"
REFUSED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
E = TypeVar("E", bound=IntEnum)


def member(kind: type[E], code: int) -> E:
    """A wire code as its enum member; a code Kafka does not know is UNKNOWN, and refused as such."""
    try:
        return kind(code)
    except ValueError:
        return kind(0)


def binding_filter(wanted: DescribeAclsRequest | DeleteAclsRequest.DeleteAclsFilter) -> AclBindingFilter:
    return AclBindingFilter(
        member(ResourceType, wanted.resource_type_filter), wanted.resource_name_filter,
        member(PatternType, wanted.pattern_type_filter), wanted.principal_filter, wanted.host_filter,
        member(AclOperation, wanted.operation), member(PermissionType, wanted.permission_type))


def binding(creation: CreateAclsRequest.AclCreation) -> AclBinding:
    return AclBinding(
        ResourcePattern(member(ResourceType, creation.resource_type), creation.resource_name,
                        member(PatternType, creation.resource_pattern_type)),
        AccessControlEntry(creation.principal, creation.host, member(AclOperation, creation.operation),
                           member(PermissionType, creation.permission_type)))


@handles(DESCRIBE_ACLS, 0, 3)
def describe_acls(ctx: RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse:
    if not cluster_allowed(ctx, Op.DESCRIBE):
        return DescribeAclsResponse(error_code=REFUSED, error_message=MESSAGES[REFUSED], resources=[])
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER_TO_DESCRIBE,
                                    resources=[])
    wanted = binding_filter(request)
    if problem := wanted.problem():
        return DescribeAclsResponse(error_code=ErrorCode.INVALID_REQUEST, error_message=problem, resources=[])
    by_pattern: dict[ResourcePattern, list[AccessControlEntry]] = {}
    for found in authorizer.acls(wanted):
        by_pattern.setdefault(found.pattern, []).append(found.entry)
    R = DescribeAclsResponse
    return R(error_code=ErrorCode.NONE, resources=[
        R.DescribeAclsResource(resource_type=pattern.resource_type, resource_name=pattern.name,
                               pattern_type=pattern.pattern_type, acls=[
                                   R.AclDescription(principal=e.principal, host=e.host, operation=e.operation,
                                                    permission_type=e.permission) for e in entries])
        for pattern, entries in by_pattern.items()])


@handles(CREATE_ACLS, 0, 3)
def create_acls(ctx: RequestContext, request: CreateAclsRequest) -> CreateAclsResponse:
    authorizer = ctx.broker.authorizer
    if not cluster_allowed(ctx, Op.ALTER):
        outcomes = [(REFUSED, MESSAGES[REFUSED])] * len(request.creations)
    elif authorizer is None:
        outcomes = [(ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER)] * len(request.creations)
    else:
        outcomes = authorizer.create([binding(creation) for creation in request.creations])
    return CreateAclsResponse(results=[CreateAclsResponse.AclCreationResult(error_code=error, error_message=message)
                                       for error, message in outcomes])


@handles(DELETE_ACLS, 0, 3)
def delete_acls(ctx: RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse:
    authorizer = ctx.broker.authorizer
    if not cluster_allowed(ctx, Op.ALTER):
        outcomes = [(REFUSED, MESSAGES[REFUSED], [])] * len(request.filters)
    elif authorizer is None:
        outcomes = [(ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER, [])] * len(request.filters)
    else:
        outcomes = authorizer.delete([binding_filter(wanted) for wanted in request.filters])
    R = DeleteAclsResponse
    return R(filter_results=[
        R.DeleteAclsFilterResult(error_code=error, error_message=message, matching_acls=[
            R.DeleteAclsMatchingAcl(error_code=ErrorCode.NONE, error_message=None,
                                    resource_type=b.pattern.resource_type, resource_name=b.pattern.name,
                                    pattern_type=b.pattern.pattern_type, principal=b.entry.principal,
                                    host=b.entry.host, operation=b.entry.operation,
                                    permission_type=b.entry.permission)
            for b in deleted])
        for error, message, deleted in outcomes])
