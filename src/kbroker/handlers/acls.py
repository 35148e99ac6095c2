"""DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31), v0-3: answered as Apache
Kafka answers them when no authorizer is configured, SECURITY_DISABLED.

kbroker has no authentication or authorization, so there are no ACLs to list, add or remove.
Kafka still serves these APIs then, and its admin tools report "Security features are disabled"
rather than an unsupported API: a client asks, and learns why nothing is there. v1 added the
resource pattern type (KIP-290), v2 became flexible, v3 added the user resource type.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import (
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
)

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

DESCRIBE_ACLS = 29
CREATE_ACLS = 30
DELETE_ACLS = 31
NO_AUTHORIZER = "No Authorizer is configured."


@handles(DESCRIBE_ACLS, 0, 3)
def describe_acls(ctx: RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse:
    return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER, resources=[])


@handles(CREATE_ACLS, 0, 3)
def create_acls(ctx: RequestContext, request: CreateAclsRequest) -> CreateAclsResponse:
    return CreateAclsResponse(results=[
        CreateAclsResponse.AclCreationResult(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER)
        for _ in request.creations])


@handles(DELETE_ACLS, 0, 3)
def delete_acls(ctx: RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse:
    return DeleteAclsResponse(filter_results=[
        DeleteAclsResponse.DeleteAclsFilterResult(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER,
                                                  matching_acls=[])
        for _ in request.filters])
