"""Kafka clients for the console's pages, each used by one worker thread at a time.

The tools' client is synchronous; the console runs on an event loop (the broker's own, with
`kbroker serve --console`), where a blocking call to that very broker would never be answered.
So every query runs in a worker thread with a client of its own, taken from a small pool of open
connections and put back after use; a client that failed is closed rather than reused.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, TypeVar

from kbroker.security.inter_broker import PeerSecurity
from kbroker.tools.client import Client

T = TypeVar("T")
MAX_IDLE = 4  # open clients kept between requests: enough for a page plus polling tabs


class ClientPool:
    def __init__(self, bootstrap: str, timeout: float = 10.0, security: PeerSecurity | None = None) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.security = security
        self._idle: list[Client] = []
        self._lock = threading.Lock()

    async def run(self, query: Callable[..., T], *args: object) -> T:
        """`query(client, *args)` in a worker thread."""
        return await asyncio.to_thread(self._call, query, *args)

    def _call(self, query: Callable[..., T], *args: object) -> T:
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = Client(self.bootstrap, timeout=self.timeout, security=self.security)
        try:
            result = query(client, *args)
        except BaseException:
            client.close()
            raise
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(client)
                return result
        client.close()
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()
