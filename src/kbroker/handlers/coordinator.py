"""FindCoordinator (key 10), v0-6: which broker coordinates a group or a transactional id.

v1 added the key type (0 group, 1 transaction) and an error message, v3 became flexible, v4
batches several keys in one request (KIP-699). A single node coordinates everything: groups
through its group coordinator, transactional ids through the transaction coordinator that lives
in this process too. With an authorizer, finding a group's coordinator needs DESCRIBE on the
group, a transactional id's DESCRIBE on the id.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import FindCoordinatorRequest, FindCoordinatorResponse

from kbroker.handlers.authorized_operations import MESSAGES, Op, Resource, allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.txn.state_log import STATE_TOPIC as TRANSACTION_STATE_TOPIC

FIND_COORDINATOR = 10
GROUP_KEY = 0
TRANSACTION_KEY = 1


def locate(ctx: RequestContext, key: str, key_type: int) -> FindCoordinatorResponse.Coordinator:
    if key_type not in (GROUP_KEY, TRANSACTION_KEY):
        return FindCoordinatorResponse.Coordinator(key=key, node_id=-1, host="", port=-1,
                                                   error_code=ErrorCode.INVALID_REQUEST,
                                                   error_message=f"Unknown coordinator type {key_type}")
    refusal = ErrorCode.GROUP_AUTHORIZATION_FAILED if key_type == GROUP_KEY else \
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if not allowed(ctx, Op.DESCRIBE, Resource.GROUP if key_type == GROUP_KEY else Resource.TRANSACTIONAL_ID, key):
        return FindCoordinatorResponse.Coordinator(key=key, node_id=-1, host="", port=-1, error_code=refusal,
                                                   error_message=MESSAGES[refusal])
    # As Kafka does, the first lookup creates the coordinator's internal topic, so that a group's
    # or transaction's first write does not pay for creating its partitions.
    # In a cluster the coordinator is the leader of that partition.
    if key_type == GROUP_KEY:
        where = ctx.broker.offsets_partition(key)
    else:
        where = (TRANSACTION_STATE_TOPIC, ctx.broker.txn_log.partition_of(key))
    found = ctx.broker.leader_address(*where, ctx.listener)
    if found is None:
        return FindCoordinatorResponse.Coordinator(key=key, node_id=-1, host="", port=-1,
                                                   error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                                   error_message="The coordinator is not available.")
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
