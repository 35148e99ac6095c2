"""The bench's brokers under measurement: one that exits during the bench is noticed, so that its
later workloads are not each left to run out their time limit."""

from __future__ import annotations

import os
import signal
import time

from bench.__main__ import Target


def test_a_broker_that_exits_is_noticed(tmp_path):
    target = Target("kbroker", tmp_path)
    target.start()
    try:
        assert target.error is None and not target.exited()
        os.kill(target.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not target.exited():
            assert time.monotonic() < deadline, "the killed broker still counts as running"
            time.sleep(0.05)
    finally:
        target.stop()


def test_a_broker_given_by_address_is_not_the_bench_s_to_watch():
    assert not Target("kafka", bootstrap="127.0.0.1:9").exited()
