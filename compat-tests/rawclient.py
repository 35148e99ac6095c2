"""A minimal Kafka client on kproto, for tests that need exact requests (bad input, edge cases).

Stock clients refuse to send malformed data; this one sends whatever it is given. It is the
operator tools' connection (kbroker.tools.client) with a check for a connection the broker closed.
"""

from __future__ import annotations

import socket

from kbroker.tools.client import Connection, split_address


class RawClient(Connection):
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        super().__init__(*split_address(bootstrap), timeout=timeout, client_id="rawclient")

    def __enter__(self) -> RawClient:
        return self

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes the connection (recv returns EOF or the socket is reset)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
