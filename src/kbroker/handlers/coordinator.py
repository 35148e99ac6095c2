"""FindCoordinator (key 10), v0-6: which broker coordinates a group, a transactional id or a share partition.

v1 added the key type (0 group, 1 transaction) and an error message, v3 became flexible, v4
batches several keys in one request (KIP-699), v6 added key type 2 (KIP-932): the share
coordinator of the share partition named "group:topicId:partition", the leader of its
`__share_group_state` partition. A single node coordinates everything: groups through its group
coordinator, transactional ids and share partitions through the coordinators that live in this
process too. With an authorizer, finding a group's coordinator needs DESCRIBE on the group, a
transactional id's DESCRIBE on the id, a share partition's CLUSTER_ACTION (brokers ask it).
"""

from __future__ import annotations

import uuid

from kproto import ErrorCode
from kproto.messages import FindCoordinatorRequest, FindCoordinatorResponse

from kbroker.handlers.authorized_operations import MESSAGES, Op, Resource, allowed, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.log.metadata import MetadataError, uuid_from_str
from kbroker.share.state_log import STATE_TOPIC as SHARE_STATE_TOPIC
from kbroker.txn.state_log import STATE_TOPIC as TRANSACTION_STATE_TOPIC

FIND_COORDINATOR = 10
GROUP_KEY = 0
TRANSACTION_KEY = 1
SHARE_KEY = 2
SHARE_KEY_VERSION = 6


def refuse(key: str, error: ErrorCode, message: str) -> FindCoordinatorResponse.Coordinator:
    return FindCoordinatorResponse.Coordinator(key=key, node_id=-1, host="", port=-1, error_code=error,
                                               error_message=message)


def share_key(key: str) -> tuple[str, uuid.UUID, int] | None:
    """(group, topic id, partition) of "group:topicId:partition"; None when it is not one."""
    parts = key.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        return None
    try:
        return parts[0], uuid_from_str(parts[1]), int(parts[2])
    except (MetadataError, ValueError):
        return None


def locate(ctx: RequestContext, key: str, key_type: int) -> FindCoordinatorResponse.Coordinator:
    if key_type not in (GROUP_KEY, TRANSACTION_KEY, SHARE_KEY) or (
            key_type == SHARE_KEY and ctx.api_version < SHARE_KEY_VERSION):
        return refuse(key, ErrorCode.INVALID_REQUEST, f"Unknown coordinator type {key_type}")
    if key_type == SHARE_KEY:
        if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
            return refuse(key, ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                          MESSAGES[ErrorCode.CLUSTER_AUTHORIZATION_FAILED])
        parsed = share_key(key)
        if parsed is None:
            return refuse(key, ErrorCode.INVALID_REQUEST, f"Invalid share coordinator key: {key}")
        where = (SHARE_STATE_TOPIC, ctx.broker.share_coordinator.state_log.partition_of(parsed))
        return answer(ctx, key, where)
    refusal = ErrorCode.GROUP_AUTHORIZATION_FAILED if key_type == GROUP_KEY else \
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if not allowed(ctx, Op.DESCRIBE, Resource.GROUP if key_type == GROUP_KEY else Resource.TRANSACTIONAL_ID, key):
        return refuse(key, refusal, MESSAGES[refusal])
    # As Kafka does, the first lookup creates the coordinator's internal topic, so that a group's
    # or transaction's first write does not pay for creating its partitions.
    # In a cluster the coordinator is the leader of that partition.
    if key_type == GROUP_KEY:
        where = ctx.broker.offsets_partition(key)
    else:
        where = (TRANSACTION_STATE_TOPIC, ctx.broker.txn_log.partition_of(key))
    return answer(ctx, key, where)


def answer(ctx: RequestContext, key: str, where: tuple[str, int]) -> FindCoordinatorResponse.Coordinator:
    """The leader of the coordinator's partition `where`, or COORDINATOR_NOT_AVAILABLE."""
    found = ctx.broker.leader_address(*where, ctx.listener)
    if found is None:
        return refuse(key, ErrorCode.COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.")
    node_id, host, port = found
    return FindCoordinatorResponse.Coordinator(key=key, node_id=node_id, host=host, port=port,
                                               error_code=ErrorCode.NONE, error_message=None)


@handles(FIND_COORDINATOR, 0, 6)
def find_coordinator(ctx: RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    if ctx.api_version >= 4:
        return FindCoordinatorResponse(coordinators=[
            locate(ctx, key, request.key_type) for key in request.coordinator_keys
        ])
    found = locate(ctx, request.key, request.key_type)
    return FindCoordinatorResponse(error_code=found.error_code, error_message=found.error_message,
                                   node_id=found.node_id, host=found.host, port=found.port)
