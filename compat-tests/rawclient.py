"""A minimal Kafka client on kproto, for tests that need exact requests (bad input, edge cases).

Stock clients refuse to send malformed data; this one sends whatever it is given.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from kproto import decode_response, encode_request
from kproto.frames import frame
from kproto.messages import RequestHeader


class RawClient:
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        host, _, port = bootstrap.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, request: Any, version: int) -> Any:
        """Send a request and return the decoded response (None for acks=0 produce)."""
        self.correlation_id += 1
        header = RequestHeader(request_api_key=request.API_KEY, request_api_version=version,
                               correlation_id=self.correlation_id, client_id="rawclient")
        self.sock.sendall(frame(encode_request(header, request)))
        size = struct.unpack(">i", self.read_exact(4))[0]
        payload = self.read_exact(size)
        response_header, response = decode_response(payload, request.API_KEY, version)
        assert response_header.correlation_id == self.correlation_id
        return response

    def read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes the connection (recv returns EOF or the socket is reset)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
