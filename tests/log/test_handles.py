"""Log files are opened on demand: the open descriptors stay under the handle cache's bound."""

from __future__ import annotations

import os
import threading

from kbroker.log import LogManager
from kbroker.log.handles import MIN_CAPACITY, LazyFile, handles
from logbatches import batch, read_offsets


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_partitions_hold_a_bounded_number_of_files(tmp_path, monkeypatch):
    monkeypatch.setattr(handles(), "capacity", MIN_CAPACITY)
    before = open_descriptors()
    manager = LogManager([tmp_path], node_id=0)
    logs = [manager.open("t", p, None, {"segment.bytes": "2000"}) for p in range(60)]
    for _ in range(3):
        for plog in logs:
            plog.append(batch(3, value_size=300))  # rolls: several segments a partition
    assert open_descriptors() - before <= MIN_CAPACITY + 2  # the cache, the checkpoint thread's
    assert all(read_offsets(plog) == list(range(9)) for plog in logs)
    manager.close()
    again = LogManager([tmp_path], node_id=0)
    assert [read_offsets(again.open("t", p)) for p in (0, 59)] == [list(range(9))] * 2
    assert open_descriptors() - before <= MIN_CAPACITY + 2
    again.close()


def test_a_thread_opening_many_files_closes_none_of_another_threads(tmp_path, monkeypatch):
    """Brokers on two threads of one process: one's descriptors stay open while the other opens many files."""
    monkeypatch.setattr(handles(), "capacity", MIN_CAPACITY)
    mine = LazyFile(tmp_path / "mine")
    fd = mine.get()

    def open_many() -> None:
        handles().capacity = MIN_CAPACITY
        files = [LazyFile(tmp_path / f"other-{i}") for i in range(MIN_CAPACITY + 1)]
        for file in files:
            file.get()
        for file in files:
            file.close()
    other = threading.Thread(target=open_many)
    other.start()
    other.join()
    assert mine.fd == fd and os.fstat(fd)
    mine.close()
