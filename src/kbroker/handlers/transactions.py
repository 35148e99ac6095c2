"""The transactional producer's calls to its coordinator: AddPartitionsToTxn (key 24) v0-5,
AddOffsetsToTxn (25) v0-3, EndTxn (26) v0-3 and TxnOffsetCommit (28) v0-3.

AddPartitionsToTxn v4+ batches transactions and has a verify-only form (KIP-890); Kafka's brokers
send it to each other, clients use v3 at most. TxnOffsetCommit v3 carries the consumer's
generation and member id (KIP-447). Versions before 2 (InitProducerId before 4) predate the
PRODUCER_FENCED code: those clients are told INVALID_PRODUCER_EPOCH instead, as Kafka does.

With an authorizer each needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
adding partitions needs WRITE on their topics, adding offsets and committing them READ on the
group, committing READ on each topic. Clients may not add an internal topic to a transaction
(TOPIC_AUTHORIZATION_FAILED, authorizer or not, as Kafka answers); AddPartitionsToTxn v4+ comes
from brokers and needs CLUSTER_ACTION.
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
from kbroker.handlers.authorized_operations import Op, Resource, allowed, cluster_allowed, denied_names
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


def refused_topics(ctx: RequestContext, transactional_id: str, topics: list[str], from_client: bool) -> ErrorCode | set[str]:
    """What a client may not add: everything (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), or these topics."""
    if not from_client:
        return set()
    if not allowed(ctx, Op.WRITE, Resource.TRANSACTIONAL_ID, transactional_id):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    internal = {name for name in topics if (info := ctx.broker.topics.get(name)) is not None and info.internal}
    return internal | denied_names(ctx, Op.WRITE, Resource.TOPIC, (name for name in topics if name not in internal))


def transaction_results(ctx: RequestContext, transactional_id: str, producer_id: int, epoch: int,
                        topics: list[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic],
                        verify_only: bool) -> list[TopicResult]:
    """One transaction's partitions added, or only checked to be in it (verify-only)."""
    wanted = [(t.name, p) for t in topics for p in t.partitions]
    refused = refused_topics(ctx, transactional_id, [t.name for t in topics], ctx.api_version < FIRST_BATCHED_VERSION)
    failed = {tp: ErrorCode.TOPIC_AUTHORIZATION_FAILED for tp in wanted if tp[0] in refused} \
        if isinstance(refused, set) else dict.fromkeys(wanted, refused)
    failed.update((tp, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) for tp in wanted
                  if tp not in failed and ctx.broker.partition_log(*tp) is None)
    coordinator = ctx.broker.transactions
    if failed:  # as Kafka: nothing is added, the others are OPERATION_NOT_ATTEMPTED
        errors = {tp: failed.get(tp, ErrorCode.OPERATION_NOT_ATTEMPTED) for tp in wanted}
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
    if not cluster_allowed(ctx, Op.CLUSTER_ACTION):
        return AddPartitionsToTxnResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    return AddPartitionsToTxnResponse(results_by_transaction=[
        AddPartitionsToTxnResponse.AddPartitionsToTxnResult(
            transactional_id=t.transactional_id,
            topic_results=transaction_results(ctx, t.transactional_id, t.producer_id, t.producer_epoch, t.topics,
                                              t.verify_only))
        for t in request.transactions])


def writer_refusal(ctx: RequestContext, transactional_id: str, group_id: str) -> ErrorCode:
    """WRITE on the transactional id, then READ on the group whose offsets join the transaction."""
    if not allowed(ctx, Op.WRITE, Resource.TRANSACTIONAL_ID, transactional_id):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if not allowed(ctx, Op.READ, Resource.GROUP, group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED
    return ErrorCode.NONE


@handles(ADD_OFFSETS_TO_TXN, 0, 3)
def add_offsets_to_txn(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    refusal = writer_refusal(ctx, request.transactional_id, request.group_id)
    if refusal:
        return AddOffsetsToTxnResponse(error_code=refusal)
    error = ctx.broker.transactions.add_offsets(request.transactional_id, request.producer_id,
                                                request.producer_epoch, request.group_id)
    return once_state_replicated(ctx, request.transactional_id, error == ErrorCode.NONE, lambda failed: (
        AddOffsetsToTxnResponse(error_code=for_client(error or failed, ctx.api_version))))


@handles(END_TXN, 0, 3)
def end_txn(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    if not allowed(ctx, Op.WRITE, Resource.TRANSACTIONAL_ID, request.transactional_id):
        return EndTxnResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
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
    refusal = writer_refusal(ctx, request.transactional_id, request.group_id)
    refused = denied_names(ctx, Op.READ, Resource.TOPIC, (t.name for t in request.topics)) if not refusal else set()
    for t in request.topics:
        for p in t.partitions:
            if refusal or t.name in refused:
                errors[(t.name, p.partition_index)] = refusal or ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif hosts(ctx, t.name, p.partition_index):
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
