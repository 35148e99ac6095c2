"""The serving process keeps freed request buffers for reuse instead of page-faulting them in anew."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHURN = """
import resource, sys
from kbroker.server.allocator import keep_freed_memory
if sys.argv[1] == "kept" and not keep_freed_memory():
    sys.exit("thresholds not set")

def request() -> None:  # a produce request's buffers: frame, records, validated copy
    frame = bytes(1_000_000)
    records = bytearray(frame)
    copy = bytes(records)
    del frame, records, copy

for _ in range(5):
    request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    request()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* settings of the caller's
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, env=env, check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_request_buffers_are_reused_without_page_faults() -> None:
    assert page_faults("default") > 10_000  # glibc hands the memory back and faults it in again
    assert page_faults("kept") < 1_000
