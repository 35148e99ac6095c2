"""The serving process freezes what it built at start-up, and still frees the garbage it makes later."""

from __future__ import annotations

import subprocess
import sys

AFTER_FREEZE = """
import gc, weakref
import kbroker.broker  # what `kbroker serve` has loaded when it freezes
from kbroker.server.collector import freeze_startup_objects

class Node:
    pass

kept = Node()
frozen = freeze_startup_objects()
tracked = len(gc.get_objects())
cycle = Node()
cycle.me = cycle
gone = weakref.ref(cycle)
del cycle
gc.collect()
print(frozen, tracked, gone() is None, any(o is kept for o in gc.get_objects()))
"""


def test_startup_objects_are_frozen_and_later_cycles_still_collected() -> None:
    done = subprocess.run([sys.executable, "-c", AFTER_FREEZE], capture_output=True, text=True, check=True)
    frozen, tracked, collected, kept_tracked = done.stdout.split()
    assert int(frozen) > 10_000  # modules, codecs, descriptions: out of every later collection's walk
    assert int(tracked) < 1_000
    assert kept_tracked == "False"
    assert collected == "True"  # a reference cycle made after the freeze is still freed
