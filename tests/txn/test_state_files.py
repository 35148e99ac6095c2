"""The byte layouts Kafka reads, pinned against bytes built by hand from its schemas.

Sources (Apache Kafka, the commit of ../shared/kafka-messages): ProducerSnapshot.json and
ProducerStateManager.writeSnapshot (storage module) for `.snapshot`; TransactionIndex/AbortedTxn
for `.txnindex`; TransactionLogKey.json and TransactionLogValue.json (transaction-coordinator) and
TransactionLog.valueToBytes for `__transaction_state`. The expected bytes below are written field
by field from those schemas, not produced by the code under test; the CRC-32C is computed by a
bitwise implementation of its own.
"""

from __future__ import annotations

from collections import deque

from kbroker.txn.coordinator import TxnMetadata, TxnState
from kbroker.txn.producer_state import BatchMetadata, ProducerEntry, row_of
from kbroker.txn.state_files import AbortedTxn, SnapshotRow, decode_snapshot, encode_snapshot, encode_txn_index, read_txn_index
from kbroker.txn.state_log import read_state_record, state_record


def i8(v: int) -> bytes:
    return v.to_bytes(1, "big", signed=True)


def i16(v: int) -> bytes:
    return v.to_bytes(2, "big", signed=True)


def i32(v: int) -> bytes:
    return v.to_bytes(4, "big", signed=True)


def i64(v: int) -> bytes:
    return v.to_bytes(8, "big", signed=True)


def string(text: str) -> bytes:  # non-flexible: int16 length
    return i16(len(text.encode())) + text.encode()


def compact_string(text: str) -> bytes:  # flexible: uvarint length + 1 (all values here are < 128)
    return bytes([len(text.encode()) + 1]) + text.encode()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def snapshot_entry(producer_id, epoch, last_sequence, last_offset, offset_delta, timestamp, coordinator_epoch,
                   txn_first_offset) -> bytes:
    return (i64(producer_id) + i16(epoch) + i32(last_sequence) + i64(last_offset) + i32(offset_delta)
            + i64(timestamp) + i32(coordinator_epoch) + i64(txn_first_offset))


def kafka_snapshot(*entries: bytes) -> bytes:
    """toVersionPrefixedByteBuffer(1, ProducerSnapshot) with the CRC filled in over bytes 6..end."""
    rest = i32(len(entries)) + b"".join(entries)
    return i16(1) + crc32c(rest).to_bytes(4, "big") + rest


def test_snapshot_bytes_are_kafkas_producer_snapshot_v1():
    busy = ProducerEntry(1001, 3, deque([BatchMetadata(10, 14, 104, 4, 1_700_000_000_123)], maxlen=5),
                         coordinator_epoch=2, last_timestamp=1_700_000_000_123, current_txn_first_offset=100)
    idle = ProducerEntry(1002, 0, coordinator_epoch=-1, last_timestamp=1_700_000_000_000)  # no batch: -1, -1, 0
    expected = kafka_snapshot(
        snapshot_entry(1001, 3, 14, 104, 4, 1_700_000_000_123, 2, 100),
        snapshot_entry(1002, 0, -1, -1, 0, 1_700_000_000_000, -1, -1))
    assert encode_snapshot([row_of(busy), row_of(idle)]) == expected
    assert decode_snapshot(expected) == [SnapshotRow(1001, 3, 14, 104, 4, 1_700_000_000_123, 2, 100),
                                         SnapshotRow(1002, 0, -1, -1, 0, 1_700_000_000_000, -1, -1)]
    assert encode_snapshot([]) == i16(1) + crc32c(i32(0)).to_bytes(4, "big") + i32(0)


def test_txn_index_entry_is_kafkas_aborted_txn_v0(tmp_path):
    expected = i16(0) + i64(1001) + i64(100) + i64(107) + i64(108)
    assert encode_txn_index([AbortedTxn(1001, 100, 107, 108)]) == expected
    path = tmp_path / "00000000000000000000.txnindex"
    path.write_bytes(expected + expected[:5])  # and a torn second entry
    assert read_txn_index(path) == ([AbortedTxn(1001, 100, 107, 108)], 39)


def test_transaction_state_records_are_kafkas_transaction_log_v0():
    ongoing = TxnMetadata("orders-app", 5000, 7, 60_000, TxnState.ONGOING,
                          {("orders", 2), ("orders", 0), ("pay", 1)}, start_ms=1_700_000_000_000,
                          last_update_ms=1_700_000_000_500)
    key, value = state_record(ongoing)
    assert key == i16(0) + string("orders-app")
    assert value == (i16(0) + i64(5000) + i16(7) + i32(60_000) + i8(1)
                     + i32(2) + string("orders") + i32(2) + i32(0) + i32(2) + string("pay") + i32(1) + i32(1)
                     + i64(1_700_000_000_500) + i64(1_700_000_000_000))
    empty = TxnMetadata("orders-app", 5000, 8, 60_000, TxnState.EMPTY, start_ms=-1, last_update_ms=1_700_000_001_000)
    assert state_record(empty)[1] == (i16(0) + i64(5000) + i16(8) + i32(60_000) + i8(0)
                                      + i32(-1)  # no partition list in the Empty state: null, as Kafka writes it
                                      + i64(1_700_000_001_000) + i64(-1))
    done = TxnMetadata("orders-app", 5000, 7, 60_000, TxnState.COMPLETE_COMMIT, start_ms=1_700_000_000_000,
                       last_update_ms=1_700_000_000_900)
    assert state_record(done)[1] == (i16(0) + i64(5000) + i16(7) + i32(60_000) + i8(4) + i32(0)
                                     + i64(1_700_000_000_900) + i64(1_700_000_000_000))


def test_a_flexible_value_from_a_newer_kafka_is_read():
    """TransactionLogValue v1, as Kafka writes it from transaction version 1, with tagged fields."""
    key = i16(0) + string("orders-app")
    value = (i16(1) + i64(5000) + i16(7) + i32(60_000) + i8(2)
             + bytes([2]) + compact_string("orders") + bytes([2]) + i32(3) + bytes([0])  # one topic, one partition
             + i64(1_700_000_000_500) + i64(1_700_000_000_000)
             + bytes([2]) + bytes([0, 8]) + i64(4999) + bytes([2, 2]) + i16(2))  # tags 0 and 2
    transactional_id, txn = read_state_record(key, value)
    assert transactional_id == "orders-app"
    assert (txn.producer_id, txn.epoch, txn.timeout_ms, txn.state, txn.partitions, txn.start_ms) == (
        5000, 7, 60_000, TxnState.PREPARE_COMMIT, {("orders", 3)}, 1_700_000_000_000)
    assert txn.prev_producer_id == 4999  # PreviousProducerId (tag 0): a retry across a renewal continues
    assert read_state_record(key, None) == ("orders-app", None)  # a tombstone: the id expired
