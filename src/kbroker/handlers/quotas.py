"""DescribeClientQuotas (key 48, v0-1) and AlterClientQuotas (key 49, v0-1).

v1 of both became flexible. Quotas are stored and described; kbroker does not throttle clients.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import (
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
)

from kbroker.admin.configs import Refused
from kbroker.admin.quotas import Component, QuotaOp
from kbroker.handlers.authorized_operations import MESSAGES, Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

REFUSED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED  # describing needs DESCRIBE_CONFIGS on the cluster, altering ALTER_CONFIGS

DESCRIBE_CLIENT_QUOTAS = 48
ALTER_CLIENT_QUOTAS = 49


@handles(DESCRIBE_CLIENT_QUOTAS, 0, 1)
def describe_client_quotas(ctx: RequestContext, request: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse:
    components = [Component(c.entity_type, c.match_type, c.match) for c in request.components]
    if not cluster_allowed(ctx, Op.DESCRIBE_CONFIGS):
        return DescribeClientQuotasResponse(error_code=REFUSED, error_message=MESSAGES[REFUSED], entries=None)
    try:
        found = ctx.broker.quotas.describe(components, request.strict)
    except Refused as exc:
        return DescribeClientQuotasResponse(error_code=exc.error, error_message=exc.message, entries=None)
    return DescribeClientQuotasResponse(error_message=None, entries=[
        DescribeClientQuotasResponse.EntryData(
            entity=[DescribeClientQuotasResponse.EntityData(entity_type=kind, entity_name=name)
                    for kind, name in sorted(entity, key=lambda pair: pair[0])],
            values=[DescribeClientQuotasResponse.ValueData(key=key, value=value) for key, value in sorted(values.items())])
        for entity, values in found])


@handles(ALTER_CLIENT_QUOTAS, 0, 1)
def alter_client_quotas(ctx: RequestContext, request: AlterClientQuotasRequest) -> AlterClientQuotasResponse:
    results = []
    refused = not cluster_allowed(ctx, Op.ALTER_CONFIGS)
    for entry in request.entries:
        pairs = [(e.entity_type, e.entity_name) for e in entry.entity]
        error, message = ErrorCode.NONE, None
        try:
            if refused:
                raise Refused(REFUSED, MESSAGES[REFUSED])
            ctx.broker.quotas.alter(pairs, [QuotaOp(op.key, op.value, op.remove) for op in entry.ops],
                                    request.validate_only)
        except Refused as exc:
            error, message = exc.error, exc.message
        results.append(AlterClientQuotasResponse.EntryData(
            error_code=error, error_message=message,
            entity=[AlterClientQuotasResponse.EntityData(entity_type=k, entity_name=n) for k, n in pairs]))
    return AlterClientQuotasResponse(entries=results)
