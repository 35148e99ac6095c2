"""A TCP proxy that understands Kafka framing, to cut connections at chosen moments.

`drop_responses(api_key, count)` makes it forward the next `count` requests with that key to the
broker and then close the client's connection instead of returning the broker's answer: the
request took effect but the client never hears so, which is what idempotent retries are for.
"""

from __future__ import annotations

import socket
import struct
import threading

SIZE = struct.Struct(">i")
REQUEST_HEAD = struct.Struct(">hhi")  # api key, api version, correlation id
RESPONSE_HEAD = struct.Struct(">i")  # correlation id


def read_frame(sock: socket.socket) -> bytes | None:
    """One size-prefixed frame, or None when the peer has gone."""
    head = read_exactly(sock, SIZE.size)
    if head is None:
        return None
    body = read_exactly(sock, SIZE.unpack(head)[0])
    return None if body is None else head + body


def read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = sock.recv(size - len(chunks))
        except OSError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class FrameProxy:
    """Listens on 127.0.0.1:`port` (0 picks one) and forwards to `target_port` once that is set."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self.listener.getsockname()[1]
        self.target_port: int | None = None
        self.dropped = 0
        self._lock = threading.Lock()
        self._drop_key = -1
        self._drop_left = 0
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_responses(self, api_key: int, count: int) -> None:
        with self._lock:
            self._drop_key, self._drop_left = api_key, count

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for sock in list(self._sockets):
            close_quietly(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            doomed: set[int] = set()  # correlation ids whose answers end the connection
            threading.Thread(target=self._requests, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client, doomed), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, doomed: set[int]) -> None:
        while (frame := read_frame(client)) is not None:
            api_key, _, correlation_id = REQUEST_HEAD.unpack_from(frame, SIZE.size)
            with self._lock:
                if api_key == self._drop_key and self._drop_left > 0:
                    self._drop_left -= 1
                    doomed.add(correlation_id)
            try:
                server.sendall(frame)
            except OSError:
                break
        close_quietly(client, server)

    def _responses(self, server: socket.socket, client: socket.socket, doomed: set[int]) -> None:
        while (frame := read_frame(server)) is not None:
            (correlation_id,) = RESPONSE_HEAD.unpack_from(frame, SIZE.size)
            if correlation_id in doomed:
                with self._lock:
                    self.dropped += 1
                break
            try:
                client.sendall(frame)
            except OSError:
                break
        close_quietly(client, server)


def close_quietly(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
