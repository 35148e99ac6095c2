"""CPU time of a process on this machine, read from /proc, for the CPU-per-MB figures."""

from __future__ import annotations

from pathlib import Path


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far, summed over its live threads; None if it cannot be read.

    Each thread's schedstat counts nanoseconds on the CPU, finer than the clock ticks of /proc/<pid>/stat.
    """
    try:
        stats = [path.read_text() for path in Path(f"/proc/{pid}/task").glob("*/schedstat")]
        return sum(int(stat.split()[0]) for stat in stats) / 1e9 if stats else None
    except (OSError, ValueError, IndexError):
        return None
