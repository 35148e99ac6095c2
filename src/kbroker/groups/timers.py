"""Named one-shot timers on the asyncio loop: scheduling a key again replaces its timer.

Kafka's coordinator keys its timers the same way (a member's session, a group's join phase), so
a heartbeat simply re-arms the member's key and a stale callback can never fire twice. Keys are
tuples whose second item is the group id, so that a group's timers can all be cancelled at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Hashable

log = logging.getLogger("kbroker.groups")


class Timers:
    def __init__(self) -> None:
        self._handles: dict[Hashable, asyncio.TimerHandle] = {}

    def schedule(self, key: Hashable, delay_ms: float, callback: Callable[[], None]) -> None:
        self.cancel(key)
        loop = asyncio.get_running_loop()
        self._handles[key] = loop.call_later(max(delay_ms, 0) / 1000, self._fire, key, callback)

    def cancel(self, key: Hashable) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def cancel_group(self, group_id: str) -> None:
        """Every timer of the group: its coordinator no longer serves it."""
        for key in [k for k in self._handles if k[1] == group_id]:
            self.cancel(key)

    def is_scheduled(self, key: Hashable) -> bool:
        return key in self._handles

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _fire(self, key: Hashable, callback: Callable[[], None]) -> None:
        self._handles.pop(key, None)
        try:
            callback()
        except Exception:
            log.exception("group coordinator timer %r failed", key)
