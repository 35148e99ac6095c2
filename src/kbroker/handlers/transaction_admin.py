"""The KIP-664 admin calls for hanging transactions: DescribeProducers (key 61) v0,
DescribeTransactions (65) v0, ListTransactions (66) v0-2, and WriteTxnMarkers (27) v0-2, with
which an admin client aborts a transaction in a partition (kafka-transactions.sh abort).

ListTransactions v1 added the duration filter (KIP-994), v2 a transactional-id pattern, a regular
expression the whole id must match (Python's `re`, which reads the usual patterns as Java does).
WriteTxnMarkers is an inter-broker call in Kafka; v2's transaction version is not needed here.

With an authorizer: describing producers needs READ on the topic, describing a transaction
DESCRIBE on its id (and its topics are shown only where the principal may DESCRIBE them), listing
shows only the ids it may DESCRIBE, and writing markers needs ALTER or CLUSTER_ACTION on the cluster.
"""

from __future__ import annotations

import re
import time

from kproto import ErrorCode
from kproto.messages import (
    DescribeProducersRequest,
    DescribeProducersResponse,
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    ListTransactionsRequest,
    ListTransactionsResponse,
    WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
)

from kbroker.handlers.authorized_operations import Op, Resource, allowed, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles
from kbroker.txn.coordinator import TxnMetadata, TxnState

WRITE_TXN_MARKERS = 27
DESCRIBE_PRODUCERS = 61
DESCRIBE_TRANSACTIONS = 65
LIST_TRANSACTIONS = 66
STATE_NAMES = {state.value for state in TxnState} | {"Dead", "PrepareEpochFence"}  # Kafka's, some never used here


def partition_producers(ctx: RequestContext, topic: str, index: int) -> DescribeProducersResponse.PartitionResponse:
    if not allowed(ctx, Op.READ, Resource.TOPIC, topic):
        return DescribeProducersResponse.PartitionResponse(partition_index=index,
                                                           error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    plog, error = ctx.broker.leader_log(topic, index)
    if plog is None:
        return DescribeProducersResponse.PartitionResponse(partition_index=index, error_code=error)
    return DescribeProducersResponse.PartitionResponse(partition_index=index, active_producers=[
        DescribeProducersResponse.ProducerState(
            producer_id=e.producer_id, producer_epoch=e.epoch, last_sequence=e.last_seq,
            last_timestamp=e.last_timestamp, coordinator_epoch=e.coordinator_epoch,
            current_txn_start_offset=e.current_txn_first_offset)
        for e in ctx.broker.producer_states(plog).producers.values()])


@handles(DESCRIBE_PRODUCERS, 0, 0)
def describe_producers(ctx: RequestContext, request: DescribeProducersRequest) -> DescribeProducersResponse:
    return DescribeProducersResponse(topics=[
        DescribeProducersResponse.TopicResponse(
            name=t.name, partitions=[partition_producers(ctx, t.name, i) for i in t.partition_indexes])
        for t in request.topics])


def transaction_state(ctx: RequestContext, transactional_id: str, txn: TxnMetadata | None,
                      error: ErrorCode = ErrorCode.NONE) -> DescribeTransactionsResponse.TransactionState:
    """The id's state; `error` when this broker is not its coordinator."""
    if not allowed(ctx, Op.DESCRIBE, Resource.TRANSACTIONAL_ID, transactional_id):
        return DescribeTransactionsResponse.TransactionState(
            error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, transactional_id=transactional_id)
    if txn is None or error:
        error = error or (ErrorCode.TRANSACTIONAL_ID_NOT_FOUND if transactional_id else ErrorCode.INVALID_REQUEST)
        return DescribeTransactionsResponse.TransactionState(
            error_code=error, transactional_id=transactional_id, producer_id=-1, producer_epoch=-1,
            transaction_start_time_ms=-1)
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(txn.partitions):
        if allowed(ctx, Op.DESCRIBE, Resource.TOPIC, topic):
            by_topic.setdefault(topic, []).append(partition)
    return DescribeTransactionsResponse.TransactionState(
        transactional_id=transactional_id, transaction_state=txn.state.value, transaction_timeout_ms=txn.timeout_ms,
        transaction_start_time_ms=txn.start_ms, producer_id=txn.producer_id, producer_epoch=txn.epoch,
        topics=[DescribeTransactionsResponse.TopicData(topic=t, partitions=p) for t, p in by_topic.items()])


@handles(DESCRIBE_TRANSACTIONS, 0, 0)
def describe_transactions(ctx: RequestContext, request: DescribeTransactionsRequest) -> DescribeTransactionsResponse:
    coordinator = ctx.broker.transactions
    return DescribeTransactionsResponse(transaction_states=[
        transaction_state(ctx, tid, coordinator.transactions.get(tid), coordinator.availability(tid))
        for tid in request.transactional_ids])


@handles(LIST_TRANSACTIONS, 0, 2)
def list_transactions(ctx: RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse:
    states = set(request.state_filters or [])
    producer_ids = set(request.producer_id_filters or [])
    duration = request.duration_filter if request.duration_filter is not None else -1
    try:
        pattern = re.compile(request.transactional_id_pattern) if request.transactional_id_pattern else None
    except re.error:
        return ListTransactionsResponse(error_code=ErrorCode.INVALID_REGULAR_EXPRESSION)
    now = int(time.time() * 1000)
    matching = [
        txn for txn in ctx.broker.transactions.transactions.values()
        if (not states or txn.state.value in states) and (not producer_ids or txn.producer_id in producer_ids)
        and (duration < 0 or now - txn.start_ms > duration)
        and (pattern is None or pattern.fullmatch(txn.transactional_id))
        and allowed(ctx, Op.DESCRIBE, Resource.TRANSACTIONAL_ID, txn.transactional_id)
    ]
    return ListTransactionsResponse(
        unknown_state_filters=sorted(states - STATE_NAMES),
        transaction_states=[
            ListTransactionsResponse.TransactionState(transactional_id=txn.transactional_id,
                                                      producer_id=txn.producer_id, transaction_state=txn.state.value)
            for txn in matching])


@handles(WRITE_TXN_MARKERS, 0, 2)
def write_txn_markers(ctx: RequestContext, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    """Each marker written to each of its partitions, with Kafka's checks of producer and coordinator epoch."""
    refused = not (cluster_allowed(ctx, Op.ALTER) or cluster_allowed(ctx, Op.CLUSTER_ACTION))

    def written(marker: WriteTxnMarkersRequest.WritableTxnMarker, topic: str, index: int) -> ErrorCode:
        if refused:
            return ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        return ctx.broker.write_txn_marker(topic, index, marker.producer_id, marker.producer_epoch,
                                           marker.transaction_result, marker.coordinator_epoch)

    return WriteTxnMarkersResponse(markers=[
        WriteTxnMarkersResponse.WritableTxnMarkerResult(producer_id=marker.producer_id, topics=[
            WriteTxnMarkersResponse.WritableTxnMarkerTopicResult(name=topic.name, partitions=[
                WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult(
                    partition_index=index, error_code=written(marker, topic.name, index))
                for index in topic.partition_indexes])
            for topic in marker.topics])
        for marker in request.markers])
