"""Fetch (key 1), v4-17: read record batches, waiting up to max_wait_ms for min_bytes to arrive.

v4 added the isolation level, last stable offset and aborted transactions; v5 the log start
offset; v7 incremental fetch sessions (KIP-227); v11 the rack id and preferred read replica; v12
became flexible with the last fetched epoch; v13 names topics by id; v15 moved the replica id
into a tagged replica state; v16 names the current leader (and its endpoint) with a
FENCED_LEADER_EPOCH error. Batches come back exactly as they were stored.

A partition whose current leader epoch (v9+) differs from the leader's is answered
FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH with no data, as Kafka does.

With an authorizer a consumer needs READ on each topic and a follower CLUSTER_ACTION on the
cluster; other partitions are answered TOPIC_AUTHORIZATION_FAILED with no data.

In a cluster only the leader serves a partition (NOT_LEADER_OR_FOLLOWER elsewhere). A fetch with
a replica id is a follower's: it reads up to the log end rather than the high watermark, and its
fetch offset tells the leader how far that follower has come. Followers truncate with
OffsetForLeaderEpoch before fetching, so the last fetched epoch (v12+) is not checked here.

A consumer under a `consumer_byte_rate` quota fetches at most what the quota allows in its window
(samples - 1 windows' worth), and one that is over it gets an empty answer with the time it is
throttled for, as Kafka answers; its positions do not move. Followers are exempt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Hashable

from kproto import ErrorCode
from kproto.compression import Codec
from kproto.messages import FetchRequest, FetchResponse

from kbroker.fetch_sessions import FINAL_EPOCH, INITIAL_EPOCH, FetchSessionError, PartitionState
from kbroker.handlers.authorized_operations import Op, Resource, cluster_allowed, denied_names
from kbroker.handlers.context import RequestContext
from kbroker.handlers.leader_epochs import fence_error
from kbroker.handlers.registry import handles
from kbroker.security.quotas import FETCH as FETCH_RATE, clock

FETCH = 1
READ_COMMITTED = 1
# Errors after which the answer names the current leader (KIP-951), so the client moves at once.
MOVED = (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.NOT_LEADER_OR_FOLLOWER)
PartitionKey = tuple[Hashable, int]  # (topic name or topic id, partition index)


@dataclass(slots=True)
class Wanted:
    """One partition a fetch reads, in request (or session) order."""

    key: PartitionKey
    name: str | None  # None for a topic id the broker does not know
    state: PartitionState
    refused: bool = False  # the principal may not read it


ZSTD_MIN_FETCH_VERSION = 10  # the first Fetch version whose clients can read zstd batches


def wanted(ctx: RequestContext, key: PartitionKey, state: PartitionState) -> Wanted:
    topic_key = key[0]
    return Wanted(key, topic_key if isinstance(topic_key, str) else ctx.broker.topic_name(topic_key), state)


def request_partitions(ctx: RequestContext, request: FetchRequest, by_id: bool) -> list[Wanted]:
    return [
        wanted(ctx, (topic.topic_id if by_id else topic.topic, p.partition),
               PartitionState(p.fetch_offset, p.partition_max_bytes, p.current_leader_epoch))
        for topic in request.topics
        for p in topic.partitions
    ]


def read_partitions(ctx: RequestContext, items: list[Wanted], max_bytes: int, committed_only: bool,
                    incremental: bool, replica_id: int = -1
                    ) -> tuple[list[tuple[PartitionKey, FetchResponse.PartitionData]], int]:
    """Read each partition in turn within the request's byte budget; the first batch always fits."""
    broker = ctx.broker
    remaining = max_bytes
    total = 0
    out = []
    for item in items:
        name, index = item.name, item.key[1]
        data = FetchResponse.PartitionData(partition_index=index, aborted_transactions=None, records=b"")
        log = broker.partition_log(name, index) if name is not None else None
        state = item.state
        if name is None:
            data.error_code = ErrorCode.UNKNOWN_TOPIC_ID
        elif item.refused:
            data.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        elif log is None or (broker.cluster is not None and broker.serving_error(name, index)):
            data.error_code = broker.serving_error(name, index) or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        elif ctx.api_version < ZSTD_MIN_FETCH_VERSION and log.config.codec == Codec.ZSTD:
            data.error_code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE  # as Kafka answers a fetcher too old for zstd
        else:
            data.error_code = fence_error(log, state.current_leader_epoch)
        if data.error_code:  # no offsets and no data for this partition
            data.high_watermark = data.last_stable_offset = data.log_start_offset = -1
            if data.error_code in MOVED and ctx.api_version >= 16:
                data.current_leader.leader_id, data.current_leader.leader_epoch = broker.current_leader(name, index)
            out.append((item.key, data))
            continue
        data.high_watermark = log.high_watermark
        data.last_stable_offset = broker.last_stable_offset(log)
        data.log_start_offset = log.log_start_offset
        upper = data.last_stable_offset if committed_only else data.high_watermark
        if replica_id >= 0:
            upper = log.log_end_offset
            broker.cluster.replicas.follower_fetched(name, index, replica_id, state.fetch_offset)
            data.high_watermark = log.high_watermark
        if state.fetch_offset < log.log_start_offset or state.fetch_offset > log.log_end_offset:
            data.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
        elif state.fetch_offset < upper:
            limit = min(state.max_bytes, remaining)
            records = log.read(state.fetch_offset, max(limit, 0), min_one=total == 0, upper=upper)
            if records:
                data.records = records
                total += len(records)
                remaining -= len(records)
            if committed_only:
                data.aborted_transactions = [
                    FetchResponse.AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
                    for t in broker.aborted_transactions(log, state.fetch_offset, upper)]
        if not incremental or data.records or data.error_code or state.moved(data):
            out.append((item.key, data))
    return out, total


def group_by_topic(parts: list[tuple[PartitionKey, FetchResponse.PartitionData]], by_id: bool,
                   ctx: RequestContext) -> list[FetchResponse.FetchableTopicResponse]:
    topics: dict[Hashable, FetchResponse.FetchableTopicResponse] = {}
    for (topic_key, _), data in parts:
        entry = topics.get(topic_key)
        if entry is None:
            entry = FetchResponse.FetchableTopicResponse()
            if by_id:
                entry.topic_id = topic_key
                entry.topic = ctx.broker.topic_name(topic_key) or ""
            else:
                entry.topic = topic_key
            topics[topic_key] = entry
        entry.partitions.append(data)
    return list(topics.values())


def session_partitions(ctx: RequestContext, request: FetchRequest, by_id: bool) -> tuple[list[Wanted], int, bool]:
    """The partitions this fetch reads, its session id for the answer, and whether it is incremental."""
    cache = ctx.broker.fetch_sessions
    requested = request_partitions(ctx, request, by_id)
    if ctx.api_version < 7 or request.session_epoch == FINAL_EPOCH:
        if ctx.api_version >= 7 and request.session_id:
            cache.close(request.session_id)
        return requested, 0, False
    if request.session_id == 0:
        if request.session_epoch != INITIAL_EPOCH:
            raise FetchSessionError(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        session = cache.new_session()
        if session is None:
            return requested, 0, False
        for item in requested:
            session.partitions[item.key] = item.state
        return requested, session.session_id, False
    session = cache.resume(request.session_id, request.session_epoch)
    for item in requested:
        known = session.partitions.get(item.key)
        if known is None:
            session.partitions[item.key] = item.state
        else:
            known.fetch_offset, known.max_bytes = item.state.fetch_offset, item.state.max_bytes
            known.current_leader_epoch = item.state.current_leader_epoch
    for forgotten in request.forgotten_topics_data:
        topic_key = forgotten.topic_id if by_id else forgotten.topic
        for index in forgotten.partitions:
            session.partitions.pop((topic_key, index), None)
    return [wanted(ctx, key, state) for key, state in session.partitions.items()], session.session_id, True


def respond(ctx: RequestContext, items: list[Wanted], parts: list, session_id: int, by_id: bool,
            incremental: bool) -> FetchResponse:
    if ctx.broker.client_quotas.enabled and not ctx.quota_exempt and over_quota(ctx, parts):
        return throttled(ctx, session_id, incremental)
    by_key = {item.key: item for item in items}
    metrics = ctx.broker.metrics
    for key, data in parts:
        item = by_key[key]
        item.state.remember(data)
        if data.records:
            metrics.fetched(item.name, len(data.records))
    response = FetchResponse(error_code=ErrorCode.NONE, session_id=session_id,
                             responses=group_by_topic(parts, by_id, ctx))
    if ctx.api_version >= 16:
        leaders = {data.current_leader.leader_id for _, data in parts if data.error_code in MOVED}
        response.node_endpoints = [FetchResponse.NodeEndpoint(node_id=node_id, host=host, port=port, rack=rack)
                                   for node_id, host, port, rack in ctx.broker.endpoints(leaders, ctx.listener)]
    return response


def throttled(ctx: RequestContext, session_id: int, incremental: bool) -> FetchResponse:
    """The empty answer to a throttled fetch: a session it would have opened is not kept, as in Kafka."""
    if session_id and not incremental:
        ctx.broker.fetch_sessions.close(session_id)
        session_id = 0
    return FetchResponse(error_code=ErrorCode.NONE, session_id=session_id, responses=[],
                         throttle_time_ms=ctx.throttle_time_ms)


def over_quota(ctx: RequestContext, parts: list) -> bool:
    """Count the answer's bytes against the consumer's quota; when that throttles it, the bytes are
    taken back, since the answer will carry none."""
    quotas, now = ctx.broker.client_quotas, clock()
    size = sum(len(data.records) for _, data in parts if data.records)
    ctx.throttle_time_ms = quotas.record(FETCH_RATE, ctx.principal, ctx.client_id, size, now)
    if ctx.throttle_time_ms:
        quotas.unrecord(FETCH_RATE, ctx.principal, ctx.client_id, size, now)
    return ctx.throttle_time_ms > 0


def byte_budget(ctx: RequestContext, max_bytes: int) -> int:
    """The request's max_bytes, capped by the broker's fetch.max.bytes and by what the consumer's
    quota allows in one quota window, as Kafka caps it."""
    max_bytes = min(max_bytes, ctx.broker.config["fetch.max.bytes"])
    quotas = ctx.broker.client_quotas
    most = quotas.window_max(FETCH_RATE, ctx.principal, ctx.client_id) \
        if quotas.enabled and not ctx.quota_exempt else None
    return max_bytes if most is None else min(max_bytes, int(most))


@handles(FETCH, 4, 17)
def fetch(ctx: RequestContext, request: FetchRequest) -> FetchResponse | Awaitable[FetchResponse]:
    """Answer at once when there is enough to send; otherwise return a coroutine that waits."""
    by_id = ctx.api_version >= 13
    try:
        items, session_id, incremental = session_partitions(ctx, request, by_id)
    except FetchSessionError as exc:
        return FetchResponse(error_code=exc.error, session_id=0)
    committed_only = request.isolation_level == READ_COMMITTED
    replica_id = follower_id(ctx, request)
    ctx.quota_exempt = replica_id >= 0
    if ctx.broker.authorizer is not None:
        refuse(ctx, items, replica_id >= 0)
    max_bytes = byte_budget(ctx, request.max_bytes)
    parts, total = read_partitions(ctx, items, max_bytes, committed_only, incremental, replica_id)
    if total >= min(request.min_bytes, max_bytes) or request.max_wait_ms <= 0 or any(data.error_code for _, data in parts):
        return respond(ctx, items, parts, session_id, by_id, incremental)
    keys = [(item.name, item.key[1]) for item in items if item.name]
    # Registered in this turn, before the task that waits starts: an append in between counts.
    waiter = ctx.broker.append_waiter(keys)
    return long_poll(ctx, request, items, session_id, by_id, incremental, replica_id, max_bytes, keys, waiter)


def refuse(ctx: RequestContext, items: list[Wanted], from_follower: bool) -> None:
    """Mark the partitions the principal may not fetch: a follower needs CLUSTER_ACTION, a consumer READ."""
    if from_follower:
        denied = set() if cluster_allowed(ctx, Op.CLUSTER_ACTION) else {item.name for item in items}
    else:
        denied = denied_names(ctx, Op.READ, Resource.TOPIC, (item.name for item in items if item.name is not None))
    for item in items:
        item.refused = item.name in denied


def follower_id(ctx: RequestContext, request: FetchRequest) -> int:
    """The broker id of a follower replica's fetch (in the body before v15, the replica state
    after); -1 for a consumer, and on a single node, which has no followers."""
    if ctx.broker.cluster is None:
        return -1
    return request.replica_id if ctx.api_version < 15 else request.replica_state.replica_id


async def long_poll(ctx: RequestContext, request: FetchRequest, items: list[Wanted], session_id: int,
                    by_id: bool, incremental: bool, replica_id: int, max_bytes: int, keys: list[tuple[str, int]],
                    waiter: asyncio.Future) -> FetchResponse:
    """Wait for appends to the fetched partitions until min_bytes are there or max_wait_ms has passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.max_wait_ms / 1000
    committed_only = request.isolation_level == READ_COMMITTED
    first: asyncio.Future | None = waiter
    while True:
        await ctx.broker.wait_for_append(keys, deadline - loop.time(), first)
        first = None
        parts, total = read_partitions(ctx, items, max_bytes, committed_only, incremental, replica_id)
        if total >= min(request.min_bytes, max_bytes) or loop.time() >= deadline or any(data.error_code for _, data in parts):
            return respond(ctx, items, parts, session_id, by_id, incremental)
