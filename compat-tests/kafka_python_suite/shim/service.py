"""Broker-process stand-ins for kafka-python's integration fixtures, which import `test.service`.

The kafka-python sdist leaves this module out. Our runs always point the fixtures at a broker we
started ourselves (KAFKA_URI), so the external service does nothing and the spawned one refuses:
a fixture trying to launch a JVM broker is a harness bug and should say so loudly.
"""

from __future__ import annotations

from typing import Any


class ExternalService:
    """A broker that is already running at host:port; the fixtures only need it to exist."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def open(self) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def dump_logs(self) -> None:
        pass

    def wait_for(self, pattern: str, timeout: float = 30) -> bool:
        return True


class SpawnedService:
    """Refuses to start: this harness never lets the suite spawn its own Kafka or ZooKeeper."""

    def __init__(self, args: Any = None, env: Any = None) -> None:
        self.args = args
        self.env = env

    def start(self) -> None:
        raise RuntimeError(f"the suite tried to spawn {self.args!r}; set KAFKA_URI to an external broker")

    def stop(self) -> None:
        pass

    def dump_logs(self) -> None:
        pass

    def wait_for(self, pattern: str, timeout: float = 30) -> bool:
        return False
