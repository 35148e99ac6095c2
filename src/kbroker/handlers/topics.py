"""CreateTopics (key 19, v0-7) and DeleteTopics (key 20, v0-6).

CreateTopics v1 added validate-only and error messages, v4 let -1 partitions or replication
factor mean the broker's defaults, v5 returns the created topic's configs, v7 its topic id.
DeleteTopics v6 can name topics by id.

Under a `controller_mutation_rate` client quota (KIP-599) each topic's partitions count against
the client's quota as it is created or deleted; from CreateTopics v6 and DeleteTopics v5 a topic
asked for while the quota is overdrawn gets THROTTLING_QUOTA_EXCEEDED, and before those versions
the answer's throttle time alone tells the client to slow down.

With an authorizer, creating needs CREATE on the cluster or on the topic, and the created topic's
configs are shown only with DESCRIBE_CONFIGS on it (else topic_config_error_code says
TOPIC_AUTHORIZATION_FAILED); deleting needs DELETE on the topic, and a topic named by id also
DESCRIBE, without which its name is not told.
"""

from __future__ import annotations

from collections import Counter

from kproto import ErrorCode
from kproto.messages import CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse
from kproto.model import ZERO_UUID

from kbroker.handlers.authorized_operations import Op, Resource, allowed, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.security.quotas import MutationQuota

CREATE_TOPICS = 19
DELETE_TOPICS = 20
#: The first versions whose topics a controller mutation quota may refuse, as Kafka's.
STRICT_CREATE_TOPICS = 6
STRICT_DELETE_TOPICS = 5


def created_configs(ctx: RequestContext, name: str) -> list[CreateTopicsResponse.CreatableTopicConfigs]:
    return [
        CreateTopicsResponse.CreatableTopicConfigs(
            name=entry.name, value=entry.value, read_only=entry.read_only,
            config_source=entry.source, is_sensitive=entry.sensitive,
        )
        for entry in ctx.broker.describe_topic_configs(name)
    ]


def mutation_quota(ctx: RequestContext, strict_since: int) -> MutationQuota:
    return ctx.broker.client_quotas.mutation_quota(ctx.principal, ctx.client_id, ctx.api_version >= strict_since)


def create_one(ctx: RequestContext, topic: CreateTopicsRequest.CreatableTopic, validate_only: bool,
               duplicated: bool, may_create: bool, quota: MutationQuota) -> CreateTopicsResponse.CreatableTopicResult:
    broker = ctx.broker
    result = CreateTopicsResponse.CreatableTopicResult(name=topic.name, configs=None)
    may_describe_configs = allowed(ctx, Op.DESCRIBE_CONFIGS, Resource.TOPIC, topic.name)
    if not may_describe_configs:
        result.topic_config_error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if duplicated:
        result.error_code = ErrorCode.INVALID_REQUEST
        result.error_message = f"Create topics request from client `{ctx.client_id}` contains multiple entries for the topic {topic.name}."
        return result
    if not (may_create or allowed(ctx, Op.CREATE, Resource.TOPIC, topic.name)):
        result.error_code, result.error_message = ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed."
        result.num_partitions = result.replication_factor = -1
        return result
    assignments = {a.partition_index: a.broker_ids for a in topic.assignments}
    configs = {c.name: c.value for c in topic.configs}
    error, message = broker.create_topic(
        topic.name, topic.num_partitions, topic.replication_factor, configs,
        assignments=assignments or None, validate_only=validate_only, admit=quota.admit,
    )
    result.error_code = error
    result.error_message = message
    if error == ErrorCode.NONE:
        info = broker.topics.get(topic.name)
        result.topic_id = info.topic_id if info else ZERO_UUID
        result.num_partitions = info.partitions if info else broker.default_partitions(topic.num_partitions, assignments)
        result.replication_factor = 1
        result.configs = created_configs(ctx, topic.name) if info and may_describe_configs else []
    else:
        result.num_partitions = -1
        result.replication_factor = -1
    return result


@handles(CREATE_TOPICS, 0, 7)
def create_topics(ctx: RequestContext, request: CreateTopicsRequest) -> CreateTopicsResponse:
    counts = Counter(topic.name for topic in request.topics)
    may_create = cluster_allowed(ctx, Op.CREATE)
    quota = mutation_quota(ctx, STRICT_CREATE_TOPICS)
    results = [create_one(ctx, topic, request.validate_only, counts[topic.name] > 1, may_create, quota)
               for topic in request.topics]
    ctx.throttle_time_ms = max(ctx.throttle_time_ms, quota.throttle_ms())
    return CreateTopicsResponse(topics=results)


@handles(DELETE_TOPICS, 0, 6)
def delete_topics(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    broker = ctx.broker
    quota = mutation_quota(ctx, STRICT_DELETE_TOPICS)
    wanted: list[tuple[str | None, object]] = [(name, ZERO_UUID) for name in request.topic_names]
    wanted += [(state.name, state.topic_id) for state in request.topics]
    results = []
    for name, topic_id in wanted:
        info = broker.topics.get(name) if name is not None else broker.topics.by_id(topic_id)
        result = DeleteTopicsResponse.DeletableTopicResult(name=name, topic_id=topic_id)
        if name is None and info is not None and not allowed(ctx, Op.DESCRIBE, Resource.TOPIC, info.name):
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED  # by id: the id is told, the name is not
        elif name is None and info is None:
            result.error_code = ErrorCode.UNKNOWN_TOPIC_ID
            result.error_message = "This server does not host this topic-partition."
        elif not allowed(ctx, Op.DELETE, Resource.TOPIC, info.name if info else name):
            result.name = info.name if info else name
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        elif info is None:
            result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            result.error_message = "This server does not host this topic-partition."
        else:
            result.name, result.topic_id = info.name, info.topic_id
            result.error_code, result.error_message = broker.delete_topic(info.name, quota.admit)
        results.append(result)
    ctx.throttle_time_ms = max(ctx.throttle_time_ms, quota.throttle_ms())
    return DeleteTopicsResponse(responses=results)
