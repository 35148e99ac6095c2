"""Metadata (key 3), v0-13: brokers, topics and partition leaders; auto-creates topics when allowed.

v1 made a null topic list mean "all topics" (v0 used an empty list); v4 added
AllowAutoTopicCreation; v8-10 carried cluster authorized operations; v10 added topic ids and v12
lookups by id; v13 added a top-level error code.

In a cluster the answer comes from the controller's UpdateMetadata: every live broker, the
controller, and each partition's leader, replicas, ISR and offline replicas; a partition with no
live leader is LEADER_NOT_AVAILABLE, as is a topic just created whose partitions the controller
has not announced yet.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import MetadataRequest, MetadataResponse
from kproto.model import ZERO_UUID

from kbroker.cluster.topics import TopicInfo
from kbroker.handlers.authorized_operations import Op, Resource, allowed, cluster_allowed, cluster_operations, \
    operations
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

METADATA = 3
NONE, LEADER_NOT_AVAILABLE = int(ErrorCode.NONE), int(ErrorCode.LEADER_NOT_AVAILABLE)


def partition_metadata(ctx: RequestContext, info: TopicInfo) -> list[MetadataResponse.MetadataResponsePartition]:
    broker = ctx.broker
    answer = MetadataResponse.MetadataResponsePartition
    found = []
    for index, state in enumerate(broker.describe_partitions(info.name, info.partitions)):
        if state is None:
            found.append(answer(error_code=LEADER_NOT_AVAILABLE, partition_index=index, leader_id=-1, leader_epoch=-1))
            continue
        found.append(answer(
            error_code=NONE if broker.leader_alive(state) else LEADER_NOT_AVAILABLE, partition_index=index,
            leader_id=state.leader, leader_epoch=state.leader_epoch,
            replica_nodes=state.replicas, isr_nodes=state.isr, offline_replicas=state.offline))
    return found


def topic_metadata(ctx: RequestContext, info: TopicInfo) -> MetadataResponse.MetadataResponseTopic:
    return MetadataResponse.MetadataResponseTopic(
        error_code=ErrorCode.NONE, name=info.name, topic_id=info.topic_id, is_internal=info.internal,
        partitions=partition_metadata(ctx, info),
    )


def missing_topic(name: str | None, error: ErrorCode, topic_id=ZERO_UUID) -> MetadataResponse.MetadataResponseTopic:
    return MetadataResponse.MetadataResponseTopic(error_code=error, name=name, topic_id=topic_id)


def requested_topic(ctx: RequestContext, wanted: MetadataRequest.MetadataRequestTopic,
                    auto_create: bool) -> MetadataResponse.MetadataResponseTopic:
    """A topic asked for by name or id. One the principal may not DESCRIBE is refused whether it
    exists or not, so that its existence is not disclosed (an id is not secret: it is answered)."""
    broker = ctx.broker
    if wanted.name is None:
        info = broker.topics.by_id(wanted.topic_id)
        if info is None:
            return missing_topic(None, ErrorCode.UNKNOWN_TOPIC_ID, wanted.topic_id)
        if not allowed(ctx, Op.DESCRIBE, Resource.TOPIC, info.name):
            return missing_topic(None, ErrorCode.TOPIC_AUTHORIZATION_FAILED, info.topic_id)
        return topic_metadata(ctx, info)
    if not allowed(ctx, Op.DESCRIBE, Resource.TOPIC, wanted.name):
        return missing_topic(wanted.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    info = broker.topics.get(wanted.name)
    if info is not None:
        return topic_metadata(ctx, info)
    if not auto_create:
        return missing_topic(wanted.name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if not (cluster_allowed(ctx, Op.CREATE) or allowed(ctx, Op.CREATE, Resource.TOPIC, wanted.name)):
        return missing_topic(wanted.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    error, _ = broker.create_topic(wanted.name, -1, -1, {})
    if error not in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
        return missing_topic(wanted.name, ErrorCode.INVALID_TOPIC_EXCEPTION
                             if error == ErrorCode.INVALID_TOPIC_EXCEPTION else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    info = broker.topics.get(wanted.name)
    if info is None:  # in a cluster: created elsewhere, not announced here yet
        return missing_topic(wanted.name, ErrorCode.LEADER_NOT_AVAILABLE)
    return topic_metadata(ctx, info)


@handles(METADATA, 0, 13)
def metadata(ctx: RequestContext, request: MetadataRequest) -> MetadataResponse:
    broker = ctx.broker
    version = ctx.api_version
    all_topics = request.topics is None or (version == 0 and not request.topics)
    if all_topics:  # leaving out, unmentioned, those the principal may not DESCRIBE
        topics = [topic_metadata(ctx, info) for info in broker.topics
                  if allowed(ctx, Op.DESCRIBE, Resource.TOPIC, info.name)]
    else:
        auto_create = broker.config["auto.create.topics.enable"] and (version < 4 or request.allow_auto_topic_creation)
        topics = [requested_topic(ctx, wanted, auto_create) for wanted in request.topics]
    if request.include_topic_authorized_operations:
        for topic in topics:  # as Kafka: not for an unknown topic id, nor for a topic refused
            if topic.name is not None and topic.error_code != ErrorCode.TOPIC_AUTHORIZATION_FAILED:
                topic.topic_authorized_operations = operations(ctx, Resource.TOPIC, topic.name)
    return MetadataResponse(
        brokers=[MetadataResponse.MetadataResponseBroker(node_id=node_id, host=host, port=port, rack=rack)
                 for node_id, host, port, rack in broker.live_brokers(ctx.listener)],
        cluster_id=broker.cluster_id,
        controller_id=broker.controller_id,
        topics=topics,
        cluster_authorized_operations=cluster_operations(ctx, request.include_cluster_authorized_operations
                                                         and version <= 10),
    )
