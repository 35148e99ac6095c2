"""The transaction coordinator: transactional ids, their producer ids and epochs, and their state.

Every change is handed to `persist` (the `__transaction_state` topic) before it takes effect
elsewhere: PrepareCommit/PrepareAbort is recorded before any marker is written, so a coordinator
that stops half way finishes the markers when it loads the state again. Offsets sent in a
transaction wait in memory until it commits.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kproto import ErrorCode

from kbroker.groups import OffsetCommit

MAX_EPOCH = 32767  # producer epochs are int16; Kafka starts a new producer id before the last one
NO_PRODUCER_ID = -1

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
    offsets: dict[str, list[OffsetCommit]] = field(default_factory=dict)  # group -> pending, until commit
    start_ms: int = -1
    last_update_ms: int = 0


@dataclass(frozen=True, slots=True)
class InitResult:
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    epoch: int = -1


def now_ms() -> int:
    return int(time.time() * 1000)


# (partitions, producer id, epoch, commit?) -> writes the markers
MarkerWriter = Callable[[Iterable[TopicPartition], int, int, bool], None]
# (group, commits) -> stores offsets made visible by a commit
OffsetWriter = Callable[[str, list[OffsetCommit]], None]
StateWriter = Callable[[TxnMetadata], None]


class TransactionCoordinator:
    def __init__(self, allocate_id: Callable[[], int], write_markers: MarkerWriter, write_offsets: OffsetWriter,
                 persist: StateWriter, max_timeout_ms: int) -> None:
        self.allocate_id = allocate_id
        self.write_markers = write_markers
        self.write_offsets = write_offsets
        self.persist = persist
        self.max_timeout_ms = max_timeout_ms
        self.transactions: dict[str, TxnMetadata] = {}

    def load(self, transactions: Iterable[TxnMetadata]) -> None:
        """Take over stored state, finishing transactions that stopped between prepare and complete."""
        for txn in transactions:
            self.transactions[txn.transactional_id] = txn
            if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                self._finish(txn)

    def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int, epoch: int) -> InitResult:
        """A new producer instance: bump the epoch (fencing older instances), abort what is open."""
        if not transactional_id:
            return InitResult(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.max_timeout_ms:
            return InitResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        txn = self.transactions.get(transactional_id)
        if txn is None:
            txn = TxnMetadata(transactional_id, self.allocate_id(), 0, timeout_ms, last_update_ms=now_ms())
            self.transactions[transactional_id] = txn
            self.persist(txn)
            return InitResult(ErrorCode.NONE, txn.producer_id, txn.epoch)
        if producer_id != NO_PRODUCER_ID and (producer_id, epoch) != (txn.producer_id, txn.epoch):
            return InitResult(ErrorCode.PRODUCER_FENCED)
        if txn.state is TxnState.ONGOING:
            # As Kafka does: abort under a bumped epoch, and have the client retry for one more bump.
            self._bump(txn)
            self._complete(txn, commit=False)
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        self._bump(txn)
        txn.timeout_ms = timeout_ms
        txn.state = TxnState.EMPTY
        self.persist(txn)
        return InitResult(ErrorCode.NONE, txn.producer_id, txn.epoch)

    def _bump(self, txn: TxnMetadata) -> None:
        if txn.epoch + 1 >= MAX_EPOCH - 1:
            txn.producer_id, txn.epoch = self.allocate_id(), 0
        else:
            txn.epoch += 1
        txn.last_update_ms = now_ms()

    def _member(self, transactional_id: str, producer_id: int, epoch: int) -> tuple[ErrorCode, TxnMetadata | None]:
        """The transaction, if the caller is its current producer."""
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
        self._begin(txn)
        txn.partitions.update(partitions)
        self.persist(txn)
        return ErrorCode.NONE

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str) -> ErrorCode:
        error, txn = self._member(transactional_id, producer_id, epoch)
        if txn is None:
            return error
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        self._begin(txn)
        txn.offsets.setdefault(group_id, [])
        self.persist(txn)
        return ErrorCode.NONE

    def _begin(self, txn: TxnMetadata) -> None:
        if txn.state is not TxnState.ONGOING:
            txn.state = TxnState.ONGOING
            txn.partitions.clear()
            txn.offsets.clear()
            txn.start_ms = now_ms()
        txn.last_update_ms = now_ms()

    def txn_offset_commit(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                          commits: list[OffsetCommit]) -> ErrorCode:
        """Offsets wait in the transaction and become committed offsets only if it commits."""
        error, txn = self._member(transactional_id, producer_id, epoch)
        if txn is None:
            return error
        if txn.state is not TxnState.ONGOING or group_id not in txn.offsets:
            return ErrorCode.INVALID_TXN_STATE
        txn.offsets[group_id].extend(commits)
        return ErrorCode.NONE

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
        """Markers and offsets for a prepared transaction; writing them twice does no harm."""
        commit = txn.state is TxnState.PREPARE_COMMIT
        self.write_markers(sorted(txn.partitions), txn.producer_id, txn.epoch, commit)
        if commit:
            for group_id, commits in txn.offsets.items():
                if commits:
                    self.write_offsets(group_id, commits)
        txn.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        txn.partitions.clear()
        txn.offsets.clear()
        txn.last_update_ms = now_ms()
        self.persist(txn)

    def abort_timed_out(self, now: int | None = None) -> list[str]:
        """Abort transactions open longer than their timeout, fencing their producer as Kafka does."""
        now = now_ms() if now is None else now
        timed_out = [t for t in self.transactions.values()
                     if t.state is TxnState.ONGOING and now - t.start_ms > t.timeout_ms]
        for txn in timed_out:
            self._bump(txn)
            self._complete(txn, commit=False)
        return [t.transactional_id for t in timed_out]
