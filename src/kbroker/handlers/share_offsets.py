"""AlterShareGroupOffsets (key 91) v0 and DeleteShareGroupOffsets (92) v0: an operator moves or
forgets a share group's share-partition start offsets (KIP-932, `kafka-share-groups.sh
--reset-offsets` and `--delete-offsets`).

Both need the group to exist as a share group and to be empty, as Kafka's coordinator requires:
GROUP_ID_NOT_FOUND ("Group g not found." / "Group g is not a share group.") and NON_EMPTY_GROUP
are answered for the whole request. Altering starts each named partition again at the given
offset with nothing in flight; deleting forgets the group's partitions of each named topic, so its
next fetch starts where `share.auto.offset.reset` says. A topic that does not exist, a partition
past its count, and (deleting) a topic of which the group initialized no share partition (as its
ShareGroupStatePartitionMetadata says) get UNKNOWN_TOPIC_OR_PARTITION.

With an authorizer, altering needs READ on the group, deleting DELETE (else
GROUP_AUTHORIZATION_FAILED); both need READ on each topic (else TOPIC_AUTHORIZATION_FAILED for it).
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import (
    AlterShareGroupOffsetsRequest,
    AlterShareGroupOffsetsResponse,
    DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse,
)
from kproto.model import ZERO_UUID

from kbroker.handlers.authorized_operations import MESSAGES, Op, Resource, allowed, denied_names
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

ALTER_SHARE_GROUP_OFFSETS = 91
DELETE_SHARE_GROUP_OFFSETS = 92
UNKNOWN_PARTITION = "This server does not host this topic-partition."
NOTHING_TO_DELETE = "There is no offset information to delete."


def group_refusal(ctx: RequestContext, group_id: str, operation: Op) -> tuple[ErrorCode, str] | None:
    """Why the request may not touch this group's offsets, as Kafka answers for the whole request."""
    if not allowed(ctx, operation, Resource.GROUP, group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED, MESSAGES[ErrorCode.GROUP_AUTHORIZATION_FAILED]
    if not group_id:
        return ErrorCode.INVALID_GROUP_ID, "The configured groupId is invalid."
    coordinator = ctx.broker.groups
    group = coordinator.share.groups.get(group_id)
    if group is None:
        if group_id in coordinator.groups or group_id in coordinator.consumer.groups:
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group."
        return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found."
    if group.members:
        return ErrorCode.NON_EMPTY_GROUP, "The group is not empty."
    return None


@handles(ALTER_SHARE_GROUP_OFFSETS, 0, 0, single_node_only=True)
def alter_share_group_offsets(ctx: RequestContext,
                              request: AlterShareGroupOffsetsRequest) -> AlterShareGroupOffsetsResponse:
    R = AlterShareGroupOffsetsResponse
    group_id = request.group_id
    if refusal := group_refusal(ctx, group_id, Op.READ):
        return R(error_code=refusal[0], error_message=refusal[1])
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, [t.topic_name for t in request.topics])
    topics = []
    for wanted in request.topics:
        info = ctx.broker.topics.get(wanted.topic_name)
        answered = []
        for p in wanted.partitions:
            part = R.AlterShareGroupOffsetsResponsePartition(partition_index=p.partition_index)
            if wanted.topic_name in refused:
                part.error_code, part.error_message = (ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                                       MESSAGES[ErrorCode.TOPIC_AUTHORIZATION_FAILED])
            elif info is None or not 0 <= p.partition_index < info.partitions:
                part.error_code, part.error_message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_PARTITION
            else:
                ctx.broker.shares.reset(group_id, wanted.topic_name, info.topic_id, p.partition_index, p.start_offset)
            answered.append(part)
        topics.append(R.AlterShareGroupOffsetsResponseTopic(
            topic_name=wanted.topic_name, topic_id=info.topic_id if info is not None else ZERO_UUID,
            partitions=answered))
    return R(responses=topics)


@handles(DELETE_SHARE_GROUP_OFFSETS, 0, 0, single_node_only=True)
def delete_share_group_offsets(ctx: RequestContext,
                               request: DeleteShareGroupOffsetsRequest) -> DeleteShareGroupOffsetsResponse:
    R = DeleteShareGroupOffsetsResponse
    group_id, shares = request.group_id, ctx.broker.shares
    if refusal := group_refusal(ctx, group_id, Op.DELETE):
        return R(error_code=refusal[0], error_message=refusal[1])
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, [t.topic_name for t in request.topics])
    topics = []
    for wanted in request.topics:
        name = wanted.topic_name
        info = ctx.broker.topics.get(name)
        topic = R.DeleteShareGroupOffsetsResponseTopic(topic_name=name)
        held = sorted(ctx.broker.groups.share.groups[group_id].initialized.get(name, ()))
        if name in refused:
            topic.error_code, topic.error_message = (ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                                     MESSAGES[ErrorCode.TOPIC_AUTHORIZATION_FAILED])
        elif info is None:
            topic.error_code, topic.error_message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_PARTITION
        elif not held:
            topic.error_code, topic.error_message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, NOTHING_TO_DELETE
        else:
            topic.topic_id = info.topic_id
            for index in held:
                shares.delete(group_id, name, info.topic_id, index)
        topics.append(topic)
    return R(responses=topics)
