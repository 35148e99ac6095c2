"""The transaction coordinator: transactional ids, their producer ids and epochs, and their state.

Every change is handed to `persist` (the `__transaction_state` topic) before it takes effect
elsewhere: PrepareCommit/PrepareAbort is recorded before any marker is written, so a coordinator
that stops half way finishes the markers when it loads the state again. AddOffsetsToTxn adds the
group's `__consumer_offsets` partition to the transaction, as Kafka does: the offsets sent with
TxnOffsetCommit wait there, and the transaction's marker in that partition settles them.

A single node coordinates every transactional id. In a cluster a broker coordinates the ids of
the `__transaction_state` partitions it leads (`elected`, `resigned`) and answers NOT_COORDINATOR
for the others; its markers go to the partitions' leaders, so a transaction stays prepared until
every leader has its marker, and only then completes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kproto import ErrorCode

log = logging.getLogger("kbroker.txn")
MAX_EPOCH = 32767  # producer epochs are int16
NO_PRODUCER_ID = -1
NO_EPOCH = -1

TopicPartition = tuple[str, int]


class TxnState(enum.Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"


@dataclass(slots=True)
class TxnMetadata:
    transactional_id: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = 0
    #: the epoch before the last bump a producer asked for by its epoch (KIP-360), so that a retry of
    #: that InitProducerId gets the bumped epoch again; kept in memory only, as Kafka keeps it
    last_epoch: int = NO_EPOCH
    #: the producer id before the last InitProducerId: after a renewal the old one, so that a KIP-360
    #: retry naming it at its last epoch gets the new id; v0 records do not hold it, as in Kafka
    prev_producer_id: int = NO_PRODUCER_ID


@dataclass(frozen=True, slots=True)
class InitResult:
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    epoch: int = -1


def now_ms() -> int:
    return int(time.time() * 1000)


def epoch_exhausted(epoch: int) -> bool:
    """Kafka hands out epochs up to 32766 and keeps 32767 for fencing: an InitProducerId that
    would bump an epoch of 32766 or more gets a new producer id at epoch 0 instead."""
    return epoch >= MAX_EPOCH - 1


# (transactional id, partitions, producer id, epoch, commit?) -> writes the markers: at once (None),
# or a future that ends when every partition has its marker
MarkerWriter = Callable[[str, Iterable[TopicPartition], int, int, bool], "asyncio.Future | None"]
StateWriter = Callable[[TxnMetadata], None]
# transactional id -> its tombstone written
StateRemover = Callable[[str], None]
# group id -> its __consumer_offsets partition
OffsetsPartition = Callable[[str], TopicPartition]


def may_continue(txn: TxnMetadata, producer_id: int, epoch: int) -> bool:
    """Kafka's check of the producer id a KIP-360 InitProducerId names: the current one, or the one
    before a renewal named with its exhausted epoch (a retry whose answer, the new id, was lost)."""
    return producer_id == txn.producer_id or (producer_id == txn.prev_producer_id and epoch_exhausted(epoch))


class TransactionCoordinator:
    def __init__(self, allocate_id: Callable[[], int], write_markers: MarkerWriter, persist: StateWriter,
                 remove: StateRemover, offsets_partition: OffsetsPartition, max_timeout_ms: int,
                 partition_of: Callable[[str], int] | None = None) -> None:
        self.allocate_id = allocate_id
        self.write_markers = write_markers
        self.persist = persist
        self.remove = remove
        self.offsets_partition = offsets_partition
        self.max_timeout_ms = max_timeout_ms
        self.transactions: dict[str, TxnMetadata] = {}
        #: in a cluster, a transactional id's `__transaction_state` partition, and the partitions this
        #: broker leads and so serves; None on a single node, which serves every id
        self.partition_of = partition_of
        self.served: set[int] | None = None if partition_of is None else set()
        self._markers: dict[str, asyncio.Future] = {}  # transactional id -> its markers still on their way

    def load(self, transactions: Iterable[TxnMetadata]) -> None:
        """Take over stored state, finishing transactions that stopped between prepare and complete."""
        for txn in transactions:
            self.transactions[txn.transactional_id] = txn
            if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                self._finish(txn)

    # -- which transactional ids this coordinator serves (a cluster's brokers share them out)

    def availability(self, transactional_id: str) -> ErrorCode:
        """NONE when this coordinator serves the id; NOT_COORDINATOR when it does not lead its partition."""
        if self.served is None or not transactional_id or self.partition_of(transactional_id) in self.served:
            return ErrorCode.NONE
        return ErrorCode.NOT_COORDINATOR

    def elected(self, partition: int, stored: Iterable[TxnMetadata]) -> None:
        """This broker leads the state partition now: its transactions come from the log, as
        replicated, and prepared ones are finished; a new epoch of the same leader changes nothing."""
        if self.served is None or partition in self.served:
            return
        self.served.add(partition)
        stored = list(stored)
        self.load(stored)
        log.info("transaction coordinator loaded %d transactional ids of __transaction_state-%d", len(stored),
                 partition)

    def resigned(self, partition: int) -> None:
        """Another broker leads the state partition now: its transactions are its business."""
        if self.served is None or partition not in self.served:
            return
        self.served.discard(partition)
        for transactional_id in [t for t in self.transactions if self.partition_of(t) == partition]:
            del self.transactions[transactional_id]
            pending = self._markers.pop(transactional_id, None)
            if pending is not None:
                pending.cancel()

    def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int, epoch: int) -> InitResult:
        """A new producer instance: bump the epoch (fencing older instances), abort what is open.

        A producer naming its producer id and epoch (v3+, KIP-360) continues after an error: its
        epoch is bumped if it is the current one, a retry of that bump gets the same answer (also
        across a renewal of the producer id), any other epoch or producer id is fenced. As Kafka
        does, the producer id is renewed when the epoch to bump is exhausted."""
        if not transactional_id:
            return InitResult(ErrorCode.INVALID_REQUEST)
        if error := self.availability(transactional_id):
            return InitResult(error)
        if not 0 < timeout_ms <= self.max_timeout_ms:
            return InitResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        txn = self.transactions.get(transactional_id)
        if txn is None:
            txn = TxnMetadata(transactional_id, self.allocate_id(), 0, timeout_ms, last_update_ms=now_ms())
            self.transactions[transactional_id] = txn
            self.persist(txn)
            return InitResult(ErrorCode.NONE, txn.producer_id, txn.epoch)
        named = producer_id != NO_PRODUCER_ID
        if named and not may_continue(txn, producer_id, epoch):
            return InitResult(ErrorCode.PRODUCER_FENCED)
        if txn.state is TxnState.ONGOING:
            # As Kafka does: abort under a bumped epoch, and have the client retry for one more bump.
            self._fence(txn)
            self._complete(txn, commit=False)
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        previous = txn.producer_id
        kept_epoch = epoch if named else NO_EPOCH
        if named and epoch != txn.epoch:
            if epoch != txn.last_epoch:
                return InitResult(ErrorCode.PRODUCER_FENCED)
            # a retry of the last bump, its answer lost: the same producer id and epoch again
        elif epoch_exhausted(txn.epoch):
            txn.producer_id, txn.epoch, txn.last_epoch = self.allocate_id(), 0, kept_epoch
        else:
            txn.epoch, txn.last_epoch = txn.epoch + 1, kept_epoch
        txn.prev_producer_id = previous
        txn.timeout_ms = timeout_ms
        txn.state = TxnState.EMPTY
        txn.start_ms = -1  # Kafka's Empty state has no start time
        txn.last_update_ms = now_ms()
        self.persist(txn)
        return InitResult(ErrorCode.NONE, txn.producer_id, txn.epoch)

    def _fence(self, txn: TxnMetadata) -> None:
        """Bump the epoch of an open transaction before aborting it, as Kafka does: never a new
        producer id here, since the markers must end that producer id's transaction."""
        txn.epoch, txn.last_epoch = min(txn.epoch + 1, MAX_EPOCH), NO_EPOCH  # 32767 only from a client's bad epoch
        txn.last_update_ms = now_ms()

    def _member(self, transactional_id: str, producer_id: int, epoch: int) -> tuple[ErrorCode, TxnMetadata | None]:
        """The transaction, if the caller is its current producer."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST, None
        if error := self.availability(transactional_id):
            return error, None
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING, None
        if txn.epoch != epoch:
            return ErrorCode.PRODUCER_FENCED, None
        return ErrorCode.NONE, txn

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: Iterable[TopicPartition]) -> ErrorCode:
        error, txn = self._member(transactional_id, producer_id, epoch)
        if txn is None:
            return error
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        partitions = set(partitions)
        if txn.state is TxnState.ONGOING and partitions <= txn.partitions:
            return ErrorCode.NONE  # already there: nothing to record, as in Kafka
        if txn.state is not TxnState.ONGOING:
            txn.state = TxnState.ONGOING
            txn.partitions.clear()
            txn.start_ms = now_ms()
        txn.partitions.update(partitions)
        txn.last_update_ms = now_ms()
        self.persist(txn)
        return ErrorCode.NONE

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str) -> ErrorCode:
        return self.add_partitions(transactional_id, producer_id, epoch, [self.offsets_partition(group_id)])

    def verify(self, transactional_id: str, producer_id: int, epoch: int,
               partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """KIP-890's check that partitions are in the producer's open transaction (AddPartitionsToTxn's
        verify-only form): TRANSACTION_ABORTABLE for each partition that is not, as Kafka answers."""
        partitions = list(partitions)
        error, txn = self._member(transactional_id, producer_id, epoch)
        if txn is not None and txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            error, txn = ErrorCode.CONCURRENT_TRANSACTIONS, None
        if txn is None:
            return dict.fromkeys(partitions, error)
        return {tp: ErrorCode.NONE if tp in txn.partitions else ErrorCode.TRANSACTION_ABORTABLE for tp in partitions}

    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> ErrorCode:
        error, txn = self._member(transactional_id, producer_id, epoch)
        if txn is None:
            return error
        if txn.state is TxnState.ONGOING:
            self._complete(txn, commit)
            return ErrorCode.NONE
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        done = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        return ErrorCode.NONE if txn.state is done else ErrorCode.INVALID_TXN_STATE  # a retry succeeds again

    def _complete(self, txn: TxnMetadata, commit: bool) -> None:
        txn.state = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        txn.last_update_ms = now_ms()
        self.persist(txn)
        self._finish(txn)

    def _finish(self, txn: TxnMetadata) -> None:
        """Markers for a prepared transaction, then its completion; writing them twice does no harm."""
        commit = txn.state is TxnState.PREPARE_COMMIT
        pending = self.write_markers(txn.transactional_id, sorted(txn.partitions), txn.producer_id, txn.epoch, commit)
        if pending is None:
            self._completed(txn, commit)
            return
        self._markers[txn.transactional_id] = pending
        pending.add_done_callback(lambda done: self._markers_written(txn, commit, done))

    def _markers_written(self, txn: TxnMetadata, commit: bool, done: asyncio.Future) -> None:
        """Every leader has the transaction's marker: it completes, unless the coordinator moved or
        was fenced meanwhile (the newer coordinator finishes it)."""
        if self._markers.get(txn.transactional_id) is done:
            del self._markers[txn.transactional_id]
        if done.cancelled() or self.transactions.get(txn.transactional_id) is not txn:
            return
        if done.exception() is not None:
            log.warning("transaction %s not completed: %s", txn.transactional_id, done.exception())
            return
        self._completed(txn, commit)

    def _completed(self, txn: TxnMetadata, commit: bool) -> None:
        txn.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        txn.partitions.clear()
        txn.last_update_ms = now_ms()
        self.persist(txn)

    def abort_timed_out(self, now: int | None = None) -> list[str]:
        """Abort transactions open longer than their timeout, fencing their producer as Kafka does."""
        now = now_ms() if now is None else now
        timed_out = [t for t in self.transactions.values()
                     if t.state is TxnState.ONGOING and now - t.start_ms > t.timeout_ms]
        for txn in timed_out:
            self._fence(txn)
            self._complete(txn, commit=False)
        return [t.transactional_id for t in timed_out]

    def expire_transactional_ids(self, expiration_ms: int, now: int | None = None) -> list[str]:
        """Forget ids unused for `transactional.id.expiration.ms` with no transaction in progress,
        as Kafka does: a tombstone in `__transaction_state`, and the id starts afresh."""
        now = now_ms() if now is None else now
        expired = [t.transactional_id for t in self.transactions.values()
                   if t.state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
                   and t.last_update_ms <= now - expiration_ms]
        for transactional_id in expired:
            self.remove(transactional_id)
            del self.transactions[transactional_id]
        return expired
