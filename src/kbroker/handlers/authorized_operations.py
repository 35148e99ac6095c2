"""What handlers ask the authorizer, as Kafka's AuthHelper asks it: may this request's principal,
from this host, perform an operation on a resource; which of some names may it; what may it do.

Without an authorizer everything is allowed, and a client asking for authorized operations
(include_*_authorized_operations in Metadata v8+, DescribeCluster, DescribeGroups v3+,
ConsumerGroupDescribe; DescribeTopicPartitions always) gets every operation the resource type
supports, as from Kafka. The answer is a bit field over Kafka's AclOperation codes, bit n for code
n; where nobody asked, INT32_MIN, the schemas' default.
"""

from __future__ import annotations

from typing import Iterable

from kproto import ErrorCode

from kbroker.handlers.context import RequestContext
from kbroker.security.acls import CLUSTER_NAME, SUPPORTED_OPERATIONS, AclOperation, ResourceType, bit_field

NOT_ASKED = -(2**31)
Op, Resource = AclOperation, ResourceType
# Kafka's messages for its authorization errors, where an answer carries a message.
MESSAGES = {
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: "Topic authorization failed.",
    ErrorCode.GROUP_AUTHORIZATION_FAILED: "Group authorization failed.",
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: "Cluster authorization failed.",
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "Transactional Id authorization failed.",
}


def allowed(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
    authorizer = ctx.broker.authorizer
    return authorizer is None or authorizer.authorize(ctx.principal, ctx.client_host, operation, resource_type, name)


def cluster_allowed(ctx: RequestContext, operation: AclOperation) -> bool:
    return allowed(ctx, operation, Resource.CLUSTER, CLUSTER_NAME)


def denied_names(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType,
                 names: Iterable[str]) -> set[str]:
    """The names among `names` the principal may not perform the operation on (none without an authorizer)."""
    if ctx.broker.authorizer is None:
        return set()
    return {name for name in set(names) if not allowed(ctx, operation, resource_type, name)}


def may_write_some_topic(ctx: RequestContext) -> bool:
    """WRITE on some topic, which lets a producer be idempotent without IDEMPOTENT_WRITE (KIP-679)."""
    authorizer = ctx.broker.authorizer
    return authorizer is None or authorizer.authorize_by_resource_type(ctx.principal, ctx.client_host, Op.WRITE,
                                                                       Resource.TOPIC)


def operations(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """The bit field of the operations the principal may perform on the resource."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return bit_field(SUPPORTED_OPERATIONS[resource_type])
    return authorizer.authorized_operations(ctx.principal, ctx.client_host, resource_type, name)


def authorized_operations(ctx: RequestContext, resource_type: ResourceType, name: str, asked: bool) -> int:
    """The answer to a client that did or did not ask about the resource."""
    return operations(ctx, resource_type, name) if asked else NOT_ASKED


def cluster_operations(ctx: RequestContext, asked: bool) -> int:
    """The cluster's operations when asked: none at all without DESCRIBE on the cluster, as Kafka answers."""
    if not asked:
        return NOT_ASKED
    return operations(ctx, Resource.CLUSTER, CLUSTER_NAME) if cluster_allowed(ctx, Op.DESCRIBE) else 0
