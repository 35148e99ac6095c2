"""A broker's requests to the controller (AlterPartition), wherever the controller is now.

The cluster view says which broker is controller; the link keeps one connection to it and opens a
new one when the controller moves, as Kafka's broker-to-controller channel does.
"""

from __future__ import annotations

from typing import Any

from kbroker.cluster.peer import PeerConnection, PeerError
from kbroker.security.inter_broker import PeerSecurity
from kbroker.cluster.view import ClusterView


class ControllerLink:
    def __init__(self, view: ClusterView, client_id: str, security: PeerSecurity | None = None) -> None:
        self.view = view
        self.client_id = client_id
        self.security = security
        self._connection: PeerConnection | None = None
        self._controller = -1

    async def send(self, message: Any, version: int, timeout: float = 10.0) -> Any:
        controller = self.view.brokers.get(self.view.controller_id)
        if controller is None:
            raise PeerError("no controller is known yet")
        if self._connection is None or self._controller != controller.node_id or \
                (self._connection.host, self._connection.port) != (controller.host, controller.port):
            self.close()
            self._connection = PeerConnection(controller.host, controller.port, self.client_id,
                                              security=self.security)
            self._controller = controller.node_id
        return await self._connection.request(message, version, timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
