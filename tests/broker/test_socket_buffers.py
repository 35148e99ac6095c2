"""The client sockets' buffer sizes: socket.send.buffer.bytes and socket.receive.buffer.bytes
applied when given, the OS's own sizing (TCP autotuning) when not."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from kbroker.broker import Broker
from kbroker.config import BrokerConfig, ConfigError
from kbroker.server.listeners import ClientListeners

SET = 65536  # Linux reports twice what was set (its bookkeeping overhead)


async def server_side_buffers(data_dir: Path, settings: dict[str, str]) -> tuple[int, int]:
    """(SO_RCVBUF, SO_SNDBUF) of the broker's end of a connection to it, as Linux reports them."""
    broker = Broker(BrokerConfig({"log.dirs": str(data_dir), "node.id": "0",
                                  "listeners": "PLAINTEXT://127.0.0.1:0", **settings}))
    listeners = ClientListeners(broker)
    await broker.start(listeners)
    try:
        port = broker.listen_port
        client = socket.create_connection(("127.0.0.1", port))
        try:
            for _ in range(200):
                if broker.connections:
                    break
                await asyncio.sleep(0.01)
            (conn,) = broker.connections
            sock = conn.transport.get_extra_info("socket")
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        finally:
            client.close()
    finally:
        await broker.stop()


def test_buffer_sizes_given_are_applied_to_client_sockets(tmp_path: Path) -> None:
    received, sent = asyncio.run(server_side_buffers(tmp_path, {"socket.receive.buffer.bytes": str(SET),
                                                                "socket.send.buffer.bytes": str(SET)}))
    assert (received, sent) == (2 * SET, 2 * SET)


@pytest.mark.parametrize("settings", [{}, {"socket.receive.buffer.bytes": "-1", "socket.send.buffer.bytes": "-1"}],
                         ids=["unset", "minus-one"])
def test_unset_or_minus_one_leaves_the_os_sizing(tmp_path: Path, settings: dict[str, str]) -> None:
    buffers = asyncio.run(server_side_buffers(tmp_path, settings))
    assert buffers == accepted_socket_buffers() and 2 * 102400 not in buffers


def accepted_socket_buffers() -> tuple[int, int]:
    """(SO_RCVBUF, SO_SNDBUF) of a freshly accepted loopback connection that nobody sized."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()):
            accepted, _ = server.accept()
            with accepted:
                return (accepted.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                        accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))


@pytest.mark.parametrize("value", ["0", "-2"])
def test_a_size_below_one_other_than_minus_one_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=f"value {value} is not -1 or at least 1"):
        BrokerConfig({"log.dirs": str(tmp_path), "socket.send.buffer.bytes": value})
