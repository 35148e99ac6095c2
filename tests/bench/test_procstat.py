"""The bench's CPU time of a process: to the nanosecond, and counting threads that have exited."""

from __future__ import annotations

import subprocess
import sys

from bench.procstat import cpu_seconds, cpu_times

# Burns 0.3 s of CPU in a thread that then ends, and says so; then idles until killed.
BURN_IN_A_THREAD = """
import threading, time
def burn():
    start = time.thread_time()
    while time.thread_time() - start < 0.3:
        pass
worker = threading.Thread(target=burn)
worker.start()
worker.join()
print("done", time.process_time(), flush=True)
time.sleep(60)
"""


def test_cpu_seconds_counts_an_exited_thread_to_below_a_tick() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN_IN_A_THREAD], stdout=subprocess.PIPE, text=True)
    try:
        own_count = float(child.stdout.readline().split()[1])  # the child's own process_time()
        seconds = cpu_seconds(child.pid)
        assert seconds is not None and seconds >= 0.3
        assert abs(seconds - own_count) < 0.005  # the same clock; a tick is 0.01
        assert abs(seconds - sum(cpu_times(child.pid))) <= 0.021  # user and system, each cut to a tick
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds(child.pid) is None  # gone: nothing to read either way
