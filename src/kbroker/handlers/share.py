"""Share groups (KIP-932): ShareGroupHeartbeat (key 76) v1, ShareGroupDescribe (77) v1, ShareFetch
(78) v1-2, ShareAcknowledge (79) v1-2, DescribeShareGroupOffsets (90) v0-1.

Version 0 of each was Kafka 4.0's early access, withdrawn in 4.1; clients speak v1. ShareFetch v1
names partitions by topic id, carries the member's acknowledgements of earlier records, and
answers with whole stored batches plus the offset ranges the member acquired; the member takes
only those. DescribeShareGroupOffsets v1 adds the lag. Version 2 of ShareFetch and
ShareAcknowledge (Kafka 4.2) adds the RENEW acknowledgement (KIP-1222: the member keeps the record
under a fresh lock), IsRenewAck (a ShareFetch that only acknowledges: it answers at once and
acquires nothing), ShareFetch's ShareAcquireMode (KIP-1206: 0 batch_optimized, MaxRecords met
with whole batches; 1 record_limit, never more than MaxRecords; another value INVALID_REQUEST),
and the lock timeout in ShareAcknowledge's answer.

Served on a single node only: on a ZooKeeper cluster, as on Kafka's, the share APIs are not
offered (docs/share-groups.md). With an authorizer, a member needs READ on its group (else
GROUP_AUTHORIZATION_FAILED) and READ on each topic it fetches or acknowledges (else
TOPIC_AUTHORIZATION_FAILED for that topic's partitions), describing the group or its offsets DESCRIBE.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Hashable

from kproto import ErrorCode
from kproto.model import ZERO_UUID
from kproto.messages import (
    DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse,
    ShareAcknowledgeRequest,
    ShareAcknowledgeResponse,
    ShareFetchRequest,
    ShareFetchResponse,
    ShareGroupDescribeRequest,
    ShareGroupDescribeResponse,
    ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse,
)
from kproto.records.header import BatchHeader, iter_batch_headers

from kbroker.groups.group_configs import READ_COMMITTED
from kbroker.groups.share_groups import ASSIGNOR, ShareHeartbeat
from kbroker.handlers.authorized_operations import Op, Resource, allowed, authorized_operations, denied_names
from kbroker.handlers.consumer_groups import by_id
from kbroker.handlers.context import RequestContext
from kbroker.handlers.groups import client_host, may_read
from kbroker.handlers.registry import handles
from kbroker.share.partition import V1_ACK_TYPES, V2_ACK_TYPES, AckBatch
from kbroker.share.sessions import FINAL_EPOCH, INITIAL_EPOCH, ShareSession, ShareSessionError

SHARE_GROUP_HEARTBEAT = 76
SHARE_GROUP_DESCRIBE = 77
SHARE_FETCH = 78
SHARE_ACKNOWLEDGE = 79
DESCRIBE_SHARE_GROUP_OFFSETS = 90
PartitionKey = tuple[Hashable, int]  # (topic id, partition index)
BATCH_OPTIMIZED, RECORD_LIMIT = 0, 1  # ShareFetch v2's ShareAcquireMode (KIP-1206)
ACQUIRE_MODES = (BATCH_OPTIMIZED, RECORD_LIMIT)


# ---------------------------------------------------------------- the group


@handles(SHARE_GROUP_HEARTBEAT, 1, 1, single_node_only=True)
def share_group_heartbeat(ctx: RequestContext, request: ShareGroupHeartbeatRequest) -> ShareGroupHeartbeatResponse:
    if not may_read(ctx, request.group_id):
        return ShareGroupHeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    result = ctx.broker.groups.share_heartbeat(ShareHeartbeat(
        group_id=request.group_id, member_id=request.member_id, member_epoch=request.member_epoch,
        rack_id=request.rack_id, subscribed_topics=request.subscribed_topic_names,
        client_id=ctx.client_id, client_host=client_host(ctx)))
    R = ShareGroupHeartbeatResponse
    assignment = None
    if result.assignment is not None:
        assignment = R.Assignment(topic_partitions=by_id(ctx, result.assignment, R.TopicPartitions))
    return R(error_code=result.error, error_message=result.message, member_id=result.member_id,
             member_epoch=result.member_epoch, heartbeat_interval_ms=result.heartbeat_interval_ms,
             assignment=assignment)


@handles(SHARE_GROUP_DESCRIBE, 1, 1, single_node_only=True)
def share_group_describe(ctx: RequestContext, request: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse:
    R = ShareGroupDescribeResponse
    coordinator = ctx.broker.groups
    described = []
    for group_id in request.group_ids:
        group = coordinator.share.groups.get(group_id)
        if not allowed(ctx, Op.DESCRIBE, Resource.GROUP, group_id):
            described.append(R.DescribedGroup(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=group_id))
            continue
        if group is None:
            taken = group_id in coordinator.groups or group_id in coordinator.consumer.groups
            described.append(R.DescribedGroup(
                error_code=ErrorCode.GROUP_ID_NOT_FOUND, group_id=group_id, group_state="Dead",
                error_message=f"Group {group_id} is not a share group." if taken else f"Group {group_id} not found."))
            continue
        described.append(R.DescribedGroup(
            group_id=group_id, group_state=group.state, group_epoch=group.group_epoch,
            assignment_epoch=group.assignment_epoch, assignor_name=ASSIGNOR,
            authorized_operations=authorized_operations(ctx, Resource.GROUP, group_id,
                                                        request.include_authorized_operations),
            members=[R.Member(member_id=m.member_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
                              client_id=m.client_id, client_host=m.client_host,
                              subscribed_topic_names=sorted(m.subscribed_topics),
                              assignment=R.Assignment(topic_partitions=by_id(ctx, m.assigned, R.TopicPartitions)))
                     for m in group.members.values()]))
    return R(groups=described)


# ---------------------------------------------------------------- acknowledgements


def acknowledge(ctx: RequestContext, group_id: str, member_id: str, topics: list) -> dict[PartitionKey, ErrorCode]:
    """Apply the acknowledgement batches of each partition; the error of each partition that had any."""
    shares = ctx.broker.shares
    allowed_types = V2_ACK_TYPES if ctx.api_version >= 2 else V1_ACK_TYPES
    out: dict[PartitionKey, ErrorCode] = {}
    names = {topic.topic_id: ctx.broker.topic_name(topic.topic_id) for topic in topics}
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, [n for n in names.values() if n is not None])
    for topic in topics:
        name = names[topic.topic_id]
        for p in topic.partitions:
            if not p.acknowledgement_batches:
                continue
            if name in refused:
                out[(topic.topic_id, p.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                continue
            partition = shares.find(group_id, name, p.partition_index) if name is not None else None
            if partition is None:
                out[(topic.topic_id, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            before = partition.available
            batches = [AckBatch(b.first_offset, b.last_offset, tuple(b.acknowledge_types))
                       for b in p.acknowledgement_batches]
            out[(topic.topic_id, p.partition_index)] = partition.acknowledge(member_id, batches, shares.clock(),
                                                                             allowed_types)
            shares.changed(group_id, name, p.partition_index, released=partition.available > before)
    return out


# ---------------------------------------------------------------- fetching


def session_for_fetch(ctx: RequestContext, request: ShareFetchRequest) -> ShareSession:
    """The share session this fetch belongs to, opened, moved on, or found for closing."""
    sessions = ctx.broker.shares.sessions
    group_id, member_id, epoch = request.group_id or "", request.member_id or "", request.share_session_epoch
    named = [(t.topic_id, p.partition_index) for t in request.topics for p in t.partitions]
    has_acks = any(p.acknowledgement_batches for t in request.topics for p in t.partitions)
    if epoch == INITIAL_EPOCH:
        if has_acks:
            raise ShareSessionError(ErrorCode.INVALID_REQUEST)  # nothing can be held before a session
        if sessions.close(group_id, member_id) is not None:
            ctx.broker.shares.release_member(group_id, member_id)  # what it held goes with the old session
        return sessions.open(group_id, member_id, named)
    session = sessions.find(group_id, member_id, epoch)
    if epoch == FINAL_EPOCH:
        return session
    session.partitions.update(dict.fromkeys(named))
    for forgotten in request.forgotten_topics_data:
        for index in forgotten.partitions:
            session.partitions.pop((forgotten.topic_id, index), None)
    session.advance()
    return session


def end_session(ctx: RequestContext, group_id: str, member_id: str) -> None:
    """The final epoch: the session closes and what the member still holds goes back to the group."""
    ctx.broker.shares.sessions.close(group_id, member_id)
    ctx.broker.shares.release_member(group_id, member_id)


def read_partitions(ctx: RequestContext, request: ShareFetchRequest, keys: list[PartitionKey]
                    ) -> tuple[dict[PartitionKey, ShareFetchResponse.PartitionData], int]:
    """Acquire records of each partition for the member, within the request's byte budget and
    record count; the answers of partitions with records or errors, and the bytes they carry."""
    broker, shares = ctx.broker, ctx.broker.shares
    group_id, member_id = request.group_id or "", request.member_id or ""
    remaining_bytes, remaining_records = request.max_bytes, request.max_records
    out: dict[PartitionKey, ShareFetchResponse.PartitionData] = {}
    total = 0
    names = {topic_id: broker.topic_name(topic_id) for topic_id, _ in keys}
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, [n for n in names.values() if n is not None])
    for topic_id, index in keys:
        data = ShareFetchResponse.PartitionData(partition_index=index, records=b"")
        name = names[topic_id]
        log = broker.partition_log(name, index) if name is not None else None
        if name in refused:
            data.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            out[(topic_id, index)] = data
            continue
        if log is None:
            data.error_code = ErrorCode.UNKNOWN_TOPIC_ID if name is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            out[(topic_id, index)] = data
            continue
        partition = shares.get(group_id, name, topic_id, index, log)
        offset = partition.fetch_offset()
        committed = shares.settings(group_id).share_isolation_level == READ_COMMITTED
        upper = broker.last_stable_offset(log) if committed else log.high_watermark
        if remaining_records <= 0 or remaining_bytes <= 0 or not partition.can_acquire() or offset >= upper:
            continue
        stored = log.read(offset, remaining_bytes, min_one=total == 0, upper=upper)
        spans = [(pos, h) for pos, h in iter_batch_headers(stored)]
        aborted = broker.aborted_transactions(log, offset, upper) if committed else []
        acquired = partition.acquire(member_id, [(h.base_offset, h.last_offset, h.is_control or is_aborted(h, aborted))
                                                 for _, h in spans],
                                     remaining_records, shares.clock(), strict=request.share_acquire_mode == RECORD_LIMIT)
        shares.changed(group_id, name, index, released=False)
        if not acquired:
            continue
        records = b"".join(bytes(stored[pos:pos + h.size]) for pos, h in spans
                           if not h.is_control and any(a.first_offset <= h.last_offset and h.base_offset <= a.last_offset
                                                       for a in acquired))
        data.records = records
        data.acquired_records = [ShareFetchResponse.AcquiredRecords(
            first_offset=a.first_offset, last_offset=a.last_offset, delivery_count=a.delivery_count) for a in acquired]
        data.current_leader.leader_id, data.current_leader.leader_epoch = broker.current_leader(name, index)
        out[(topic_id, index)] = data
        total += len(records)
        remaining_bytes -= len(records)
        remaining_records -= sum(a.last_offset - a.first_offset + 1 for a in acquired)
    return out, total


def is_aborted(header: BatchHeader, aborted: list) -> bool:
    """A batch of a transaction that was aborted: a read_committed share group passes over it as a gap."""
    return header.is_transactional and any(
        t.producer_id == header.producer_id and t.first_offset <= header.base_offset <= t.last_offset for t in aborted)


def fetch_response(ctx: RequestContext, session: ShareSession, parts: dict, acks: dict[PartitionKey, ErrorCode],
                   full: bool) -> ShareFetchResponse:
    """Partitions with records, errors or acknowledgement results; every partition of a new session."""
    R = ShareFetchResponse
    keys = list(session.partitions) if full else [k for k in session.partitions if k in parts or k in acks]
    keys += [k for k in acks if k not in keys]
    topics: dict[Hashable, R.ShareFetchableTopicResponse] = {}
    for key in keys:
        data = parts.get(key) or R.PartitionData(partition_index=key[1], records=b"")
        data.acknowledge_error_code = acks.get(key, ErrorCode.NONE)
        topic = topics.setdefault(key[0], R.ShareFetchableTopicResponse(topic_id=key[0]))
        topic.partitions.append(data)
    return R(acquisition_lock_timeout_ms=ctx.broker.shares.settings(session.group_id).share_record_lock_duration_ms,
             responses=list(topics.values()))


@handles(SHARE_FETCH, 1, 2, single_node_only=True)
def share_fetch(ctx: RequestContext, request: ShareFetchRequest) -> ShareFetchResponse | Awaitable[ShareFetchResponse]:
    """Acknowledge what the request carries, then acquire records; wait for them up to max_wait_ms."""
    group_id, member_id = request.group_id or "", request.member_id or ""
    if not group_id or not member_id or request.share_acquire_mode not in ACQUIRE_MODES:
        return ShareFetchResponse(error_code=ErrorCode.INVALID_REQUEST)
    if not may_read(ctx, group_id):
        return ShareFetchResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    try:
        session = session_for_fetch(ctx, request)
    except ShareSessionError as exc:
        return ShareFetchResponse(error_code=exc.error)
    acks = acknowledge(ctx, group_id, member_id, request.topics)
    full = request.share_session_epoch == INITIAL_EPOCH
    if request.share_session_epoch == FINAL_EPOCH:
        end_session(ctx, group_id, member_id)
        return fetch_response(ctx, session, {}, acks, full)
    if request.is_renew_ack:
        return fetch_response(ctx, session, {}, acks, full)
    keys = list(session.partitions)
    parts, total = read_partitions(ctx, request, keys)
    if (total and total >= request.min_bytes) or request.max_wait_ms <= 0 or any(d.error_code for d in parts.values()):
        return fetch_response(ctx, session, parts, acks, full)
    return long_poll(ctx, request, session, keys, acks, full)


async def long_poll(ctx: RequestContext, request: ShareFetchRequest, session: ShareSession, keys: list[PartitionKey],
                    acks: dict[PartitionKey, ErrorCode], full: bool) -> ShareFetchResponse:
    """Wait for appends to the session's partitions or records of the group coming back, until
    min_bytes are acquired or max_wait_ms has passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.max_wait_ms / 1000
    shares, group_id = ctx.broker.shares, request.group_id or ""
    names = [(ctx.broker.topic_name(t), i) for t, i in keys]
    parts: dict = {}
    while True:
        timeout = deadline - loop.time()
        if timeout > 0:
            released = shares.released_future(group_id)
            appended = asyncio.ensure_future(ctx.broker.wait_for_append([k for k in names if k[0]], timeout))
            try:
                await asyncio.wait([released, appended], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                shares.forget(group_id, released)
                appended.cancel()
        more, total = read_partitions(ctx, request, keys)
        parts.update(more)
        if parts or loop.time() >= deadline:
            return fetch_response(ctx, session, parts, acks, full)


@handles(SHARE_ACKNOWLEDGE, 1, 2, single_node_only=True)
def share_acknowledge(ctx: RequestContext, request: ShareAcknowledgeRequest) -> ShareAcknowledgeResponse:
    """Acknowledgements outside a fetch; the final epoch closes the session and releases the rest."""
    R = ShareAcknowledgeResponse
    group_id, member_id, epoch = request.group_id or "", request.member_id or "", request.share_session_epoch
    if not group_id or not member_id:
        return R(error_code=ErrorCode.INVALID_REQUEST)
    if not may_read(ctx, group_id):
        return R(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if epoch == INITIAL_EPOCH:
        return R(error_code=ErrorCode.INVALID_SHARE_SESSION_EPOCH)
    try:
        session = ctx.broker.shares.sessions.find(group_id, member_id, epoch)
    except ShareSessionError as exc:
        return R(error_code=exc.error)
    acks = acknowledge(ctx, group_id, member_id, request.topics)
    if epoch == FINAL_EPOCH:
        end_session(ctx, group_id, member_id)
    else:
        session.advance()
    topics: dict[Hashable, R.ShareAcknowledgeTopicResponse] = {}
    for (topic_id, index), error in acks.items():
        topic = topics.setdefault(topic_id, R.ShareAcknowledgeTopicResponse(topic_id=topic_id))
        topic.partitions.append(R.PartitionData(partition_index=index, error_code=error))
    answer = R(responses=list(topics.values()))
    if ctx.api_version >= 2:
        answer.acquisition_lock_timeout_ms = ctx.broker.shares.settings(group_id).share_record_lock_duration_ms
    return answer


# ---------------------------------------------------------------- offsets


@handles(DESCRIBE_SHARE_GROUP_OFFSETS, 0, 1, single_node_only=True)
def describe_share_group_offsets(ctx: RequestContext,
                                 request: DescribeShareGroupOffsetsRequest) -> DescribeShareGroupOffsetsResponse:
    """Each share partition's start offset (-1 before its group first fetched it) and, from v1, its
    lag: records up to the high watermark the group has not finished with. All topics means the
    share partitions the group initialized; one not fetched since a restart is taken up from its
    kept state to answer."""
    R = DescribeShareGroupOffsetsResponse
    broker, shares = ctx.broker, ctx.broker.shares
    out = []
    for wanted in request.groups:
        group_id = wanted.group_id
        if not allowed(ctx, Op.DESCRIBE, Resource.GROUP, group_id):
            out.append(R.DescribeShareGroupOffsetsResponseGroup(group_id=group_id,
                                                                error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED))
            continue
        group = broker.groups.share.groups.get(group_id)
        if group is None:
            out.append(R.DescribeShareGroupOffsetsResponseGroup(
                group_id=group_id, error_code=ErrorCode.GROUP_ID_NOT_FOUND,
                error_message=f"Group {group_id} not found."))
            continue
        if wanted.topics is None:
            asked = sorted(group.initialized.items())
        else:
            asked = [(t.topic_name, t.partitions) for t in wanted.topics]
        topics = []
        for name, indexes in asked:
            info = broker.topics.get(name)
            parts = []
            for index in sorted(indexes):
                part = R.DescribeShareGroupOffsetsResponsePartition(partition_index=index, start_offset=-1,
                                                                    leader_epoch=-1)
                partition, log = shares.find(group_id, name, index), broker.partition_log(name, index)
                if partition is None and log is not None and index in group.initialized.get(name, ()):
                    partition = shares.get(group_id, name, info.topic_id, index, log)  # its kept state
                if log is None:
                    part.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif partition is not None:
                    part.start_offset, part.leader_epoch = partition.start_offset, broker.current_leader(name, index)[1]
                    if ctx.api_version >= 1:
                        part.lag = log.high_watermark - partition.next_offset + partition.in_flight()
                parts.append(part)
            topics.append(R.DescribeShareGroupOffsetsResponseTopic(
                topic_name=name, topic_id=info.topic_id if info is not None else ZERO_UUID, partitions=parts))
        out.append(R.DescribeShareGroupOffsetsResponseGroup(group_id=group_id, topics=topics))
    return R(groups=out)
