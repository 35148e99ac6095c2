"""Idempotent producer state: duplicates, sequence and epoch errors, expiry, rebuilding after a restart."""

from __future__ import annotations

import pytest
from kproto import ErrorCode
from kproto.records.batch import build_batch
from kproto.records.control import ControlType, build_end_txn_marker
from kproto.records.record import Record

from kbroker.log import LogConfig, PartitionLog
from kbroker.txn.producer_state import ProducerStateError, ProducerStates, entry_of, row_of
from kbroker.txn.state_files import decode_snapshot, encode_snapshot

PID = 7
PRODUCED_MS = 1_700_000_000_000  # the timestamp of every record produced here
EXPIRATION_MS = 86_400_000  # producer.id.expiration.ms's default
NOW = PRODUCED_MS + 1000  # when partitions are loaded: no producer has expired yet
RETENTION_MS = 7 * 86_400_000  # retention.ms's default


def produced(seq: int, count: int = 1, *, epoch: int = 0, pid: int = PID, transactional: bool = False) -> bytearray:
    records = [Record(i, PRODUCED_MS, None, b"v%d" % (seq + i)) for i in range(count)]
    return bytearray(build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                 transactional=transactional))


def open_partition(path) -> tuple[PartitionLog, ProducerStates]:
    plog = PartitionLog(path / "t-0", "t", 0, LogConfig.from_mapping({}))
    states = ProducerStates(plog.directory, str(plog))
    states.load(plog, EXPIRATION_MS, NOW)
    return plog, states


def append(plog: PartitionLog, states: ProducerStates, data: bytearray) -> int:
    """What the broker does: check, then append (or answer a retry with its first offset)."""
    duplicate = states.check(data)
    if duplicate is not None:
        return duplicate.first_offset
    offset = plog.append(data)
    states.record(plog, data)
    return offset


def error_of(plog: PartitionLog, states: ProducerStates, data: bytearray) -> ErrorCode:
    with pytest.raises(ProducerStateError) as caught:
        append(plog, states, data)
    return caught.value.error


def test_retry_of_any_of_the_last_five_batches_gets_its_first_offset(tmp_path):
    plog, states = open_partition(tmp_path)
    offsets = [append(plog, states, produced(seq * 2, 2)) for seq in range(6)]
    assert offsets == [0, 2, 4, 6, 8, 10]
    for seq in range(1, 6):
        assert append(plog, states, produced(seq * 2, 2)) == offsets[seq]
    assert plog.log_end_offset == 12
    # the sixth-last batch is forgotten: its retry is out of order, not a duplicate
    assert error_of(plog, states, produced(0, 2)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert plog.log_end_offset == 12


def test_gap_in_sequence_is_out_of_order(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, 3))
    assert error_of(plog, states, produced(5)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(plog, states, produced(3)) == 3


def test_unknown_producer_may_start_at_any_sequence(tmp_path):
    plog, states = open_partition(tmp_path)
    assert append(plog, states, produced(42)) == 0
    assert append(plog, states, produced(43)) == 1


def test_stale_epoch_is_refused_and_a_new_epoch_starts_at_zero(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, epoch=1))
    assert error_of(plog, states, produced(1, epoch=0)) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert error_of(plog, states, produced(1, epoch=2)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(plog, states, produced(0, epoch=2)) == 1
    assert plog.log_end_offset == 2


def test_sequence_wraps_after_int_max(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(2**31 - 2, 2))
    assert append(plog, states, produced(0)) == 2


def test_state_is_rebuilt_from_the_log_without_a_snapshot(tmp_path):
    plog, states = open_partition(tmp_path)
    for seq in range(3):
        append(plog, states, produced(seq))
    plog.close()
    plog, states = open_partition(tmp_path)
    assert append(plog, states, produced(2)) == 2
    assert error_of(plog, states, produced(9)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(plog, states, produced(3)) == 3


def test_snapshot_then_the_log_after_it(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, 2))
    append(plog, states, produced(0, epoch=0, pid=PID + 1, transactional=True))
    states.write_snapshot(plog)
    append(plog, states, produced(2))
    plog.close()
    assert [p.name for p in plog.directory.glob("*.snapshot")] == ["00000000000000000003.snapshot"]
    plog, states = open_partition(tmp_path)
    assert append(plog, states, produced(2)) == 3  # from the log after the snapshot
    assert append(plog, states, produced(3)) == 4
    assert states.producers[PID + 1].current_txn_first_offset == 2  # from the snapshot


def test_snapshot_round_trip_and_corruption(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(5, 3, epoch=4))
    data = encode_snapshot(row_of(e) for e in states.producers.values())
    [restored] = [entry_of(row) for row in decode_snapshot(data)]
    assert (restored.epoch, restored.last_seq, restored.batches[-1].first_offset) == (4, 7, 0)
    damaged = bytearray(data)
    damaged[-1] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        decode_snapshot(bytes(damaged))


def test_control_batch_ends_the_open_transaction(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, transactional=True))
    assert states.producers[PID].current_txn_first_offset == 0
    plog_marker = bytearray(build_end_txn_marker(ControlType.COMMIT, producer_id=PID, producer_epoch=0,
                                                 coordinator_epoch=0, timestamp=PRODUCED_MS))
    plog.append(plog_marker)
    states.record(plog, plog_marker)
    assert states.producers[PID].current_txn_first_offset == -1
    assert append(plog, states, produced(1, transactional=True)) == 2


def test_idle_producers_expire_unless_in_a_transaction(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0))
    append(plog, states, produced(0, pid=PID + 1, transactional=True))
    assert states.expire(PRODUCED_MS + 1000, 1000) == 1
    assert list(states.producers) == [PID + 1]


@pytest.mark.parametrize("now, loaded", [(PRODUCED_MS + 999, {PID, PID + 1, PID + 2}),
                                         (PRODUCED_MS + 1000, {PID + 1, PID + 2})])
def test_producers_a_snapshot_holds_are_left_out_on_load_once_expired(tmp_path, now, loaded):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0))
    append(plog, states, produced(0, pid=PID + 1, transactional=True))  # its open transaction keeps it
    states.write_snapshot(plog)  # as at shutdown
    append(plog, states, produced(0, pid=PID + 2))  # after the snapshot: replayed
    plog.close()
    plog = PartitionLog(tmp_path / "t-0", "t", 0, LogConfig.from_mapping({}))
    states = ProducerStates(plog.directory, str(plog))
    states.load(plog, 1000, now)
    assert set(states.producers) == loaded  # replayed ones wait for the next expiry check, as in Kafka


def abort_marker(plog: PartitionLog, states: ProducerStates, kind: ControlType = ControlType.ABORT) -> None:
    marker = bytearray(build_end_txn_marker(kind, producer_id=PID, producer_epoch=0, coordinator_epoch=0,
                                            timestamp=PRODUCED_MS))
    plog.append(marker)
    states.record(plog, marker)


def test_open_transaction_holds_the_last_stable_offset_and_aborts_are_indexed(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, pid=PID + 1))
    append(plog, states, produced(0, 2, transactional=True))
    assert states.last_stable_offset(plog.high_watermark) == 1
    abort_marker(plog, states)
    assert states.last_stable_offset(plog.high_watermark) == plog.high_watermark == 4
    assert [(t.first_offset, t.last_offset) for t in states.aborted_between(0, 4)] == [(1, 3)]
    assert states.aborted_between(4, 4) == []
    assert (plog.directory / "00000000000000000000.txnindex").stat().st_size == 34
    states.write_snapshot(plog)
    plog.close()
    plog, states = open_partition(tmp_path)  # from the snapshot and the .txnindex
    assert [(t.first_offset, t.last_offset) for t in states.aborted_between(0, 4)] == [(1, 3)]
    for path in plog.directory.glob("*.snapshot"):
        path.unlink()
    (plog.directory / "00000000000000000000.txnindex").unlink()
    plog.close()
    plog, states = open_partition(tmp_path)  # from the log alone
    assert [(t.first_offset, t.last_offset) for t in states.aborted_between(0, 4)] == [(1, 3)]


def test_plain_write_while_a_transaction_is_open_is_refused(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, transactional=True))
    assert error_of(plog, states, produced(1)) == ErrorCode.INVALID_TXN_STATE
    assert plog.log_end_offset == 1


def test_verification_is_asked_only_when_a_batch_would_open_the_transaction(tmp_path):
    plog, states = open_partition(tmp_path)
    asked = []

    def refuse_second(header) -> None:
        asked.append(header.base_sequence)
        if len(asked) > 1:
            raise ProducerStateError(ErrorCode.INVALID_TXN_STATE, "not in the transaction")

    assert states.check(produced(0), refuse_second) is None  # not transactional: nothing to verify
    data = produced(0, pid=PID + 1, transactional=True)
    assert states.check(data, refuse_second) is None
    plog.append(data)
    states.record(plog, data)
    assert states.check(produced(1, pid=PID + 1, transactional=True), refuse_second) is None  # already open here
    assert asked == [0]
    commit_marker = bytearray(build_end_txn_marker(ControlType.COMMIT, producer_id=PID + 1, producer_epoch=0,
                                                      coordinator_epoch=0, timestamp=PRODUCED_MS))
    plog.append(commit_marker)
    states.record(plog, commit_marker)
    with pytest.raises(ProducerStateError):
        states.check(produced(1, pid=PID + 1, transactional=True), refuse_second)  # a new transaction: asked again


def test_a_marker_records_its_coordinator_epoch_and_older_ones_are_refused(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, epoch=2, transactional=True))
    marker = bytearray(build_end_txn_marker(ControlType.ABORT, producer_id=PID, producer_epoch=2,
                                            coordinator_epoch=5, timestamp=PRODUCED_MS))
    plog.append(marker)
    states.record(plog, marker)
    assert states.producers[PID].coordinator_epoch == 5
    with pytest.raises(ProducerStateError) as caught:
        states.check_marker(PID, 1, 5)
    assert caught.value.error == ErrorCode.INVALID_PRODUCER_EPOCH
    with pytest.raises(ProducerStateError) as caught:
        states.check_marker(PID, 2, 4)
    assert caught.value.error == ErrorCode.TRANSACTION_COORDINATOR_FENCED
    states.check_marker(PID, 3, 5)
    states.check_marker(PID + 1, 0, -1)  # a producer the partition does not know


def rolling_partition(path) -> tuple[PartitionLog, ProducerStates]:
    """A partition whose segments roll at every batch, snapshotting on roll as the broker has it."""
    plog = PartitionLog(path / "t-0", "t", 0, LogConfig.from_mapping({"segment.bytes": 100}))
    states = ProducerStates(plog.directory, str(plog))
    states.load(plog, EXPIRATION_MS, NOW)
    plog.on_roll.append(states.snapshot_at_roll)
    return plog, states


def snapshot_offsets(plog: PartitionLog) -> list[int]:
    return sorted(int(p.name.split(".")[0]) for p in plog.directory.glob("*.snapshot"))


def test_a_snapshot_is_written_at_each_roll_and_deleted_with_its_segment(tmp_path):
    plog, states = rolling_partition(tmp_path)
    for seq in range(4):
        append(plog, states, produced(seq))
    assert [s.base_offset for s in plog.segments] == [0, 1, 2, 3] and snapshot_offsets(plog) == [1, 2, 3]
    plog.delete_records_before(2)  # DeleteRecords: the segments wholly before offset 2 go, and their snapshots
    assert snapshot_offsets(plog) == [2, 3]
    plog.apply_retention(now=PRODUCED_MS + 1000)  # nothing is older than retention.ms
    assert snapshot_offsets(plog) == [2, 3]
    plog.apply_retention(now=PRODUCED_MS + RETENTION_MS + 1)  # every segment goes; the log rolls to offset 4
    assert [s.base_offset for s in plog.segments] == [4] and snapshot_offsets(plog) == [4]


def test_recovery_starts_at_the_latest_snapshot_and_replays_only_what_follows(tmp_path):
    plog, states = rolling_partition(tmp_path)
    append(plog, states, produced(0, pid=PID + 1))  # only in the first segment
    for seq in range(3):
        append(plog, states, produced(seq))
    latest = snapshot_offsets(plog)[-1]
    # an empty table in the latest snapshot: what the load knows of producers comes from it and the
    # batches after it, so the producer of the first segment is unknown and PID's last batch known
    (plog.directory / f"{latest:020d}.snapshot").write_bytes(encode_snapshot([]))
    plog.close()  # no shutdown snapshot: as after SIGKILL
    plog, states = rolling_partition(tmp_path)
    assert PID + 1 not in states.producers
    assert states.producers[PID].last_seq == 2
    assert snapshot_offsets(plog)[-1] == plog.log_end_offset  # written after the replay, as Kafka does


def test_load_drops_snapshots_past_the_end_stray_and_damaged_ones(tmp_path):
    plog, states = rolling_partition(tmp_path)
    for seq in range(3):
        append(plog, states, produced(seq * 2, 2))
    bases = [s.base_offset for s in plog.segments]
    end = plog.log_end_offset
    assert bases == [0, 2, 4]
    damaged = plog.directory / f"{bases[-1]:020d}.snapshot"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x01")
    (plog.directory / f"{end + 5:020d}.snapshot").write_bytes(encode_snapshot([]))  # past the end
    (plog.directory / f"{bases[1] + 1:020d}.snapshot").write_bytes(encode_snapshot([]))  # of no segment
    plog.close()
    plog, states = rolling_partition(tmp_path)
    assert states.producers[PID].last_seq == 5  # from the older snapshot and the batches after it
    assert snapshot_offsets(plog) == [2, end]


def test_a_torn_txnindex_is_cut_and_completed_from_the_replay(tmp_path):
    plog, states = open_partition(tmp_path)
    append(plog, states, produced(0, 2, transactional=True))
    abort_marker(plog, states)
    index = plog.directory / "00000000000000000000.txnindex"
    index.write_bytes(index.read_bytes()[:-3])  # the entry torn by a crash
    plog.close()
    plog, states = open_partition(tmp_path)
    assert [(t.first_offset, t.last_offset) for t in states.aborted_between(0, 4)] == [(0, 2)]
    assert index.stat().st_size == 34
