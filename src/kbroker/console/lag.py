"""Consumer lag over the last minutes, sampled in the console's process for the lag chart.

A task asks every consumer group's lag each `interval` seconds and keeps what it learnt for
`window` seconds; a group's page adds the sample it has just read, so a chart has a point at
once. Nothing is stored anywhere else: a restarted console starts a fresh chart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from kbroker.console.groups import group_lags
from kbroker.console.pool import ClientPool
from kbroker.tools.client import ToolError
from kbroker.tools.group_admin import list_groups

log = logging.getLogger("kbroker.console")
WINDOW_S = 15 * 60
INTERVAL_S = 10.0
MAX_GROUPS = 100  # sampled per round: a round stays a few hundred requests at most
MAX_SERIES = 8  # partitions drawn beside the total; the rest still count in the total


class LagHistory:
    def __init__(self, pool: ClientPool, interval: float = INTERVAL_S, window: float = WINDOW_S) -> None:
        self.pool = pool
        self.interval = interval
        self.window = window
        self._samples: dict[str, deque[tuple[float, dict[str, int]]]] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, group_id: str, lags: dict[str, int], at: float | None = None) -> None:
        now = time.time() if at is None else at
        samples = self._samples.setdefault(group_id, deque())
        samples.append((now, lags))
        while samples and samples[0][0] < now - self.window:
            samples.popleft()

    def chart(self, group_id: str) -> dict[str, Any]:
        """uPlot's data: times in seconds, then the total lag and the largest partitions' lags."""
        samples = list(self._samples.get(group_id, ()))
        partitions = sorted({p for _, lags in samples for p in lags},
                            key=lambda p: -max(lags.get(p, 0) for _, lags in samples))[:MAX_SERIES]
        return {"labels": ["total", *partitions],
                "data": [[round(t, 3) for t, _ in samples], [sum(lags.values()) for _, lags in samples],
                         *[[lags.get(p) for _, lags in samples] for p in partitions]]}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sample_forever(self) -> None:
        while True:
            try:
                listings = await self.pool.run(list_groups)
                for listing in listings[:MAX_GROUPS]:
                    self.record(listing.group_id, await self.pool.run(group_lags, listing.group_id))
            except ToolError as exc:
                log.warning("lag sampling: %s", exc)
            self.forget_stale(time.time())
            await asyncio.sleep(self.interval)

    def forget_stale(self, now: float) -> None:
        """Drop the groups with no sample in the window (deleted, or past MAX_GROUPS now)."""
        self._samples = {g: s for g, s in self._samples.items() if s and s[-1][0] >= now - self.window}
