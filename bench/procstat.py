"""A process's CPU time, memory, open files and disk reads, and the machine's free memory, from /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float] | None:
    """CPU time the process has used so far, (user, system) seconds, or None if it cannot be read.

    /proc/<pid>/stat counts every thread the process ever had, including those that have exited: a broker
    that runs each request on a short-lived thread (noida-db does) would otherwise show less CPU time
    after a run than before it. Its unit is the clock tick (10 ms), fine against a run's hundreds of ms.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
        return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS  # utime and stime, fields 14 and 15 of stat
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far, user and system, or None if it cannot be read.

    Read from the process's CPU-time clock, to the nanosecond, which also counts every thread the
    process ever had: a run of 60 MB (100-byte messages) takes a broker a few ticks of /proc's
    10 ms, too few to compare. /proc's ticks where that clock cannot be read.
    """
    try:
        return time.clock_gettime(_process_cpu_clock(pid))
    except OSError:
        times = cpu_times(pid)
        return None if times is None else sum(times)


def _process_cpu_clock(pid: int) -> int:
    """The id Linux gives the CPU-time clock of process `pid` (what clock_getcpuclockid returns):
    the pid's complement shifted past three bits that say which clock, 2 for the scheduler's runtime."""
    return (~pid << 3) | 2


def status_kb(pid: int, field: str) -> int:
    """A memory figure (kB) of the process from /proc/<pid>/status: VmRSS now, VmHWM its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def disk_read_bytes(pid: int) -> int:
    """Bytes the process has caused to be read from storage (`read_bytes` of /proc/<pid>/io): reads
    the page cache answered do not count, so it tells a cold read from a warm one."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def free_memory_gb() -> float:
    """The machine's unused memory (MemFree): what the page cache can still grow into."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemFree:"):
            return int(line.split()[1]) / 1e6
    return 0.0
