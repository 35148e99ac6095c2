"""Code run inside a benchmarked broker process: a `sitecustomize` put first on its PYTHONPATH.

Python imports `sitecustomize` from its path at start-up, so a bench can time something in the
ordinary `kbroker serve` without changing it. The brokers a bench starts inherit its environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# Every garbage collection of generation 2, and any other longer than a millisecond: when it began
# (`time.perf_counter`, the same monotonic clock in every process), its generation and seconds.
GC_PAUSES = '''
import gc
import time

_began = 0.0


def _note(phase, info):
    global _began
    if phase == "start":
        _began = time.perf_counter()
        return
    took = time.perf_counter() - _began
    if info["generation"] == 2 or took > 0.001:
        with open({out!r}, "a") as fh:
            fh.write(f"{{_began}} {{info['generation']}} {{took}}\\n")


gc.callbacks.append(_note)
'''


@contextlib.contextmanager
def sitecustomize(hooks: Path, code: str, *path: Path) -> Iterator[None]:
    """Brokers started inside the block run `code` at start-up, with `path`, then the PYTHONPATH the
    bench was given, after it."""
    hooks.mkdir(parents=True, exist_ok=True)
    (hooks / "sitecustomize.py").write_text(code)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(p) for p in (hooks, *path)] + ([saved] if saved else []))
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def gc_pauses(out: Path, since: float = 0.0, until: float = float("inf")) -> list[tuple[int, float]]:
    """The (generation, seconds) of the collections GC_PAUSES noted in `out` that began in [since, until]."""
    if not out.exists():
        return []
    rows = (line.split() for line in out.read_text().splitlines())
    return [(int(gen), float(took)) for began, gen, took in rows if since <= float(began) <= until]
