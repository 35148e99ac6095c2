"""`python -m bench.fixtures`: how long a test waits for a kbroker, and what 100 fresh brokers cost.

Start-up is timed from `KBroker.start()` to its return (the broker accepts connections and its
topics exist), stop from `stop()` to the process being gone, in both modes. The suite figure is a
generated project of N tests, each with a `kafka_broker_function` broker of its own that it
produces one record to, run by pytest in a child process, as a project's CI would.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from kbroker.testing import MODES, KBroker

SUITE_TIMEOUT = 1800  # seconds for the whole generated suite; a hang shows as pytest-timeout failures first
SUITE_TEST = '''
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_fresh_broker(kafka_broker_function, n):
    producer = kafka_broker_function.producer()
    producer.produce("t", str(n).encode())
    assert producer.flush(10) == 0
'''


def time_starts(mode: str, runs: int) -> tuple[list[float], list[float]]:
    starts, stops = [], []
    for _ in range(runs):
        broker = KBroker(topics={"orders": 3}, mode=mode)  # type: ignore[arg-type]
        began = time.perf_counter()
        broker.start()
        ready = time.perf_counter()
        broker.stop()
        starts.append(ready - began)
        stops.append(time.perf_counter() - ready)
    return starts, stops


def time_suite(count: int, mode: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="kbroker-suite-") as folder:
        project = Path(folder)
        (project / "pytest.ini").write_text(f"[pytest]\nkbroker_topics = t:1\nkbroker_mode = {mode}\n"
                                            "timeout = 120\nfaulthandler_timeout = 60\n")
        (project / "test_suite.py").write_text(textwrap.dedent(SUITE_TEST.format(count=count)))
        began = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                                 str(project)], cwd=project, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=SUITE_TIMEOUT)
        elapsed = time.perf_counter() - began
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
    return elapsed, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fixtures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="starts timed per mode (default 20)")
    parser.add_argument("--tests", type=int, default=100, help="tests in the function-scoped suite (default 100)")
    args = parser.parse_args(argv)
    with open("/proc/loadavg") as fh:
        print(f"load average before: {fh.read().split()[0]}")
    for mode in MODES:
        starts, stops = time_starts(mode, args.runs)
        print(f"{mode:<10} start {describe(starts)}; stop {describe(stops)}")
    for mode in MODES:
        elapsed, summary = time_suite(args.tests, mode)
        print(f"{args.tests} tests, kafka_broker_function, {mode}: {elapsed:.1f} s ({elapsed / args.tests * 1000:.0f} ms "
              f"a test) -- {summary}")


if __name__ == "__main__":
    main()
