"""Keep what the broker built at start-up out of the cyclic garbage collector's full collections.

A full (generation 2) collection walks every object the collector tracks, and the event loop waits
for it. Most of what a serving broker holds at start-up lives as long as the process: modules, the
compiled codecs, the message and config descriptions, about 50,000 objects that cost each full
collection 9-14 ms. Frozen (`gc.freeze`), they are left out of every later collection; anything
made afterwards is collected as before. It is done once, after a collection, just after the broker
has started listening: a frozen object that later becomes garbage in a reference cycle is never
freed (a closed connection's asyncio transport is one, about six objects), and at that moment few
clients, if any, have connected.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect the start-up's garbage, then freeze what is left; returns the number frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
