"""The leader-epoch cache: its checkpoint file's bytes, Kafka's lookup rules, and how a partition
log stamps and keeps it through appends, restarts, truncation, DeleteRecords and retention."""

from __future__ import annotations

import uuid

import pytest

from kproto.records.batch import decode_batches
from kproto.records.header import batch_crc_ok, iter_batch_headers

from kbroker.log import LogManager
from kbroker.log.checkpoint import CheckpointError
from kbroker.log.leader_epochs import EpochEntry, LeaderEpochCache, format_leader_epochs, read_leader_epochs
from logbatches import batch, open_log


def cache_with(tmp_path, *entries: tuple[int, int]) -> LeaderEpochCache:
    cache = LeaderEpochCache(tmp_path)
    for epoch, start in entries:
        cache.assign(epoch, start)
    cache.save()
    return cache


# -- the file

def test_checkpoint_bytes_are_kafkas_text_layout(tmp_path):
    cache_with(tmp_path, (0, 0), (1, 4711), (3, 5000))
    assert (tmp_path / "leader-epoch-checkpoint").read_bytes() == b"0\n3\n0 0\n1 4711\n3 5000\n"


def test_format_of_no_entries():
    assert format_leader_epochs([]) == b"0\n0\n"


def test_a_file_written_by_kafka_is_read(tmp_path):
    path = tmp_path / "leader-epoch-checkpoint"
    path.write_text("0\n2\n0 0\n7 120\n")
    assert read_leader_epochs(path) == [EpochEntry(0, 0), EpochEntry(7, 120)]
    assert LeaderEpochCache(tmp_path).latest_epoch == 7


def test_a_missing_file_is_an_empty_cache(tmp_path):
    cache = LeaderEpochCache(tmp_path)
    assert cache.entries == [] and cache.latest_epoch == -1
    cache.save()
    assert not (tmp_path / "leader-epoch-checkpoint").exists()


@pytest.mark.parametrize("text", ["1\n0\n", "0\n2\n0 0\n", "0\n1\n0\n", "0\n1\nzero 0\n", "0\nx\n"])
def test_malformed_files_are_refused(tmp_path, text):
    (tmp_path / "leader-epoch-checkpoint").write_text(text)
    with pytest.raises(CheckpointError):
        LeaderEpochCache(tmp_path)


# -- Kafka's rules

def test_assigning_the_latest_epoch_again_changes_nothing(tmp_path):
    cache = cache_with(tmp_path, (0, 0), (2, 10))
    cache.assign(2, 15)
    assert cache.entries == [(0, 0), (2, 10)]


def test_a_new_entry_drops_entries_it_would_contradict(tmp_path):
    cache = cache_with(tmp_path, (0, 0), (2, 10), (3, 20))
    cache.assign(2, 15)  # epoch 3 and the old epoch 2 are not below (2, 15)
    assert cache.entries == [(0, 0), (2, 15)]
    cache.assign(4, 0)
    cache.save()
    assert cache.entries == [(4, 0)]
    assert read_leader_epochs(cache.path) == [(4, 0)]


def test_negative_entries_are_refused(tmp_path):
    with pytest.raises(ValueError):
        cache_with(tmp_path, (-1, 0))


@pytest.mark.parametrize("requested, answer", [
    (5, (5, 100)),    # the latest epoch ends at the log end offset
    (3, (3, 40)),     # a known epoch ends where the next one starts
    (4, (3, 40)),     # an epoch between two known ones: the one below, ending where the next starts
    (0, (0, 10)),     # below the first entry: where the first entry starts
    (6, (-1, -1)),    # above every known epoch
    (-1, (-1, -1)),   # no epoch
])
def test_end_offset_for(tmp_path, requested, answer):
    cache = cache_with(tmp_path, (1, 10), (3, 20), (5, 40))
    assert cache.end_offset_for(requested, 100) == answer


def test_end_offset_for_an_empty_cache(tmp_path):
    assert LeaderEpochCache(tmp_path).end_offset_for(0, 10) == (-1, -1)


def test_epoch_for_offset(tmp_path):
    cache = cache_with(tmp_path, (1, 10), (3, 20))
    assert [cache.epoch_for_offset(o) for o in (5, 10, 19, 20, 99)] == [-1, 1, 1, 3, 3]


def test_truncation_from_the_start(tmp_path):
    cache = cache_with(tmp_path, (0, 0), (1, 10), (2, 20))
    cache.truncate_from_start(15)  # the entry covering the new start moves there, earlier ones go
    assert cache.entries == [(1, 15), (2, 20)]
    cache.truncate_from_start(15)
    assert cache.entries == [(1, 15), (2, 20)]
    cache.truncate_from_start(25)
    assert cache.entries == [(2, 25)]


# -- the partition log

def led_in_turn(tmp_path, *counts: int):
    """A log led in epochs 0, 1, ... in turn (a restart between two), `counts[i]` records in epoch i;
    returned open and led in the last of them."""
    plog = open_log(tmp_path)
    for i, count in enumerate(counts):
        if i:
            plog.close()
            plog = open_log(tmp_path, clean=True)
        plog.become_leader()
        plog.append(batch(count))
    return plog


def stamped_epochs(plog) -> list[int]:
    data = plog.read(plog.log_start_offset, 1 << 20)
    for position, header in iter_batch_headers(data):
        assert batch_crc_ok(data, position, header)
    assert decode_batches(data)  # the records still decode
    return [header.partition_leader_epoch for _, header in iter_batch_headers(data)]


def test_appends_are_stamped_with_the_leaders_epoch_and_keep_their_crc(tmp_path):
    plog = open_log(tmp_path)
    assert plog.become_leader() == 0
    plog.append(batch(2))
    plog.append(batch(3))
    assert stamped_epochs(plog) == [0, 0]
    assert plog.leader_epochs.path.read_text() == "0\n1\n0 0\n"


def test_each_reopen_leads_in_the_next_epoch_from_the_log_end(tmp_path):
    again = led_in_turn(tmp_path, 2, 1)
    assert again.leader_epoch == 1
    assert stamped_epochs(again) == [0, 1]
    assert again.leader_epochs.path.read_text() == "0\n2\n0 0\n1 2\n"
    assert again.leader_epochs.end_offset_for(0, again.log_end_offset) == (0, 2)
    assert again.leader_epochs.end_offset_for(1, again.log_end_offset) == (1, 3)


def test_an_epoch_without_data_is_replaced_by_the_next_and_never_reused(tmp_path):
    first = open_log(tmp_path)
    first.become_leader()
    first.append(batch(1))
    first.close()
    again = open_log(tmp_path, clean=True)
    assert again.become_leader() == 1
    assert again.leader_epochs.entries == [(0, 0), (1, 1)]
    again.close()
    assert open_log(tmp_path, clean=True).become_leader() == 2


def test_a_new_epoch_reaches_the_disk_with_its_first_batch_not_before(tmp_path):
    plog = open_log(tmp_path)
    plog.become_leader()
    assert not plog.leader_epochs.path.exists()  # no fsync for a partition nobody writes to
    plog.append(batch(1))
    assert plog.leader_epochs.path.read_text() == "0\n1\n0 0\n"


def test_delete_records_moves_the_first_entry(tmp_path):
    plog = led_in_turn(tmp_path, 5, 5)
    plog.delete_records_before(3)
    assert plog.leader_epochs.path.read_text() == "0\n2\n0 3\n1 5\n"
    plog.delete_records_before(7)
    assert plog.leader_epochs.path.read_text() == "0\n1\n1 7\n"


def test_retention_deleting_everything_keeps_the_current_epoch(tmp_path):
    plog = open_log(tmp_path, retention_ms=1000)
    plog.become_leader()
    plog.append(batch(4, timestamp=1_000))
    plog.apply_retention(now=10_000_000)
    assert plog.log_start_offset == 4
    assert plog.leader_epochs.entries == [(0, 4)]
    plog.append(batch(1))
    assert stamped_epochs(plog) == [0]


def test_truncation_drops_later_epochs_and_the_leader_keeps_its_own(tmp_path):
    plog = led_in_turn(tmp_path, 3, 3)
    plog.truncate_to(3)
    assert plog.leader_epochs.entries == [(0, 0), (1, 3)]
    plog.truncate_to(0)
    assert plog.leader_epochs.entries == [(1, 0)]


def test_recovery_cutting_the_tail_leaves_the_next_epoch_above_every_one_seen(tmp_path):
    plog = led_in_turn(tmp_path, 3, 3, 3)  # epochs 0, 1, 2 starting at offsets 0, 3, 6
    segment = plog.segments[-1].log_path
    plog.close(flush=False)
    with open(segment, "r+b") as f:  # a torn write: epoch 1's batch loses its last bytes, epoch 2's is gone
        f.truncate(plog.segments[-1].size * 2 // 3 - 5)
    recovered = open_log(tmp_path, clean=False)
    assert recovered.log_end_offset == 3
    assert recovered.become_leader() == 3
    assert recovered.leader_epochs.entries == [(0, 0), (3, 3)]
    assert recovered.leader_epochs.end_offset_for(1, 3) == (0, 3)  # a reader of epoch 1 sees the log ends at 3


def test_the_log_manager_leads_what_it_opens_and_a_restart_bumps_the_epoch(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    plog = manager.open("t", 0, uuid.uuid4(), {})
    assert plog.leader_epoch == 0
    plog.append(batch(2))
    manager.close()
    restarted = LogManager([tmp_path], node_id=0)
    again = restarted.open("t", 0)
    assert again.leader_epoch == 1
    assert again.leader_epochs.entries == [(0, 0), (1, 2)]
    restarted.close()  # the new epoch's entry is written at the latest by a clean stop
    assert (tmp_path / "t-0" / "leader-epoch-checkpoint").read_text() == "0\n2\n0 0\n1 2\n"


def test_a_clean_stop_writes_no_entry_for_a_log_that_never_held_a_batch(tmp_path):
    manager = LogManager([tmp_path], node_id=0)
    manager.open("empty", 0, uuid.uuid4(), {})
    manager.open("used", 0, uuid.uuid4(), {}).append(batch(1))
    manager.close()
    assert not (tmp_path / "empty-0" / "leader-epoch-checkpoint").exists()
    assert (tmp_path / "used-0" / "leader-epoch-checkpoint").read_text() == "0\n1\n0 0\n"
    restarted = LogManager([tmp_path], node_id=0)
    again = restarted.open("empty", 0)
    assert again.leader_epoch == 0  # the epoch it was led in before: no batch carries it
    again.append(batch(1))
    assert again.leader_epochs.entries == [(0, 0)]
    restarted.close()
    assert (tmp_path / "empty-0" / "leader-epoch-checkpoint").read_text() == "0\n1\n0 0\n"
