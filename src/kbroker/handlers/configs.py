"""DescribeConfigs (key 32, v0-4), AlterConfigs (key 33, v0-2), IncrementalAlterConfigs (key 44, v0-1).

DescribeConfigs v0 says `is_default` where v1+ give the config source and, when asked, synonyms;
v3 added config types and documentation (only when asked); v4 became flexible. AlterConfigs
replaces a resource's whole set of dynamic values; IncrementalAlterConfigs (v1 flexible) sets,
deletes, appends to or subtracts from single keys. Both check everything before changing anything
and honour validate_only. The rules live in kbroker.admin.configs.

With an authorizer, a topic's configs need DESCRIBE_CONFIGS or ALTER_CONFIGS on the topic
(TOPIC_AUTHORIZATION_FAILED), a group's on the group (GROUP_AUTHORIZATION_FAILED), a broker's on
the cluster (CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from kproto import ErrorCode
from kproto.messages import (
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
)

from kbroker.admin.configs import AlterOp, Change, Refused, ResourceType, alter, describe
from kbroker.config import ConfigEntry
from kbroker.handlers.authorized_operations import MESSAGES, Op, Resource, allowed, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

DESCRIBE_CONFIGS = 32
ALTER_CONFIGS = 33
INCREMENTAL_ALTER_CONFIGS = 44

Result = DescribeConfigsResponse.DescribeConfigsResourceResult


def refusal(ctx: RequestContext, operation: Op, resource_type: int, name: str) -> ErrorCode:
    """The authorization error for this operation on a config resource, or NONE."""
    if resource_type == ResourceType.TOPIC:
        return ErrorCode.NONE if allowed(ctx, operation, Resource.TOPIC, name) else ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if resource_type in (ResourceType.BROKER, ResourceType.BROKER_LOGGER):
        return ErrorCode.NONE if cluster_allowed(ctx, operation) else ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    if resource_type == ResourceType.GROUP:
        return ErrorCode.NONE if allowed(ctx, operation, Resource.GROUP, name) else ErrorCode.GROUP_AUTHORIZATION_FAILED
    return ErrorCode.NONE


def config_result(entry: ConfigEntry, version: int, request: DescribeConfigsRequest) -> Result:
    """One entry in the shape of `version`: fields a version lacks keep their defaults, as the codec requires."""
    result = Result(name=entry.name, value=entry.value, read_only=entry.read_only, is_sensitive=entry.is_sensitive)
    if version == 0:
        result.is_default = entry.is_default
        return result
    result.config_source = int(entry.source)
    if request.include_synonyms:
        result.synonyms = [DescribeConfigsResponse.DescribeConfigsSynonym(name=s.name, value=s.value, source=int(s.source))
                           for s in entry.synonyms]
    if version >= 3:
        result.config_type = entry.config_type.code
        result.documentation = entry.documentation if request.include_documentation else None
    return result


@handles(DESCRIBE_CONFIGS, 0, 4)
def describe_configs(ctx: RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    results = []
    for resource in request.resources:
        result = DescribeConfigsResponse.DescribeConfigsResult(
            resource_type=resource.resource_type, resource_name=resource.resource_name, error_message=None)
        error = refusal(ctx, Op.DESCRIBE_CONFIGS, resource.resource_type, resource.resource_name)
        if error:
            result.error_code, result.error_message = error, MESSAGES[error]
            results.append(result)
            continue
        try:
            entries = describe(ctx.broker, resource.resource_type, resource.resource_name, resource.configuration_keys)
        except Refused as exc:
            result.error_code, result.error_message = exc.error, exc.message
        else:
            result.configs = [config_result(e, ctx.api_version, request) for e in entries]
        results.append(result)
    return DescribeConfigsResponse(results=results)


def alter_all(ctx: RequestContext, resources: list, changes_of: Callable[[object], list[Change]],
              validate_only: bool, incremental: bool) -> list[tuple[int, str, ErrorCode, str | None]]:
    """(type, name, error, message) per resource; a resource named twice is refused, as Kafka does."""
    counts = Counter((r.resource_type, r.resource_name) for r in resources)
    outcomes = []
    for resource in resources:
        error, message = ErrorCode.NONE, None
        try:
            if counts[(resource.resource_type, resource.resource_name)] > 1:
                raise Refused(ErrorCode.INVALID_REQUEST, "Error due to duplicate resources in the request")
            if error := refusal(ctx, Op.ALTER_CONFIGS, resource.resource_type, resource.resource_name):
                raise Refused(error, None)
            alter(ctx.broker, resource.resource_type, resource.resource_name, changes_of(resource),
                  incremental=incremental, validate_only=validate_only)
        except Refused as exc:
            error, message = exc.error, exc.message
        outcomes.append((resource.resource_type, resource.resource_name, error, message))
    return outcomes


@handles(ALTER_CONFIGS, 0, 2)
def alter_configs(ctx: RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse:
    outcomes = alter_all(ctx, request.resources,
                         lambda r: [Change(c.name, AlterOp.SET, c.value) for c in r.configs],
                         request.validate_only, incremental=False)
    return AlterConfigsResponse(responses=[
        AlterConfigsResponse.AlterConfigsResourceResponse(
            resource_type=kind, resource_name=name, error_code=error, error_message=message)
        for kind, name, error, message in outcomes])


def incremental_changes(resource: IncrementalAlterConfigsRequest.AlterConfigsResource) -> list[Change]:
    changes = []
    for config in resource.configs:
        try:
            op = AlterOp(config.config_operation)
        except ValueError:
            raise Refused(ErrorCode.INVALID_REQUEST, f"Unknown alter config operation {config.config_operation}") from None
        changes.append(Change(config.name, op, config.value))
    return changes


@handles(INCREMENTAL_ALTER_CONFIGS, 0, 1)
def incremental_alter_configs(ctx: RequestContext,
                              request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse:
    outcomes = alter_all(ctx, request.resources, incremental_changes, request.validate_only, incremental=True)
    return IncrementalAlterConfigsResponse(responses=[
        IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
            resource_type=kind, resource_name=name, error_code=error, error_message=message)
        for kind, name, error, message in outcomes])
