"""InitProducerId (key 22), v0-5, for idempotent and transactional producers.

An idempotent producer (no transactional id) always gets a fresh producer id at epoch 0, even
when it names its current one (v3+, KIP-360), as Kafka answers: such a producer bumps its epoch
by itself. Transactional ids go to the transaction coordinator, which bumps the epoch to fence
older instances; clients before v4 are told INVALID_PRODUCER_EPOCH for PRODUCER_FENCED.

With an authorizer a transactional producer needs WRITE on its transactional id
(TRANSACTIONAL_ID_AUTHORIZATION_FAILED), an idempotent one IDEMPOTENT_WRITE on the cluster or, since
KIP-679, WRITE on some topic (CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from typing import Awaitable

from kproto import ErrorCode
from kproto.messages import InitProducerIdRequest, InitProducerIdResponse

from kbroker.handlers.authorized_operations import Op, Resource, allowed, cluster_allowed, may_write_some_topic
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.handlers.transactions import for_client, once_state_replicated

INIT_PRODUCER_ID = 22
FENCED_VERSION = 4


def refusal_of(ctx: RequestContext, transactional_id: str | None) -> ErrorCode:
    if transactional_id is not None:
        if not allowed(ctx, Op.WRITE, Resource.TRANSACTIONAL_ID, transactional_id):
            return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    elif not (cluster_allowed(ctx, Op.IDEMPOTENT_WRITE) or may_write_some_topic(ctx)):
        return ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    return ErrorCode.NONE


@handles(INIT_PRODUCER_ID, 0, 5)
def init_producer_id(ctx: RequestContext,
                     request: InitProducerIdRequest) -> InitProducerIdResponse | Awaitable[InitProducerIdResponse]:
    refusal = refusal_of(ctx, request.transactional_id)
    if refusal:
        return InitProducerIdResponse(error_code=refusal, producer_id=-1, producer_epoch=-1)
    if request.transactional_id is not None:
        result = ctx.broker.transactions.init_producer_id(request.transactional_id, request.transaction_timeout_ms,
                                                          request.producer_id, request.producer_epoch)
        return once_state_replicated(ctx, request.transactional_id, result.error == ErrorCode.NONE, lambda failed: (
            InitProducerIdResponse(error_code=for_client(result.error or failed, ctx.api_version, FENCED_VERSION),
                                   producer_id=-1 if failed else result.producer_id,
                                   producer_epoch=-1 if failed else result.epoch)))
    return InitProducerIdResponse(producer_id=ctx.broker.producer_ids.allocate(), producer_epoch=0)
