"""The controller's requests to each broker, sent in order, one at a time, retried until answered.

As Kafka's controller channel manager does: a LeaderAndIsr must reach a broker before the
UpdateMetadata that follows it, and a broker that is briefly unreachable gets the same requests
when it answers again. A broker that leaves the cluster has its queue dropped.

The controller decides on a worker thread (its ZooKeeper calls block); `add`, `remove` and `send`
may be called from there and take effect on the event loop, in the order they were called.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kbroker.cluster.peer import PeerConnection, PeerError
from kbroker.security.inter_broker import PeerSecurity

log = logging.getLogger("kbroker.controller")
RETRY_BACKOFF = 0.1  # seconds between attempts at an unreachable broker


class BrokerChannel:
    def __init__(self, broker_id: int, host: str, port: int, client_id: str, security: PeerSecurity | None) -> None:
        self.broker_id = broker_id
        self.connection = PeerConnection(host, port, client_id, security=security)
        self.queue: asyncio.Queue[tuple[Any, int]] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._send_in_order())

    async def _send_in_order(self) -> None:
        while True:
            message, version = await self.queue.get()
            while True:
                try:
                    response = await self.connection.request(message, version)
                    if getattr(response, "error_code", 0):
                        log.warning("broker %d answered %s with error %d", self.broker_id,
                                    type(message).__name__, response.error_code)
                    break
                except PeerError as exc:
                    log.debug("controller request to broker %d failed: %s", self.broker_id, exc)
                    await asyncio.sleep(RETRY_BACKOFF)

    def close(self) -> None:
        self.task.cancel()
        self.connection.close()


class ChannelManager:
    def __init__(self, client_id: str, security: PeerSecurity | None = None) -> None:
        self.client_id = client_id
        self.security = security
        self.channels: dict[int, BrokerChannel] = {}
        self.loop = asyncio.get_running_loop()

    def add(self, broker_id: int, host: str, port: int) -> None:
        self.loop.call_soon_threadsafe(self._add, broker_id, host, port)

    def remove(self, broker_id: int) -> None:
        self.loop.call_soon_threadsafe(self._remove, broker_id)

    def send(self, broker_id: int, message: Any, version: int) -> None:
        self.loop.call_soon_threadsafe(self._send, broker_id, message, version)

    def _add(self, broker_id: int, host: str, port: int) -> None:
        old = self.channels.get(broker_id)
        if old is not None:
            if (old.connection.host, old.connection.port) == (host, port):
                return
            old.close()
        self.channels[broker_id] = BrokerChannel(broker_id, host, port, self.client_id, self.security)

    def _remove(self, broker_id: int) -> None:
        channel = self.channels.pop(broker_id, None)
        if channel is not None:
            channel.close()

    def _send(self, broker_id: int, message: Any, version: int) -> None:
        channel = self.channels.get(broker_id)
        if channel is not None:
            channel.queue.put_nowait((message, version))

    def close(self) -> None:
        for broker_id in list(self.channels):
            self._remove(broker_id)
