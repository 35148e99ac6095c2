"""The harness itself: a broker never outlives the test process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STARTER = """
import sys, time
sys.path.insert(0, {here!r})
from brokerproc import BrokerProcess
broker = BrokerProcess({workdir!r}).start()
print(broker.pid, flush=True)
time.sleep(120)
"""


def test_broker_stops_when_its_test_process_is_killed(tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER.format(here=str(HERE), workdir=str(tmp_path))],
                               stdout=subprocess.PIPE, text=True)
    broker_pid = int(starter.stdout.readline())
    os.kill(starter.pid, signal.SIGKILL)  # no teardown runs
    starter.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(broker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(broker_pid, signal.SIGKILL)
    raise AssertionError(f"broker {broker_pid} outlived the process that started it")
