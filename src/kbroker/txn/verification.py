"""KIP-890 part 1: a transactional write is checked against the producer's open transaction.

Before the first transactional batch of a producer lands in a partition (Produce), and before the
offsets of a TxnOffsetCommit are written to the group's `__consumer_offsets` partition, the
transaction coordinator is asked, in AddPartitionsToTxn's verify-only form, whether that partition
is in the transaction (`transaction.partition.verification.enable`, on by default). Kafka then
translates the coordinator's answer for the writer; these functions make the same translations.
"""

from __future__ import annotations

from kproto import ErrorCode

ABORTABLE_PRODUCE_VERSION = 11  # Produce v11 and TxnOffsetCommit v4 added TRANSACTION_ABORTABLE
ABORTABLE_TXN_OFFSET_COMMIT_VERSION = 4
NOT_ADDED = "Partition was not added to the transaction"
NOT_IN_TRANSACTION = "Record was not part of an ongoing transaction"
# retriable answers that older producers may not retry: Kafka sends them NOT_ENOUGH_REPLICAS instead
UNVERIFIABLE = frozenset({ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NETWORK_EXCEPTION,
                          ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE,
                          ErrorCode.NOT_COORDINATOR})


def for_writer(error: ErrorCode, knows_abortable: bool) -> ErrorCode:
    """The coordinator's verify-only answer as the writing broker passes it on: a fenced producer
    hears INVALID_PRODUCER_EPOCH, and clients too old for TRANSACTION_ABORTABLE INVALID_TXN_STATE."""
    if error == ErrorCode.PRODUCER_FENCED:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    if error == ErrorCode.TRANSACTION_ABORTABLE and not knows_abortable:
        return ErrorCode.INVALID_TXN_STATE
    return error


def for_produce(error: ErrorCode, produce_version: int) -> tuple[ErrorCode, str | None]:
    """A produce's error and message when its partition's verification failed."""
    error = for_writer(error, produce_version >= ABORTABLE_PRODUCE_VERSION)
    if error == ErrorCode.INVALID_TXN_STATE:
        return error, NOT_ADDED
    if error in UNVERIFIABLE:
        return ErrorCode.NOT_ENOUGH_REPLICAS, ("Unable to verify the partition has been added to the transaction. "
                                               f"Underlying error: {error.name}")
    return error, None
