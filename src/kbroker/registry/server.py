"""Start and stop a registry: read `_schemas` to its end, then answer HTTP on host:port.

Used by `kbroker serve --schema-registry` (on the broker's own event loop, reaching the broker
over loopback) and by `kbroker schema-registry` (standalone, against any broker).
"""

from __future__ import annotations

import logging

try:
    from aiohttp import web
    from aiokafka.errors import KafkaError

    from kbroker.registry.errors import RegistryError
    from kbroker.registry.http import application
    from kbroker.registry.service import Registry
    from kbroker.registry.store import KafkaStore
except ImportError as exc:  # an optional extra: say how to get it rather than fail on a bare import
    raise ImportError(f"the schema registry needs the registry extra ({exc.name} is missing): "
                      "pip install 'kbroker[registry]'") from exc

log = logging.getLogger("kbroker.registry")


class RegistryStartError(Exception):
    """The registry could not start: its port is taken, or the broker cannot be reached or refused."""


def listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv6 host in brackets) as (host, port); ValueError says what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class RegistryServer:
    """One registry process: its store and its HTTP listener."""

    def __init__(self, bootstrap: str, host: str, port: int) -> None:
        self.store = KafkaStore(bootstrap)
        self.host = host
        self.port = port
        self._runner = web.AppRunner(application(Registry(self.store)), access_log=None)

    async def start(self) -> RegistryServer:
        """Read `_schemas` to its end, then listen; RegistryStartError says why not, with nothing left open."""
        try:
            await self.store.start()
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
        except (OSError, KafkaError, RuntimeError, RegistryError) as exc:
            await self.stop()
            raise RegistryStartError(f"schema registry on {self.host}:{self.port}: {exc}") from exc
        if self.port == 0:
            self.port = self._runner.addresses[0][1]  # the port the system picked
        log.info("schema registry on %s", self.url)
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self.store.stop()
