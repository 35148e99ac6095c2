"""A local Apache ZooKeeper for a cluster of kbrokers: found on the machine, run as a child process.

kbroker does not ship ZooKeeper; it runs the one installed: Debian's `zookeeper` package
(/usr/share/java/zookeeper.jar with /etc/zookeeper/conf), or a ZooKeeper distribution named by
ZOOKEEPER_HOME (its conf/ and lib/*.jar), on the `java` of JAVA_HOME or the PATH. It listens on
loopback with its own data dir and a 100 ms tick, so that a session can be as short as 200 ms
and a killed broker leaves the cluster within its `zookeeper.session.timeout.ms`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kbroker.testing.runners import HOST, BrokerStartError, free_port, spawn, stop_process, track, untrack

DEBIAN_JAR = Path("/usr/share/java/zookeeper.jar")
DEBIAN_CONF = Path("/etc/zookeeper/conf")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
TICK_MS = 100  # ZooKeeper's shortest session is two ticks
MAX_SESSION_MS = 60_000  # ZooKeeper's own cap is 20 ticks, too short for Kafka's 18 s default
# A small heap and the quick compiler: a test ZooKeeper holds a few hundred nodes and lives minutes.
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
MISSING = ("no ZooKeeper found: install Debian's `zookeeper` package (apt-get install zookeeper) "
           "or set ZOOKEEPER_HOME to a ZooKeeper distribution")


class ZooKeeperNotFound(RuntimeError):
    """Neither Debian's package nor ZOOKEEPER_HOME gives a ZooKeeper to run, or there is no Java."""


@dataclass(frozen=True)
class Installation:
    java: str
    classpath: str


def find_zookeeper(environ: dict[str, str] | None = None) -> Installation:
    """The java and classpath to run ZooKeeper with; ZOOKEEPER_HOME wins over Debian's package."""
    env = os.environ if environ is None else environ
    home = env.get("ZOOKEEPER_HOME")
    if home:
        root = Path(home)
        jars = sorted((root / "lib").glob("*.jar")) + sorted(root.glob("zookeeper-*.jar"))
        if not jars:
            raise ZooKeeperNotFound(f"ZOOKEEPER_HOME={home} holds no lib/*.jar of a ZooKeeper distribution; "
                                    "unset it to use Debian's `zookeeper` package")
        classpath = os.pathsep.join([str(root / "conf"), *map(str, jars)])
    elif DEBIAN_JAR.exists():
        classpath = os.pathsep.join([str(DEBIAN_CONF), str(DEBIAN_JAR)])
    else:
        raise ZooKeeperNotFound(MISSING)
    java_home = env.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ZooKeeperNotFound("ZooKeeper needs Java: install Debian's `zookeeper` package, which brings it, "
                                "or set JAVA_HOME")
    return Installation(java, classpath)


def zookeeper_available() -> bool:
    """Whether `find_zookeeper()` finds one: for tools that check before they start anything."""
    try:
        find_zookeeper()
    except ZooKeeperNotFound:
        return False
    return True


class ZooKeeper:
    """One standalone ZooKeeper server on HOST, with zoo.cfg, data and log under `workdir`."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None  # kept after stop, so a test can check the process is gone

    @property
    def connect(self) -> str:
        """`host:port` for `zookeeper.connect` (a chroot may follow)."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "zookeeper.log"

    def spawn(self) -> None:
        """Start the server without waiting for it; `ready()` says when it answers."""
        installation = find_zookeeper()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.workdir / "zoo.cfg"
        config.write_text(f"tickTime={TICK_MS}\ndataDir={self.workdir / 'data'}\nclientPort={self.port}\n"
                          f"clientPortAddress={HOST}\nadmin.enableServer=false\nminSessionTimeout={2 * TICK_MS}\n"
                          f"maxSessionTimeout={MAX_SESSION_MS}\n4lw.commands.whitelist=ruok\n")
        with open(self.log_path, "ab") as log:
            self.proc = spawn([installation.java, *JVM_OPTIONS, "-cp", installation.classpath, MAIN_CLASS,
                               str(config)], log)
        self.pid = self.proc.pid
        track(self)

    def ready(self) -> bool:
        """Whether the server answers `ruok`; raises BrokerStartError if it has exited."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else None
            raise BrokerStartError(f"ZooKeeper exited with status {code}; see {self.log_path}:\n{self.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, SIGKILL if it has not gone within `timeout` seconds."""
        proc, self.proc = self.proc, None
        untrack(self)
        if proc is not None:
            stop_process(proc, timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no ZooKeeper log)"
