"""CPU time of a process on this machine, read from /proc, for the CPU-per-MB figures."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far, user and system, or None if it cannot be read.

    /proc/<pid>/stat counts every thread the process ever had, including those that have exited: a broker
    that runs each request on a short-lived thread (noida-db does) would otherwise show less CPU time
    after a run than before it. Its unit is the clock tick (10 ms), fine against a run's hundreds of ms.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime and stime, fields 14 and 15 of stat
    except (OSError, ValueError, IndexError):
        return None
