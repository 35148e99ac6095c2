"""A real ZooKeeper (Debian's package, on Java) and several kbroker processes that form a cluster.

ZooKeeper listens on a free loopback port with a temporary data dir and a short tick, so that a
killed broker's session expires within a couple of seconds; each broker is a `BrokerProcess`
with its own port, data dir and `broker.id`. Everything is stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Mapping

from kproto.messages import MetadataRequest

from brokerproc import HOST, BrokerProcess, BrokerStartError, free_port
from kbroker.tools.client import Connection, ToolError

ZOOKEEPER_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
TICK_MS = 100  # ZooKeeper's minimum session timeout is two ticks
SESSION_TIMEOUT_MS = 1500  # how long a killed broker stays registered
# Short timeouts and internal topics replicated on the three brokers, so failures show in seconds.
CLUSTER_DEFAULTS = {
    "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
    "replica.lag.time.max.ms": "2000",
    "replica.fetch.wait.max.ms": "200",
    "replica.fetch.backoff.ms": "100",
    "offsets.topic.num.partitions": "3",
    "transaction.state.log.num.partitions": "3",
    "group.initial.rebalance.delay.ms": "0",
    "controlled.shutdown.retry.backoff.ms": "200",  # the last broker standing has nowhere to move leaders
    "auto.leader.rebalance.enable": "false",  # leadership moves only when a test moves it
}


def zookeeper_available() -> bool:
    return shutil.which("java") is not None and Path("/usr/share/java/zookeeper.jar").exists()


class ZooKeeperProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def connect(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> ZooKeeperProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.workdir / "zoo.cfg"
        config.write_text(f"tickTime={TICK_MS}\ndataDir={self.workdir / 'data'}\nclientPort={self.port}\n"
                          f"clientPortAddress={HOST}\nadmin.enableServer=false\nminSessionTimeout={2 * TICK_MS}\n"
                          "maxSessionTimeout=60000\n4lw.commands.whitelist=ruok\n")
        log = open(self.workdir / "zookeeper.log", "ab")
        self.proc = subprocess.Popen(["java", "-Xmx256m", "-cp", ZOOKEEPER_CLASSPATH, ZOOKEEPER_MAIN, str(config)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerStartError(f"ZooKeeper exited with {self.proc.returncode}; see {self.workdir}/zookeeper.log")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerStartError(f"ZooKeeper did not answer on {self.connect} within {timeout}s")

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


class Cluster:
    """ZooKeeper and `size` brokers with ids 1..size; `brokers[id]` is each broker's process."""

    def __init__(self, workdir: Path, size: int = 3, config: Mapping[str, str] | None = None,
                 chroot: str = "/kbroker", per_broker: Mapping[int, Mapping[str, str]] | None = None) -> None:
        self.workdir = workdir
        self.zookeeper = ZooKeeperProcess(workdir / "zookeeper")
        self.size = size
        self.chroot = chroot
        self.config = {**CLUSTER_DEFAULTS, "offsets.topic.replication.factor": str(min(size, 3)),
                       "transaction.state.log.replication.factor": str(min(size, 3)),
                       "transaction.state.log.min.isr": str(min(size, 2)), **(config or {})}
        self.per_broker = per_broker or {}  # broker id -> config of that broker alone (its own listeners, say)
        self.brokers: dict[int, BrokerProcess] = {}

    def start(self) -> Cluster:
        self.zookeeper.start()
        for broker_id in range(1, self.size + 1):
            config = {**self.config, **self.per_broker.get(broker_id, {}), "broker.id": str(broker_id),
                      "zookeeper.connect": self.zookeeper.connect + self.chroot}
            self.brokers[broker_id] = BrokerProcess(self.workdir / f"broker{broker_id}", config, kind="kbroker")
        for broker in self.brokers.values():
            broker.start()
        self.wait_for_brokers(list(self.brokers))
        return self

    def wait_for_brokers(self, expected: list[int], timeout: float = 30.0) -> None:
        """Until every running broker's metadata lists exactly `expected`: the controller has told them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._brokers_seen_by(broker) == sorted(expected) for broker in self.brokers.values()
                   if broker.running):
                return
            time.sleep(0.1)
        raise BrokerStartError(f"brokers did not all see {expected} within {timeout}s:\n{self.log_tails()}")

    @staticmethod
    def _brokers_seen_by(broker: BrokerProcess) -> list[int]:
        host, port = broker.bootstrap_server.rsplit(":", 1)
        try:
            with Connection(host, int(port), timeout=5) as connection:
                return sorted(b.node_id for b in connection.request(MetadataRequest(topics=[]), 12).brokers)
        except ToolError:
            return []

    def stop(self) -> None:
        for broker in self.brokers.values():
            broker.stop()
        self.zookeeper.stop()

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(b.bootstrap_server for b in self.brokers.values() if b.running)

    def running(self) -> Iterable[int]:
        return [i for i, b in self.brokers.items() if b.running]

    def log_tails(self) -> str:
        return "\n".join(f"--- broker {i} ---\n{b.log_tail(30)}" for i, b in self.brokers.items())

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
