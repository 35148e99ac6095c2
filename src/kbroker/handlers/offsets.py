"""Committed offsets: OffsetCommit (key 8) v0-9, OffsetFetch (9) v0-9, OffsetDelete (47) v0.

OffsetCommit v1 added the generation and member id (and a per-partition commit time, v1 only),
v2-4 carry a retention time, v6 the leader epoch, v7 the instance id, v8 is flexible. OffsetFetch
v2 fetches every offset of a group with null topics and adds a top-level error, v5 the leader
epoch, v7 require-stable (a partition with an offset pending in an open transaction answers
UNSTABLE_OFFSET_COMMIT, so that a read_committed consumer waits for it), v8 several groups per
request, v9 the KIP-848 member id and epoch. Topics and partitions the broker does not host get UNKNOWN_TOPIC_OR_PARTITION, as
Kafka answers them before asking the coordinator. A broker that is not the group's coordinator
answers NOT_COORDINATOR (OffsetFetch v0-1 in every partition, as those versions have no group
error). In a cluster a commit is answered once its records have reached the in-sync replicas of
the group's `__consumer_offsets` partition, as Kafka writes them with acks=-1.

With an authorizer: committing needs READ on the group (else every partition is answered
GROUP_AUTHORIZATION_FAILED) and READ on each topic (TOPIC_AUTHORIZATION_FAILED); fetching needs
DESCRIBE on the group, and leaves out, or refuses when named, topics the principal may not
DESCRIBE; deleting needs DELETE on the group and READ on each topic.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from kproto import ErrorCode
from kproto.messages import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
)

from kbroker.coordinator_log import answer_once_replicated
from kbroker.groups import OffsetCommit
from kbroker.handlers.authorized_operations import Op, Resource, allowed, denied_names
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

OFFSET_COMMIT = 8
OFFSET_FETCH = 9
OFFSET_DELETE = 47


Response = TypeVar("Response")
Errors = dict[tuple[str, int], ErrorCode]


def hosts(ctx: RequestContext, topic: str, partition: int) -> bool:
    info = ctx.broker.topics.get(topic)
    return info is not None and 0 <= partition < info.partitions


def once_replicated(ctx: RequestContext, group_id: str, errors: Errors,
                    build: Callable[[Errors], Response]) -> Response | Awaitable[Response]:
    """The commit's answer, once what it wrote is replicated where the coordinator waits for that;
    a failed wait becomes the error of every commit that was written."""
    written = ErrorCode.NONE in errors.values()
    waiting = ctx.broker.groups.replication(group_id, ctx.broker.config["offsets.commit.timeout.ms"]) \
        if written else None
    return answer_once_replicated(waiting, lambda error: build(
        {tp: error if e == ErrorCode.NONE else e for tp, e in errors.items()} if error else errors))


@handles(OFFSET_COMMIT, 0, 9)
def offset_commit(ctx: RequestContext,
                  request: OffsetCommitRequest) -> OffsetCommitResponse | Awaitable[OffsetCommitResponse]:
    commits: list[OffsetCommit] = []
    errors: dict[tuple[str, int], ErrorCode] = {}
    if not allowed(ctx, Op.READ, Resource.GROUP, request.group_id):
        return commit_answer(request, dict.fromkeys(((t.name, p.partition_index) for t in request.topics
                                                     for p in t.partitions), ErrorCode.GROUP_AUTHORIZATION_FAILED))
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, (t.name for t in request.topics))
    for topic in request.topics:
        for p in topic.partitions:
            if topic.name in refused:
                errors[(topic.name, p.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif hosts(ctx, topic.name, p.partition_index):
                commits.append(OffsetCommit(topic.name, p.partition_index, p.committed_offset,
                                            p.committed_leader_epoch, p.committed_metadata))
            else:
                errors[(topic.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if not request.group_id:
        outcome = [ErrorCode.INVALID_GROUP_ID] * len(commits)
    else:
        outcome = ctx.broker.groups.commit_offsets(
            request.group_id, request.generation_id_or_member_epoch, request.member_id, request.group_instance_id,
            commits, request.retention_time_ms, ctx.api_version)
    errors.update(((c.topic, c.partition), e) for c, e in zip(commits, outcome))
    return once_replicated(ctx, request.group_id, errors, lambda final: commit_answer(request, final))


def commit_answer(request: OffsetCommitRequest, errors: Errors) -> OffsetCommitResponse:
    return OffsetCommitResponse(topics=[
        OffsetCommitResponse.OffsetCommitResponseTopic(name=topic.name, partitions=[
            OffsetCommitResponse.OffsetCommitResponsePartition(
                partition_index=p.partition_index, error_code=errors[(topic.name, p.partition_index)])
            for p in topic.partitions
        ])
        for topic in request.topics
    ])


def fetch_group(ctx: RequestContext, group_id: str, wanted: list[tuple[str, list[int]]] | None,
                require_stable: bool):
    """(topic, [(partition, offset, leader epoch, metadata, error)]) for one group; -1 where nothing is
    committed, or where a transaction's offset is pending and the caller wants stable offsets.
    Topics the principal may not DESCRIBE are left out, or refused after the others when named."""
    groups = ctx.broker.groups
    out = []
    refused: list[tuple[str, list[int]]] = []
    if wanted is not None and ctx.broker.authorizer is not None:
        denied = denied_names(ctx, Op.DESCRIBE, Resource.TOPIC, (topic for topic, _ in wanted))
        refused = [(topic, partitions) for topic, partitions in wanted if topic in denied]
        wanted = [(topic, partitions) for topic, partitions in wanted if topic not in denied]
    for topic, partitions in groups.fetch_offsets(group_id, wanted):
        if wanted is None and not allowed(ctx, Op.DESCRIBE, Resource.TOPIC, topic):
            continue
        rows = []
        for p, o in partitions:
            if require_stable and groups.has_pending_offset(group_id, topic, p):
                rows.append((p, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT))
            else:
                rows.append((p, -1, -1, "", ErrorCode.NONE) if o is None
                            else (p, o.offset, o.leader_epoch, o.metadata, ErrorCode.NONE))
        out.append((topic, rows))
    out += [(topic, [(p, -1, -1, "", ErrorCode.TOPIC_AUTHORIZATION_FAILED) for p in partitions])
            for topic, partitions in refused]
    return out


@handles(OFFSET_FETCH, 0, 9)
def offset_fetch(ctx: RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse:
    if ctx.api_version >= 8:
        groups = []
        for group in request.groups:
            wanted = None if group.topics is None else [(t.name, list(t.partition_indexes)) for t in group.topics]
            error = ErrorCode.GROUP_AUTHORIZATION_FAILED if not allowed(ctx, Op.DESCRIBE, Resource.GROUP, group.group_id) \
                else ctx.broker.groups.check_fetch(group.group_id, group.member_id, group.member_epoch)
            if error:
                groups.append(OffsetFetchResponse.OffsetFetchResponseGroup(group_id=group.group_id, error_code=error))
                continue
            groups.append(OffsetFetchResponse.OffsetFetchResponseGroup(
                group_id=group.group_id, error_code=ErrorCode.NONE,
                topics=[OffsetFetchResponse.OffsetFetchResponseTopics(name=topic, partitions=[
                    OffsetFetchResponse.OffsetFetchResponsePartitions(
                        partition_index=p, committed_offset=o, committed_leader_epoch=e, metadata=m,
                        error_code=error)
                    for p, o, e, m, error in parts])
                    for topic, parts in fetch_group(ctx, group.group_id, wanted, request.require_stable)]))
        return OffsetFetchResponse(groups=groups)
    wanted = None if request.topics is None else [(t.name, list(t.partition_indexes)) for t in request.topics]
    error = ErrorCode.GROUP_AUTHORIZATION_FAILED if not allowed(ctx, Op.DESCRIBE, Resource.GROUP, request.group_id) \
        else ctx.broker.groups.check_fetch(request.group_id, None, -1)
    if error:
        return fetch_refused(ctx.api_version, error, wanted or [])
    return OffsetFetchResponse(error_code=ErrorCode.NONE, topics=[
        OffsetFetchResponse.OffsetFetchResponseTopic(name=topic, partitions=[
            OffsetFetchResponse.OffsetFetchResponsePartition(
                partition_index=p, committed_offset=o, committed_leader_epoch=e, metadata=m,
                error_code=error)
            for p, o, e, m, error in parts])
        for topic, parts in fetch_group(ctx, request.group_id, wanted, request.require_stable)
    ])


def fetch_refused(version: int, error: ErrorCode, wanted: list[tuple[str, list[int]]]) -> OffsetFetchResponse:
    """A v0-7 refusal: v2+ carry the group's error, v0-1 put it in each partition asked for."""
    if version >= 2:
        return OffsetFetchResponse(error_code=error)
    return OffsetFetchResponse(topics=[
        OffsetFetchResponse.OffsetFetchResponseTopic(name=topic, partitions=[
            OffsetFetchResponse.OffsetFetchResponsePartition(partition_index=p, committed_offset=-1, metadata="",
                                                             error_code=error)
            for p in partitions])
        for topic, partitions in wanted])


@handles(OFFSET_DELETE, 0, 0)
def offset_delete(ctx: RequestContext, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
    if not allowed(ctx, Op.DELETE, Resource.GROUP, request.group_id):
        return OffsetDeleteResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    known, unknown = [], set()
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, (t.name for t in request.topics))
    for topic in request.topics:
        if topic.name in refused:
            continue
        partitions = [p.partition_index for p in topic.partitions]
        for index in partitions:
            if not hosts(ctx, topic.name, index):
                unknown.add((topic.name, index))
        known.append((topic.name, [i for i in partitions if (topic.name, i) not in unknown]))
    error, results = ctx.broker.groups.delete_offsets(request.group_id, known)
    if error:
        return OffsetDeleteResponse(error_code=error)
    errors = {(topic, p): e for topic, parts in results for p, e in parts}
    errors.update(dict.fromkeys(unknown, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
    errors.update(((t.name, p.partition_index), ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                  for t in request.topics if t.name in refused for p in t.partitions)
    return OffsetDeleteResponse(error_code=ErrorCode.NONE, topics=[
        OffsetDeleteResponse.OffsetDeleteResponseTopic(name=topic.name, partitions=[
            OffsetDeleteResponse.OffsetDeleteResponsePartition(
                partition_index=p.partition_index, error_code=errors[(topic.name, p.partition_index)])
            for p in topic.partitions])
        for topic in request.topics
    ])
