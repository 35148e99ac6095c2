"""`kbroker serve` as a user runs it: start-up, bad configuration, loopback addresses, clean stops."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from brokerproc import free_port
from kproto import ErrorCode
from kproto.messages import ApiVersionsRequest
from rawclient import RawClient


def run_serve(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbroker", "serve", *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd)


@pytest.mark.parametrize("args, key", [
    (["--set", "log.segment.bytes=abc"], "log.segment.bytes"),
    (["--set", "no.such.key=1"], "no.such.key"),
    (["--set", "num.partitions=0"], "num.partitions"),
])
def test_bad_config_is_one_line_naming_the_key_and_exit_2(tmp_path, args, key):
    result = run_serve("--data-dir", str(tmp_path), "--listen", f"127.0.0.1:{free_port()}", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], result.stderr


def start(tmp_path, listen: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "kbroker", "serve", "--listen", listen, "--data-dir",
                             str(tmp_path / "data")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "kbroker ready on" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("broker did not start")


def can_talk(host: str, port: int) -> bool:
    with RawClient(f"{host}:{port}") as client:
        return client.request(ApiVersionsRequest(), 0).error_code == ErrorCode.NONE


def test_localhost_listens_on_both_loopbacks_and_sigterm_stops_cleanly(tmp_path):
    port = free_port()
    proc = start(tmp_path, f"localhost:{port}")
    try:
        assert can_talk("127.0.0.1", port)
        if socket.has_ipv6:
            assert can_talk("::1", port)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_sigint_stops_cleanly(tmp_path):
    proc = start(tmp_path, f"127.0.0.1:{free_port()}")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


def test_an_unreachable_zookeeper_is_one_clear_line_and_exit_2(tmp_path):
    result = run_serve("--data-dir", str(tmp_path), "--listen", f"127.0.0.1:{free_port()}",
                       "--set", f"zookeeper.connect=127.0.0.1:{free_port()}/kb",
                       "--set", "zookeeper.connection.timeout.ms=1000")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("kbroker: cannot reach ZooKeeper at 127.0.0.1:")
