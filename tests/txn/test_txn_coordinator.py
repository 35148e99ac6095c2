"""Transaction coordinator state rules: epochs and fencing, EndTxn retries, timeouts, the offsets
partition of AddOffsetsToTxn, KIP-890 verification."""

from __future__ import annotations

import itertools

from kproto import ErrorCode

from kbroker.txn.coordinator import TransactionCoordinator, TxnMetadata, TxnState
from kbroker.txn.state_log import read_state_record, state_record


class Recorder:
    def __init__(self) -> None:
        self.markers: list[tuple[list, int, int, bool]] = []
        self.states: list[tuple[str, TxnState]] = []
        ids = itertools.count(100)
        self.removed: list[str] = []
        self.coordinator = TransactionCoordinator(lambda: next(ids), self.write_markers, self.persist,
                                                  self.removed.append, lambda group: ("__consumer_offsets", len(group)),
                                                  60_000)

    def persist(self, txn) -> None:
        self.states.append((txn.transactional_id, txn.state))

    def write_markers(self, transactional_id, partitions, producer_id, epoch, commit) -> None:
        self.markers.append((list(partitions), producer_id, epoch, commit))


def test_init_bumps_the_epoch_and_fences_the_older_instance():
    r = Recorder()
    c = r.coordinator
    first = c.init_producer_id("t", 10_000, -1, -1)
    assert (first.error, first.producer_id, first.epoch) == (ErrorCode.NONE, 100, 0)
    assert c.add_partitions("t", 100, 0, [("a", 0)]) == ErrorCode.NONE
    # a second instance: the open transaction is aborted under a bumped epoch, then the client retries
    assert c.init_producer_id("t", 10_000, -1, -1).error == ErrorCode.CONCURRENT_TRANSACTIONS
    assert r.markers == [([("a", 0)], 100, 1, False)]
    second = c.init_producer_id("t", 10_000, -1, -1)
    assert (second.producer_id, second.epoch) == (100, 2)
    assert c.end_txn("t", 100, 0, True) == ErrorCode.PRODUCER_FENCED
    assert c.add_partitions("t", 99, 2, [("a", 0)]) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert c.init_producer_id("t", 10_000, 100, 0).error == ErrorCode.PRODUCER_FENCED


def test_bad_timeouts_and_ids():
    c = Recorder().coordinator
    assert c.init_producer_id("t", 60_001, -1, -1).error == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert c.init_producer_id("", 1000, -1, -1).error == ErrorCode.INVALID_REQUEST
    assert c.end_txn("nobody", 1, 0, True) == ErrorCode.INVALID_PRODUCER_ID_MAPPING


def test_end_txn_retry_succeeds_and_a_mismatched_one_does_not():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    assert c.end_txn("t", 100, 0, True) == ErrorCode.INVALID_TXN_STATE  # nothing begun
    c.add_partitions("t", 100, 0, [("a", 0), ("b", 1)])
    assert c.end_txn("t", 100, 0, True) == ErrorCode.NONE
    assert c.end_txn("t", 100, 0, True) == ErrorCode.NONE
    assert c.end_txn("t", 100, 0, False) == ErrorCode.INVALID_TXN_STATE
    assert r.markers == [([("a", 0), ("b", 1)], 100, 0, True)]


def test_add_offsets_puts_the_groups_offsets_partition_in_the_transaction():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    assert c.verify("t", 100, 0, [("__consumer_offsets", 3)]) == {("__consumer_offsets", 3): ErrorCode.TRANSACTION_ABORTABLE}
    assert c.add_offsets("t", 100, 0, "abc") == ErrorCode.NONE
    assert c.transactions["t"].partitions == {("__consumer_offsets", 3)}
    c.end_txn("t", 100, 0, True)
    assert r.markers == [([("__consumer_offsets", 3)], 100, 0, True)]  # the marker settles the pending offsets


def test_verify_only_answers_as_kafka():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    c.add_partitions("t", 100, 0, [("a", 0)])
    assert c.verify("t", 100, 0, [("a", 0), ("a", 1)]) == {("a", 0): ErrorCode.NONE,
                                                           ("a", 1): ErrorCode.TRANSACTION_ABORTABLE}
    assert c.verify("t", 100, 1, [("a", 0)]) == {("a", 0): ErrorCode.PRODUCER_FENCED}
    assert c.verify("t", 99, 0, [("a", 0)]) == {("a", 0): ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert c.verify("nobody", 100, 0, [("a", 0)]) == {("a", 0): ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert c.verify("", 100, 0, [("a", 0)]) == {("a", 0): ErrorCode.INVALID_REQUEST}
    c.transactions["t"].state = TxnState.PREPARE_COMMIT
    assert c.verify("t", 100, 0, [("a", 0)]) == {("a", 0): ErrorCode.CONCURRENT_TRANSACTIONS}


def test_adding_partitions_already_in_the_transaction_records_nothing():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    c.add_partitions("t", 100, 0, [("a", 0), ("a", 1)])
    written = len(r.states)
    assert c.add_partitions("t", 100, 0, [("a", 1)]) == ErrorCode.NONE
    assert len(r.states) == written
    assert c.add_partitions("", 100, 0, [("a", 1)]) == ErrorCode.INVALID_REQUEST


def test_timed_out_transactions_are_aborted_and_their_producer_fenced():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 1000, -1, -1)
    c.add_partitions("t", 100, 0, [("a", 0)])
    start = c.transactions["t"].start_ms
    assert c.abort_timed_out(start + 1000) == []
    assert c.abort_timed_out(start + 1001) == ["t"]
    assert c.transactions["t"].state is TxnState.COMPLETE_ABORT
    assert r.markers == [([("a", 0)], 100, 1, False)]
    assert c.end_txn("t", 100, 0, True) == ErrorCode.PRODUCER_FENCED


def test_state_changes_are_persisted_prepare_before_markers():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    c.add_partitions("t", 100, 0, [("a", 0)])
    c.end_txn("t", 100, 0, True)
    assert [state for _, state in r.states] == [TxnState.EMPTY, TxnState.ONGOING, TxnState.PREPARE_COMMIT,
                                                TxnState.COMPLETE_COMMIT]


def test_loading_a_prepared_transaction_finishes_it():
    stored = TxnMetadata("t", 100, 3, 10_000, TxnState.PREPARE_ABORT, {("a", 0), ("b", 2)})
    r = Recorder()
    r.coordinator.load([stored, TxnMetadata("u", 101, 0, 10_000, TxnState.COMPLETE_COMMIT)])
    assert r.markers == [([("a", 0), ("b", 2)], 100, 3, False)]
    assert r.coordinator.transactions["t"].state is TxnState.COMPLETE_ABORT
    assert r.coordinator.init_producer_id("u", 10_000, -1, -1).epoch == 1


def test_state_record_round_trip():
    txn = TxnMetadata("tid-é", 100, 7, 60_000, TxnState.ONGOING, {("a", 0), ("a", 3), ("b", 1)},
                      start_ms=1_700_000_000_000, last_update_ms=1_700_000_000_500)
    key, value = state_record(txn)
    assert key[:2] == b"\x00\x00" and value[:2] == b"\x00\x00"  # versions 0, as Kafka writes for these clients
    transactional_id, restored = read_state_record(key, value)
    assert transactional_id == "tid-é"
    assert (restored.producer_id, restored.epoch, restored.timeout_ms, restored.state, restored.partitions,
            restored.start_ms) == (100, 7, 60_000, TxnState.ONGOING, txn.partitions, 1_700_000_000_000)


def test_a_retried_epoch_bump_gets_the_same_epoch_and_older_ones_are_fenced():
    c = Recorder().coordinator
    c.init_producer_id("t", 10_000, -1, -1)
    bumped = c.init_producer_id("t", 10_000, 100, 0)  # KIP-360: the producer names its id and epoch
    assert (bumped.error, bumped.producer_id, bumped.epoch) == (ErrorCode.NONE, 100, 1)
    retried = c.init_producer_id("t", 10_000, 100, 0)  # the answer was lost: the same again
    assert (retried.error, retried.epoch) == (ErrorCode.NONE, 1)
    assert c.init_producer_id("t", 10_000, 100, 5).error == ErrorCode.PRODUCER_FENCED
    assert c.init_producer_id("t", 10_000, 99, 1).error == ErrorCode.PRODUCER_FENCED
    assert c.init_producer_id("t", 10_000, -1, -1).epoch == 2  # a new instance: the retry is over
    assert c.init_producer_id("t", 10_000, 100, 1).error == ErrorCode.PRODUCER_FENCED


def test_idle_transactional_ids_expire_unless_a_transaction_is_open():
    r = Recorder()
    c = r.coordinator
    c.init_producer_id("idle", 10_000, -1, -1)
    c.init_producer_id("busy", 10_000, -1, -1)
    c.add_partitions("busy", 101, 0, [("a", 0)])
    later = max(t.last_update_ms for t in c.transactions.values()) + 1000
    assert c.expire_transactional_ids(1000, later) == ["idle"]
    assert r.removed == ["idle"] and list(c.transactions) == ["busy"]
    assert c.init_producer_id("idle", 10_000, -1, -1).producer_id == 102  # starts afresh


def at_epoch(c: TransactionCoordinator, epoch: int) -> TxnMetadata:
    """Transactional id "t" (producer id 100) after its epochs were bumped up to `epoch`."""
    c.init_producer_id("t", 10_000, -1, -1)
    txn = c.transactions["t"]
    txn.epoch = epoch
    return txn


def test_the_producer_id_is_renewed_when_the_epoch_to_bump_is_32766_as_in_kafka():
    c = Recorder().coordinator
    at_epoch(c, 32765)
    last = c.init_producer_id("t", 10_000, 100, 32765)
    assert (last.error, last.producer_id, last.epoch) == (ErrorCode.NONE, 100, 32766)  # still bumped
    renewed = c.init_producer_id("t", 10_000, 100, 32766)
    assert (renewed.error, renewed.producer_id, renewed.epoch) == (ErrorCode.NONE, 101, 0)
    assert c.init_producer_id("t", 10_000, -1, -1).producer_id == 101  # a new instance bumps the new id
    assert c.transactions["t"].epoch == 1


def test_a_retry_across_the_renewal_gets_the_new_producer_id():
    c = Recorder().coordinator
    at_epoch(c, 32766)
    assert c.init_producer_id("t", 10_000, 100, 32766).producer_id == 101
    retried = c.init_producer_id("t", 10_000, 100, 32766)  # the answer with the new id was lost
    assert (retried.error, retried.producer_id, retried.epoch) == (ErrorCode.NONE, 101, 0)
    # the previous id is the one before the last InitProducerId, as Kafka keeps it: that retry moved it on
    assert c.init_producer_id("t", 10_000, 100, 32766).error == ErrorCode.PRODUCER_FENCED
    assert c.init_producer_id("t", 10_000, 101, 0).epoch == 1


def test_only_the_exhausted_epoch_of_the_previous_producer_id_continues():
    c = Recorder().coordinator
    at_epoch(c, 32766)
    assert c.init_producer_id("t", 10_000, -1, -1).producer_id == 101  # renewed by a new instance
    assert c.init_producer_id("t", 10_000, 100, 32765).error == ErrorCode.PRODUCER_FENCED  # not exhausted
    # the old instance's retry passes the producer id check, but its epoch is not the last one bumped
    assert c.init_producer_id("t", 10_000, 100, 32766).error == ErrorCode.PRODUCER_FENCED


def test_fencing_an_open_transaction_bumps_the_epoch_and_never_renews_the_id():
    r = Recorder()
    c = r.coordinator
    at_epoch(c, 32766)
    c.add_partitions("t", 100, 32766, [("a", 0)])
    assert c.init_producer_id("t", 10_000, -1, -1).error == ErrorCode.CONCURRENT_TRANSACTIONS
    assert r.markers == [([("a", 0)], 100, 32767, False)]  # the abort ends producer 100's transaction
    retried = c.init_producer_id("t", 10_000, -1, -1)
    assert (retried.producer_id, retried.epoch) == (101, 0)


def test_a_timed_out_transaction_at_the_last_epoch_is_aborted_under_its_own_producer_id():
    r = Recorder()
    c = r.coordinator
    at_epoch(c, 32766)
    c.add_partitions("t", 100, 32766, [("a", 0)])
    assert c.abort_timed_out(c.transactions["t"].start_ms + 10_001) == ["t"]
    assert r.markers == [([("a", 0)], 100, 32767, False)]
    assert c.end_txn("t", 100, 32766, True) == ErrorCode.PRODUCER_FENCED
