"""`kbroker cluster` as a developer runs it: a foreground process that starts ZooKeeper and the
brokers, prints where to connect, and stops everything it started on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from brokerproc import free_port
from pids import alive

STARTUP_SECONDS = 60


def consecutive_free_ports(count: int) -> int:
    """A port such that it and the `count - 1` after it are free now."""
    for _ in range(50):
        base = free_port()
        if base + count <= 65535 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kbroker_cluster(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kbroker", "cluster", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def read_banner(proc: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and not any(line.startswith("  export ") for line in lines):
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"kbroker cluster exited early ({proc.wait()}): {proc.stderr.read()[-3000:]}")
        lines.append(line)
    return "".join(lines)


def test_starts_three_brokers_and_stops_them_all_on_ctrl_c() -> None:
    base = consecutive_free_ports(3)
    proc = kbroker_cluster("--brokers", "3", "--ephemeral", "--listen-base", f"127.0.0.1:{base}",
                           "--topic", "orders:3", "--set", "num.partitions=2")
    try:
        banner = read_banner(proc)
        bootstrap = ",".join(f"127.0.0.1:{base + i}" for i in range(3))
        assert f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n" in banner
        assert re.search(rf"bootstrap\s+{bootstrap}\n", banner)
        pids = [int(pid) for pid in re.findall(r"pid (\d+)", banner)]
        assert len(pids) == 4  # three brokers and ZooKeeper
        data_dir = Path(re.search(r"data\s+(\S+) \(temporary, removed at exit\)", banner)[1])
        assert data_dir.is_dir()
        listing = subprocess.run(["kcat", "-b", f"127.0.0.1:{base}", "-L", "-t", "orders"], capture_output=True,
                                 text=True, timeout=30).stdout
        assert "3 brokers:" in listing
        for i in range(3):
            assert f"broker {i + 1} at 127.0.0.1:{base + i}" in listing
        assert "topic \"orders\" with 3 partitions" in listing
        assert len(re.findall(r"replicas: \d,\d,\d,", listing + ",")) == 3  # replicated on all three
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(60)
    assert status == 0, proc.stderr.read()[-3000:]
    for pid in pids:
        assert not alive(pid), f"process {pid} outlived kbroker cluster"
    assert not data_dir.exists()


def test_without_zookeeper_it_names_the_package_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "ZOOKEEPER_HOME": str(tmp_path)}  # no ZooKeeper distribution there
    proc = kbroker_cluster("--ephemeral", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1
    assert "ZOOKEEPER_HOME" in err and "zookeeper" in err


def test_a_port_in_use_is_refused_before_anything_starts() -> None:
    base = consecutive_free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        proc = kbroker_cluster("--brokers", "2", "--ephemeral", "--listen-base", f"127.0.0.1:{base}")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"port {base + 1} on 127.0.0.1 is in use" in err and len(err.strip().splitlines()) == 1


def test_console_and_schema_registry_for_the_cluster() -> None:
    """`--console` and `--schema-registry` serve both for the cluster from the same process, until Ctrl-C."""
    base, registry_port = consecutive_free_ports(2), free_port()
    proc = kbroker_cluster("--brokers", "2", "--ephemeral", "--listen-base", f"127.0.0.1:{base}", "--topic", "orders:2",
                           "--console", "127.0.0.1:0", "--schema-registry", f"127.0.0.1:{registry_port}")
    try:
        banner = read_banner(proc)
        assert re.search(rf"registry\s+http://127.0.0.1:{registry_port}/?\n", banner)
        console = re.search(r"console\s+(http://\S+/)\n", banner)[1]
        with urllib.request.urlopen(console + "cluster", timeout=30) as response:
            assert 'id="broker-count">2<' in response.read().decode()
        with urllib.request.urlopen(console + "topic?name=orders", timeout=30) as response:
            assert 'id="topic-name">orders<' in response.read().decode()
        with urllib.request.urlopen(console + "schemas", timeout=30) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{registry_port}/subjects", timeout=30) as response:
            assert json.loads(response.read()) == []
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(60)
    assert status == 0, proc.stderr.read()[-3000:]
