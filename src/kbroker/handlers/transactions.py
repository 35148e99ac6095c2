"""The transactional producer's calls to its coordinator: AddPartitionsToTxn (key 24) v0-5,
AddOffsetsToTxn (25) v0-3, EndTxn (26) v0-3 and TxnOffsetCommit (28) v0-3.

AddPartitionsToTxn v4+ batches transactions and has a verify-only form (KIP-890); Kafka's brokers
send it to each other, clients use v3 at most. TxnOffsetCommit v3 carries the consumer's
generation and member id (KIP-447). Versions before 2 (InitProducerId before 4) predate the
PRODUCER_FENCED code: those clients are told INVALID_PRODUCER_EPOCH instead, as Kafka does.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

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

from kbroker.coordinator_log import answer_once_replicated, replicated
from kbroker.groups import OffsetCommit
from kbroker.groups.storage import Producer
from kbroker.handlers.context import RequestContext
from kbroker.handlers.offsets import hosts, once_replicated
from kbroker.handlers.registry import handles
from kbroker.txn.verification import ABORTABLE_TXN_OFFSET_COMMIT_VERSION, for_writer

ADD_PARTITIONS_TO_TXN = 24
ADD_OFFSETS_TO_TXN = 25
END_TXN = 26
TXN_OFFSET_COMMIT = 28
FENCED_VERSION = 2  # the first version of AddPartitionsToTxn, AddOffsetsToTxn and EndTxn with PRODUCER_FENCED
FIRST_BATCHED_VERSION = 4

Response = TypeVar("Response")
PartitionResult = AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult
TopicResult = AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult


def for_client(error: ErrorCode, version: int, fenced_version: int = FENCED_VERSION) -> ErrorCode:
    """PRODUCER_FENCED as a client of this version understands it."""
    return ErrorCode.INVALID_PRODUCER_EPOCH if error == ErrorCode.PRODUCER_FENCED and version < fenced_version else error


def once_state_replicated(ctx: RequestContext, transactional_id: str, written: bool,
                          build: Callable[[ErrorCode], Response]) -> Response | Awaitable[Response]:
    """The coordinator's answer, once what it `written` to `__transaction_state` for the id has
    reached the in-sync replicas (in a cluster); `build` gets NONE, or the failed wait's error."""
    waiting = None
    if written:
        waiting = replicated(ctx.broker.txn_log.replicated(transactional_id), ctx.broker.config["request.timeout.ms"])
    return answer_once_replicated(waiting, build)


def with_error(results: list[TopicResult], error: ErrorCode) -> list[TopicResult]:
    return [TopicResult(name=t.name, results_by_partition=[
        PartitionResult(partition_index=p.partition_index, partition_error_code=error) for p in t.results_by_partition])
        for t in results]


def transaction_results(ctx: RequestContext, transactional_id: str, producer_id: int, epoch: int,
                        topics: list[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic],
                        verify_only: bool) -> list[TopicResult]:
    """One transaction's partitions added, or only checked to be in it (verify-only)."""
    wanted = [(t.name, p) for t in topics for p in t.partitions]
    unknown = {tp for tp in wanted if ctx.broker.partition_log(*tp) is None}
    coordinator = ctx.broker.transactions
    if unknown:  # as Kafka: nothing is added, the others are OPERATION_NOT_ATTEMPTED
        errors = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                  for tp in wanted}
    elif verify_only:
        errors = coordinator.verify(transactional_id, producer_id, epoch, wanted)
    else:
        error = for_client(coordinator.add_partitions(transactional_id, producer_id, epoch, wanted), ctx.api_version)
        errors = dict.fromkeys(wanted, error)
    by_topic: dict[str, list[PartitionResult]] = {}
    for (topic, partition), error in errors.items():
        by_topic.setdefault(topic, []).append(PartitionResult(partition_index=partition, partition_error_code=error))
    return [TopicResult(name=name, results_by_partition=results) for name, results in by_topic.items()]


@handles(ADD_PARTITIONS_TO_TXN, 0, 5)
def add_partitions_to_txn(ctx: RequestContext, request: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse:
    if ctx.api_version < FIRST_BATCHED_VERSION:
        results = transaction_results(ctx, request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
                                      request.v3_and_below_producer_epoch, request.v3_and_below_topics,
                                      verify_only=False)
        added = all(p.partition_error_code == ErrorCode.NONE for t in results for p in t.results_by_partition)
        return once_state_replicated(ctx, request.v3_and_below_transactional_id, added, lambda failed: (
            AddPartitionsToTxnResponse(results_by_topic_v3_and_below=with_error(results, failed) if failed else results)))
    return AddPartitionsToTxnResponse(results_by_transaction=[
        AddPartitionsToTxnResponse.AddPartitionsToTxnResult(
            transactional_id=t.transactional_id,
            topic_results=transaction_results(ctx, t.transactional_id, t.producer_id, t.producer_epoch, t.topics,
                                              t.verify_only))
        for t in request.transactions])


@handles(ADD_OFFSETS_TO_TXN, 0, 3)
def add_offsets_to_txn(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    error = ctx.broker.transactions.add_offsets(request.transactional_id, request.producer_id,
                                                request.producer_epoch, request.group_id)
    return once_state_replicated(ctx, request.transactional_id, error == ErrorCode.NONE, lambda failed: (
        AddOffsetsToTxnResponse(error_code=for_client(error or failed, ctx.api_version))))


@handles(END_TXN, 0, 3)
def end_txn(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    error = ctx.broker.transactions.end_txn(request.transactional_id, request.producer_id, request.producer_epoch,
                                            request.committed)
    return once_state_replicated(ctx, request.transactional_id, error == ErrorCode.NONE, lambda failed: (
        EndTxnResponse(error_code=for_client(error or failed, ctx.api_version))))


def commit_in_transaction(ctx: RequestContext, request: TxnOffsetCommitRequest,
                          commits: list[OffsetCommit]) -> list[ErrorCode]:
    """The group's offsets partition must be in the transaction (KIP-890 verification, as Kafka's
    group coordinator asks); the offsets are then written, pending until the transaction ends."""
    broker = ctx.broker
    if not request.group_id:
        return [ErrorCode.INVALID_GROUP_ID] * len(commits)
    verified = broker.verification_error(request.transactional_id, request.producer_id, request.producer_epoch,
                                         broker.offsets_partition(request.group_id))
    error = for_writer(verified, ctx.api_version >= ABORTABLE_TXN_OFFSET_COMMIT_VERSION)
    if error != ErrorCode.NONE:
        return [error] * len(commits)
    return broker.groups.commit_transactional_offsets(
        request.group_id, Producer(request.producer_id, request.producer_epoch), request.generation_id,
        request.member_id, request.group_instance_id, commits)


@handles(TXN_OFFSET_COMMIT, 0, 3)
def txn_offset_commit(ctx: RequestContext,
                      request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse | Awaitable[TxnOffsetCommitResponse]:
    commits: list[OffsetCommit] = []
    errors: dict[tuple[str, int], ErrorCode] = {}
    for t in request.topics:
        for p in t.partitions:
            if hosts(ctx, t.name, p.partition_index):
                commits.append(OffsetCommit(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch,
                                            p.committed_metadata))
            else:  # answered before the coordinator is asked, as Kafka does
                errors[(t.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if commits:
        errors.update(((c.topic, c.partition), e) for c, e in zip(commits, commit_in_transaction(ctx, request, commits)))
    return once_replicated(ctx, request.group_id, errors, lambda final: TxnOffsetCommitResponse(topics=[
        TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic(name=t.name, partitions=[
            TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition(
                partition_index=p.partition_index, error_code=final[(t.name, p.partition_index)])
            for p in t.partitions])
        for t in request.topics]))
