"""Looking offsets up by timestamp (ListOffsets), through the time index and the records."""

from __future__ import annotations

from kproto.compression import Codec
from kproto.records.batch import build_batch
from kproto.records.record import Record

from logbatches import batch, open_log


def filled_log(tmp_path):
    plog = open_log(tmp_path, segment_bytes=400, index_interval_bytes=100)
    # offsets 0-2: 100, 110, 120; 3-5: 200, 210, 220; ... ; 27-29: 1000, 1010, 1020
    for i in range(1, 11):
        plog.append(batch(3, timestamps=[100 * i, 100 * i + 10, 100 * i + 20]))
    return plog


def test_first_offset_at_or_after_a_timestamp(tmp_path):
    plog = filled_log(tmp_path)
    assert len(plog.segments) > 2
    assert plog.offset_for_timestamp(0) == (0, 100)
    assert plog.offset_for_timestamp(100) == (0, 100)
    assert plog.offset_for_timestamp(105) == (1, 110)  # inside a batch: the record, not the batch
    assert plog.offset_for_timestamp(521) == (15, 600)
    assert plog.offset_for_timestamp(1020) == (29, 1020)
    assert plog.offset_for_timestamp(1021) is None


def test_after_reopen_the_time_index_answers_the_same(tmp_path):
    plog = filled_log(tmp_path)
    plog.close()
    again = open_log(tmp_path, segment_bytes=400, index_interval_bytes=100, clean=True)
    assert again.offset_for_timestamp(521) == (15, 600)
    assert again.max_timestamp_offset() == (29, 1020)


def test_out_of_order_timestamps(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=1)
    plog.append(batch(2, timestamps=[500, 100]))
    plog.append(batch(2, timestamps=[300, 900]))
    plog.append(batch(1, timestamp=200))
    assert plog.offset_for_timestamp(150) == (0, 500)
    assert plog.offset_for_timestamp(600) == (3, 900)
    assert plog.max_timestamp_offset() == (3, 900)


def test_start_offset_bounds_the_answer(tmp_path):
    plog = filled_log(tmp_path)
    plog.delete_records_before(4)
    assert plog.offset_for_timestamp(0) == (4, 210)


def test_compressed_batches_are_searched_record_by_record(tmp_path):
    plog = open_log(tmp_path)
    records = [Record(i, 1000 + 10 * i, None, b"v") for i in range(5)]
    plog.append(bytearray(build_batch(records, compression=Codec.GZIP)))
    assert plog.offset_for_timestamp(1025) == (3, 1030)
    assert plog.max_timestamp_offset() == (4, 1040)


def test_log_append_time_batches(tmp_path):
    plog = open_log(tmp_path)
    records = [Record(i, 5, None, b"v") for i in range(3)]
    plog.append(bytearray(build_batch(records, log_append_time=7000)))
    assert plog.offset_for_timestamp(6000) == (0, 7000)
    assert plog.max_timestamp_offset() == (0, 7000)


def test_empty_log(tmp_path):
    plog = open_log(tmp_path)
    assert plog.offset_for_timestamp(0) is None
    assert plog.max_timestamp_offset() is None
