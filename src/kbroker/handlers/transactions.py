"""The transactional producer's calls to its coordinator: AddPartitionsToTxn (key 24) v0-3,
AddOffsetsToTxn (25) v0-3, EndTxn (26) v0-3 and TxnOffsetCommit (28) v0-3.

AddPartitionsToTxn v4+ (KIP-890's batched and verify-only form, broker to broker) is not served;
clients use v3. TxnOffsetCommit v3 carries the consumer's generation and member id (KIP-447).
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
)

from kbroker.groups import OffsetCommit
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

ADD_PARTITIONS_TO_TXN = 24
ADD_OFFSETS_TO_TXN = 25
END_TXN = 26
TXN_OFFSET_COMMIT = 28


@handles(ADD_PARTITIONS_TO_TXN, 0, 3)
def add_partitions_to_txn(ctx: RequestContext, request: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse:
    wanted = [(t.name, p) for t in request.v3_and_below_topics for p in t.partitions]
    unknown = {tp for tp in wanted if ctx.broker.partition_log(*tp) is None}
    if unknown:  # as Kafka: nothing is added, the others are OPERATION_NOT_ATTEMPTED
        errors = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                  for tp in wanted}
    else:
        error = ctx.broker.transactions.add_partitions(request.v3_and_below_transactional_id,
                                                       request.v3_and_below_producer_id,
                                                       request.v3_and_below_producer_epoch, wanted)
        errors = {tp: error for tp in wanted}
    by_topic: dict[str, list[AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult]] = {}
    for (topic, partition), error in errors.items():
        by_topic.setdefault(topic, []).append(AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult(
            partition_index=partition, partition_error_code=error))
    return AddPartitionsToTxnResponse(results_by_topic_v3_and_below=[
        AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult(name=name, results_by_partition=results)
        for name, results in by_topic.items()])


@handles(ADD_OFFSETS_TO_TXN, 0, 3)
def add_offsets_to_txn(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    return AddOffsetsToTxnResponse(error_code=ctx.broker.transactions.add_offsets(
        request.transactional_id, request.producer_id, request.producer_epoch, request.group_id))


@handles(END_TXN, 0, 3)
def end_txn(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    return EndTxnResponse(error_code=ctx.broker.transactions.end_txn(
        request.transactional_id, request.producer_id, request.producer_epoch, request.committed))


@handles(TXN_OFFSET_COMMIT, 0, 3)
def txn_offset_commit(ctx: RequestContext, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    commits = [OffsetCommit(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch,
                            p.committed_metadata)
               for t in request.topics for p in t.partitions]
    error = ctx.broker.transactions.txn_offset_commit(request.transactional_id, request.producer_id,
                                                      request.producer_epoch, request.group_id, commits)
    return TxnOffsetCommitResponse(topics=[
        TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic(name=t.name, partitions=[
            TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition(partition_index=p.partition_index,
                                                                     error_code=error)
            for p in t.partitions])
        for t in request.topics])
