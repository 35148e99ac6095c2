"""InitProducerId (key 22), v0-5, for idempotent and transactional producers.

v3 lets a producer that already has an id ask for an epoch bump (KIP-360), which an idempotent
producer does after an unknown-producer or sequence error. Transactional ids go to the
transaction coordinator, which bumps the epoch to fence older instances.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import InitProducerIdRequest, InitProducerIdResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

INIT_PRODUCER_ID = 22
NO_PRODUCER_ID = -1
MAX_EPOCH = 32767


@handles(INIT_PRODUCER_ID, 0, 5)
def init_producer_id(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    if request.transactional_id is not None:
        result = ctx.broker.transactions.init_producer_id(request.transactional_id, request.transaction_timeout_ms,
                                                          request.producer_id, request.producer_epoch)
        return InitProducerIdResponse(error_code=result.error, producer_id=result.producer_id,
                                      producer_epoch=result.epoch)
    allocator = ctx.broker.producer_ids
    if request.producer_id != NO_PRODUCER_ID and request.producer_epoch + 1 < MAX_EPOCH:
        return InitProducerIdResponse(producer_id=request.producer_id, producer_epoch=request.producer_epoch + 1)
    return InitProducerIdResponse(producer_id=allocator.allocate(), producer_epoch=0)
