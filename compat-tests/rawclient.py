"""A minimal Kafka client on kproto, for tests that need exact requests (bad input, edge cases).

Stock clients refuse to send malformed data; this one sends whatever it is given. It is the
operator tools' connection (kbroker.tools.client) with a check for a connection the broker closed.
"""

from __future__ import annotations

import socket

from kproto.messages import OffsetFetchRequest

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

    def committed(self, group: str, topic: str, partition: int = 0, require_stable: bool = False) -> tuple[int, int]:
        """(error code, committed offset) of one partition by OffsetFetch v7; require_stable is what
        read_committed consumers ask for."""
        response = self.request(OffsetFetchRequest(group_id=group, require_stable=require_stable, topics=[
            OffsetFetchRequest.OffsetFetchRequestTopic(name=topic, partition_indexes=[partition])]), 7)
        found = response.topics[0].partitions[0]
        return found.error_code, found.committed_offset
