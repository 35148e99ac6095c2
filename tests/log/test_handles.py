"""Log files are opened on demand: the open descriptors stay under the handle cache's bound."""

from __future__ import annotations

import os

from kbroker.log import LogManager
from kbroker.log.handles import HANDLES, MIN_CAPACITY
from logbatches import batch, offsets_in


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def read_all(plog) -> list[int]:
    """Every offset, read segment by segment from the start."""
    found: list[int] = []
    while len(found) < plog.log_end_offset:
        found += offsets_in(plog.read(len(found), 1 << 20))
    return found


def test_many_partitions_hold_a_bounded_number_of_files(tmp_path, monkeypatch):
    monkeypatch.setattr(HANDLES, "capacity", MIN_CAPACITY)
    before = open_descriptors()
    manager = LogManager([tmp_path], node_id=0)
    logs = [manager.open("t", p, None, {"segment.bytes": "2000"}) for p in range(60)]
    for _ in range(3):
        for plog in logs:
            plog.append(batch(3, value_size=300))  # rolls: several segments a partition
    assert open_descriptors() - before <= MIN_CAPACITY + 2  # the cache, the checkpoint thread's
    assert all(read_all(plog) == list(range(9)) for plog in logs)
    manager.close()
    again = LogManager([tmp_path], node_id=0)
    assert [read_all(again.open("t", p)) for p in (0, 59)] == [list(range(9))] * 2
    assert open_descriptors() - before <= MIN_CAPACITY + 2
    again.close()
