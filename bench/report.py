"""What the benchmark tables share: the order of their metrics and how a figure is printed."""

from __future__ import annotations

# Every metric a workload reports, in table order, and whether a larger figure is the better one.
HIGHER_IS_BETTER = {"msg/s": True, "MB/s": True, "broker CPU ms/MB": False, "of it system ms/MB": False,
                    "p50 ms": False, "p99 ms": False,
                    "p99.9 ms": False, "produce p50 ms": False, "produce p99 ms": False, "produce p99.9 ms": False}


def fmt(value: float | None) -> str:
    if value is None:
        return "error"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value >= 1 else f"{value:.3f}"
