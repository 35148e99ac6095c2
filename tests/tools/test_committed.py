"""Which fetched batches a read_committed reader shows, given the fetch answer's aborted transactions."""

from __future__ import annotations

from kproto.messages import FetchResponse
from kproto.records import ControlType, Record, build_batch, build_end_txn_marker, decode_batches

from kbroker.tools.committed import ReadCommitted


def data(offset: int, producer_id: int = -1) -> bytes:
    return build_batch([Record(offset, 1_700_000_000_000, None, b"v")], base_offset=offset,
                       transactional=producer_id >= 0, producer_id=producer_id, producer_epoch=0)


def marker(kind: ControlType, offset: int, producer_id: int) -> bytes:
    return build_end_txn_marker(kind, producer_id=producer_id, producer_epoch=0, coordinator_epoch=0,
                                timestamp=1_700_000_000_000, base_offset=offset)


def shown(log: bytes, aborted: list[tuple[int, int]]) -> list[int]:
    reader = ReadCommitted([FetchResponse.AbortedTransaction(producer_id=p, first_offset=o) for p, o in aborted])
    return [b.header.base_offset for b in decode_batches(log) if reader.shows(b)]


def test_an_aborted_transaction_is_left_out_until_its_marker() -> None:
    log = b"".join([data(0), data(1, producer_id=7), data(2, producer_id=8), marker(ControlType.ABORT, 3, 7),
                    marker(ControlType.COMMIT, 4, 8), data(5, producer_id=7), marker(ControlType.COMMIT, 6, 7)])
    assert shown(log, [(7, 1)]) == [0, 2, 5]  # producer 7's next transaction, committed, is shown


def test_without_aborted_transactions_only_control_batches_are_left_out() -> None:
    log = b"".join([data(0, producer_id=7), marker(ControlType.COMMIT, 1, 7), data(2)])
    assert shown(log, []) == [0, 2]


def test_an_abort_listed_further_on_does_not_hide_earlier_batches() -> None:
    log = b"".join([data(0, producer_id=7), marker(ControlType.COMMIT, 1, 7), data(2, producer_id=7),
                    marker(ControlType.ABORT, 3, 7)])
    assert shown(log, [(7, 2)]) == [0]
