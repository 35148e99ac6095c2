"""DescribeTopicPartitions (key 75, v0, flexible): topics and their partitions, paged by a cursor.

Topics come sorted by name (all of them when none are named); at most
`response_partition_limit` partitions are returned (capped at `max.request.partition.size.limit`), and
`next_cursor` says where the next page starts. A cursor naming a topic outside the requested list
is an invalid request, as in Kafka. Topics the principal may not DESCRIBE are left out of the
listing, and answered TOPIC_AUTHORIZATION_FAILED at the end when asked for by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kproto import ErrorCode
from kproto.messages import DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse

from kbroker.handlers.authorized_operations import Op, Resource, allowed, operations
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

if TYPE_CHECKING:
    from kbroker.node import Node

DESCRIBE_TOPIC_PARTITIONS = 75

Response = DescribeTopicPartitionsResponse


def partition_entry(broker: Node, name: str, index: int) -> Response.DescribeTopicPartitionsResponsePartition:
    state = broker.describe_partition(name, index)
    if state is None:
        return Response.DescribeTopicPartitionsResponsePartition(
            error_code=ErrorCode.LEADER_NOT_AVAILABLE, partition_index=index, leader_id=-1, leader_epoch=-1,
            eligible_leader_replicas=[], last_known_elr=[])
    return Response.DescribeTopicPartitionsResponsePartition(
        error_code=ErrorCode.NONE if broker.leader_alive(state) else ErrorCode.LEADER_NOT_AVAILABLE,
        partition_index=index, leader_id=state.leader, leader_epoch=state.leader_epoch,
        replica_nodes=list(state.replicas), isr_nodes=list(state.isr), offline_replicas=list(state.offline),
        eligible_leader_replicas=[], last_known_elr=[])


def one_topic(ctx: RequestContext, name: str, first: int, room: int) -> tuple[Response.DescribeTopicPartitionsResponseTopic, int]:
    """The topic's entry from partition `first` on, at most `room` partitions; and how many it has."""
    broker = ctx.broker
    info = broker.topics.get(name)
    if info is None:
        return Response.DescribeTopicPartitionsResponseTopic(
            error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name,
            topic_authorized_operations=operations(ctx, Resource.TOPIC, name)), 0
    partitions = [partition_entry(broker, name, index) for index in range(first, min(info.partitions, first + room))]
    return Response.DescribeTopicPartitionsResponseTopic(
        name=name, topic_id=info.topic_id, is_internal=info.internal, partitions=partitions,
        topic_authorized_operations=operations(ctx, Resource.TOPIC, name)), info.partitions


@handles(DESCRIBE_TOPIC_PARTITIONS, 0, 0)
def describe_topic_partitions(ctx: RequestContext, request: DescribeTopicPartitionsRequest) -> Response:
    requested = sorted({t.name for t in request.topics})
    names = requested or sorted(info.name for info in ctx.broker.topics)
    cursor = request.cursor
    if cursor is not None and requested and cursor.topic_name not in requested:
        return Response(topics=[Response.DescribeTopicPartitionsResponseTopic(
            error_code=ErrorCode.INVALID_REQUEST, name=name) for name in requested])
    if cursor is not None:
        names = [name for name in names if name >= cursor.topic_name]
    refused = [name for name in names if not allowed(ctx, Op.DESCRIBE, Resource.TOPIC, name)]
    names = [name for name in names if name not in refused] if refused else names
    room = max(1, min(request.response_partition_limit, ctx.broker.config["max.request.partition.size.limit"]))
    topics, next_cursor = [], None
    for name in names:
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        if room == 0:
            next_cursor = Response.Cursor(topic_name=name, partition_index=first)
            break
        topic, count = one_topic(ctx, name, first, room)
        topics.append(topic)
        room -= len(topic.partitions)
        if first + len(topic.partitions) < count:
            next_cursor = Response.Cursor(topic_name=name, partition_index=first + len(topic.partitions))
            break
    if requested:  # named topics the principal may not DESCRIBE are refused, existing or not; unnamed ones left out
        topics += [Response.DescribeTopicPartitionsResponseTopic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                                                 name=name) for name in refused]
    return Response(topics=topics, next_cursor=next_cursor)
