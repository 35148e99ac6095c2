"""The two ways a test broker runs: a child process (the default) or a thread of the test's process.

A child process costs an interpreter start but is isolated: it has its own GIL, a crash or a hang
in the broker cannot take the test run down, and it is stopped by PID. A thread starts faster and
lets a debugger step into the broker, but shares the GIL with the test (a busy client slows the
broker and the other way round), shares logging and signals, and a fault in the broker is a fault
in the test process.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Protocol

from kbroker.config.properties import ENV_PREFIXES

HOST = "127.0.0.1"
_READY = re.compile(r"kbroker ready on (\S+):(\d+)")
_METRICS = re.compile(r"metrics on http://(\S+):(\d+)/metrics")
_LOG_LINES = 400  # enough for a start-up failure or the last requests before one


class BrokerStartError(RuntimeError):
    """The broker did not become ready; the message carries the end of its log."""


def free_port() -> int:
    """A loopback port nobody listens on now (the kernel picks it, so parallel test runs differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen[bytes], timeout: float, kill: bool = False) -> bool:
    """SIGTERM (or SIGKILL) the PID and wait; SIGKILL if it has not gone within `timeout` seconds.
    True if it had to be killed after a SIGTERM."""
    if proc.poll() is not None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


PR_SET_PDEATHSIG = 1  # prctl option: the signal Linux sends a child when the thread that made it ends
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _stop_with_parent() -> None:
    """In the child before exec: have Linux SIGTERM it if its parent dies without stopping it."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: list[str], output: int | IO[bytes], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in a session of its own, so a terminal's Ctrl-C reaches only its owner, which stops it
    by PID; started from the main thread, it also gets SIGTERM if its owner dies without stopping it."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, preexec_fn=_stop_with_parent if on_main_thread else None)


@dataclass
class Launch:
    """What to start: the same for both runners, so both modes serve the same broker.

    `port` 0 takes a free port, and after a start holds the one taken, so a restart keeps it;
    `log_path`, when given, receives everything the broker logs (subprocess mode). With
    `schema_registry`, the broker serves one (`--schema-registry`) on `registry_port`, likewise
    kept for a restart."""

    data_dir: Path
    config: dict[str, str]
    topics: dict[str, int]
    metrics: bool
    startup_timeout: float
    stop_timeout: float
    port: int = 0
    metrics_port: int | None = None
    host: str = HOST
    log_path: Path | None = None
    schema_registry: bool = False
    registry_port: int | None = None

    @property
    def registry_url(self) -> str | None:
        return f"http://{self.host}:{self.registry_port}" if self.schema_registry and self.registry_port else None


def wait_for_http(url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    """Until `url` answers GET (any status), while `alive()`; False if it never did."""
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    return False


class SubprocessRunner:
    """`python -m kbroker serve --dev` on the launch's port (0: any); the port comes from its ready line."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._ready = threading.Event()
        self._ready_port: int | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self, launch: Launch) -> list[str]:
        argv = [sys.executable, "-m", "kbroker", "serve", "--dev", "--data-dir", str(launch.data_dir)]
        if "listeners" not in launch.config:  # a config naming its own listeners needs no shorthand
            argv += ["--listen", f"{launch.host}:{launch.port}"]
        for name, partitions in launch.topics.items():
            argv += ["--topic", f"{name}:{partitions}"]
        for key, value in launch.config.items():
            argv += ["--set", f"{key}={value}"]
        if launch.metrics:
            argv += ["--metrics-port", "0"]
        if launch.schema_registry:
            # Its port is chosen here, not by the registry (port 0), since the registry starts after
            # the broker's ready line and the runner waits for it at this address.
            launch.registry_port = launch.registry_port or free_port()
            argv += ["--schema-registry", f"{launch.host}:{launch.registry_port}"]
        return argv

    def start(self, launch: Launch) -> None:
        self.spawn(launch)
        self.wait_ready(launch)

    def spawn(self, launch: Launch) -> None:
        """Start the broker without waiting for it, so that several can start at once."""
        # The test broker is configured by its arguments alone, not by the variables of the shell it runs from.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = spawn(self.command(launch), subprocess.PIPE, env)
        track(self)
        log = open(launch.log_path, "ab") if launch.log_path is not None else None
        self._reader = threading.Thread(target=self._read, args=(launch, log), name=f"kbroker-log-{self.proc.pid}",
                                        daemon=True)
        self._reader.start()

    def wait_ready(self, launch: Launch) -> None:
        """Until the broker's ready line; BrokerStartError, with its log, if it exits or takes too long."""
        assert self.proc is not None
        if not self._ready.wait(launch.startup_timeout):
            self.stop(launch.stop_timeout)
            raise BrokerStartError(f"kbroker was not ready within {launch.startup_timeout}s:\n{self.log_text()}")
        if self._ready_port is None:
            code = self.proc.poll()
            self.stop(launch.stop_timeout)
            raise BrokerStartError(f"kbroker exited with status {code} before it was ready:\n{self.log_text()}")
        launch.port = self._ready_port
        if launch.registry_url and not wait_for_http(launch.registry_url + "/", launch.startup_timeout,
                                                     lambda: self.proc is not None and self.proc.poll() is None):
            self.stop(launch.stop_timeout)
            raise BrokerStartError(f"kbroker's schema registry did not answer at {launch.registry_url}:\n"
                                   f"{self.log_text()}")

    def _read(self, launch: Launch, log: IO[bytes] | None) -> None:
        """Keep the last lines of the broker's output (and all of it in the log file); note its
        ports; never let the pipe fill up."""
        assert self.proc is not None and self.proc.stdout is not None
        with log if log is not None else contextlib.nullcontext():
            for raw in self.proc.stdout:
                if log is not None:
                    log.write(raw)
                    log.flush()
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                if not self._ready.is_set():
                    if (found := _METRICS.search(line)) is not None:
                        launch.metrics_port = int(found[2])
                    elif (found := _READY.search(line)) is not None:
                        self._ready_port = int(found[2])
                        self._ready.set()
        self._ready.set()  # EOF: the process is gone, wake a waiting start()

    def stop(self, timeout: float, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) the PID and wait; SIGKILL if it has not gone within `timeout` seconds."""
        proc, self.proc = self.proc, None
        untrack(self)
        if proc is None:
            return
        if stop_process(proc, timeout, kill):
            self.lines.append(f"(kbroker did not stop within {timeout}s of SIGTERM; killed)")
        if self._reader is not None:
            self._reader.join(timeout)
        if proc.stdout is not None:
            proc.stdout.close()

    def log_text(self) -> str:
        return "\n".join(self.lines)


class _ThreadLog(logging.Handler):
    """Keeps the records the broker's own thread logs, whatever level the test's logging lets through."""

    def __init__(self, thread_name: str, lines: collections.deque[str]) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.lines = lines
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread_name:
            self.lines.append(self.format(record))


class ThreadRunner:
    """The broker on a daemon thread of this process, with an event loop of its own."""

    pid = None

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._log: _ThreadLog | None = None

    def start(self, launch: Launch) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(launch),), daemon=True,
                                        name=f"kbroker-{id(self):x}")
        self._log = _ThreadLog(self._thread.name, self.lines)
        logging.getLogger("kbroker").addHandler(self._log)
        self._thread.start()
        if not self._ready.wait(launch.startup_timeout):
            self.stop(launch.stop_timeout)
            raise BrokerStartError(f"kbroker was not ready within {launch.startup_timeout}s:\n{self.log_text()}")
        if self._error is not None:
            self.stop(launch.stop_timeout)
            raise BrokerStartError(f"kbroker could not start: {self._error!r}") from self._error

    async def _serve(self, launch: Launch) -> None:
        from kbroker.broker import Broker
        from kbroker.config import load_broker_config
        from kbroker.dev import create_start_topics
        from kbroker.metrics import NO_METRICS, BrokerMetrics
        from kbroker.server.listeners import ClientListeners

        exporter = registry = running = None
        try:
            config = load_broker_config(overrides=launch.config, listen=f"{HOST}:0", data_dir=str(launch.data_dir),
                                        environ={})
            counters = BrokerMetrics() if launch.metrics else None
            broker = Broker(config, counters or NO_METRICS)
            create_start_topics(broker, launch.topics)
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            if counters is not None:
                from kbroker.metrics.exporter import serve_metrics

                exporter = await serve_metrics(broker, counters, HOST, 0)
                launch.metrics_port = exporter.sockets[0].getsockname()[1]
            await broker.start(ClientListeners(broker))
            launch.port = broker.listen_port
            running = broker
            if launch.schema_registry:
                from kbroker.dev import bootstrap_address
                from kbroker.registry.server import RegistryServer

                registry = await RegistryServer(bootstrap_address(broker), HOST, launch.registry_port or 0).start()
                launch.registry_port = registry.port
        except BaseException as exc:
            if exporter is not None:
                exporter.close()
            if running is not None:  # the registry could not start: stop the broker it was for
                await running.stop()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            if registry is not None:
                await registry.stop()
            if exporter is not None:
                exporter.close()
            await broker.stop()

    def stop(self, timeout: float) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have finished on its own
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.lines.append(f"(kbroker thread did not stop within {timeout}s)")
            self._thread = None
        if self._log is not None:
            logging.getLogger("kbroker").removeHandler(self._log)
            self._log = None

    def log_text(self) -> str:
        return "\n".join(self.lines)


class Stoppable(Protocol):
    def stop(self, timeout: float) -> None: ...


_LIVE: set[Stoppable] = set()


def track(child: Stoppable) -> None:
    """Stop `child` at interpreter exit if its owner has not."""
    _LIVE.add(child)


def untrack(child: Stoppable) -> None:
    _LIVE.discard(child)


@atexit.register
def _stop_leftovers() -> None:
    """Stop brokers whose owner never called stop(), so no process outlives the test run."""
    for child in list(_LIVE):
        child.stop(5.0)
