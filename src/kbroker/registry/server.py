"""Start and stop a registry: read `_schemas` to its end, then answer HTTP on host:port.

Used by `kbroker serve --schema-registry` (on the broker's own event loop, reaching the broker
over loopback) and by `kbroker schema-registry` (standalone, against any broker).
"""

from __future__ import annotations

import logging

try:
    from aiohttp import web
    from aiokafka.errors import KafkaError

    from kbroker.registry import forward
    from kbroker.registry.errors import RegistryError
    from kbroker.registry.http import application
    from kbroker.registry.leader import LeaderElection
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
    """One registry process: its store, its HTTP listener, and its part in the registries' election
    of a leader. `advertised_url` is where the other registries reach this one (default: `url`)."""

    def __init__(self, bootstrap: str, host: str, port: int, advertised_url: str | None = None) -> None:
        self.store = KafkaStore(bootstrap)
        self.host = host
        self.port = port
        self.advertised_url = advertised_url
        self.election = LeaderElection(bootstrap, self.store.topic)
        app = application(Registry(self.store))
        forward.enable(app, self.election, self.store.sync)
        self._runner = web.AppRunner(app, access_log=None)
        self._electing = False

    async def start(self) -> RegistryServer:
        """Read `_schemas` to its end, listen, and join the election of a leader; RegistryStartError
        says why not, with nothing left open."""
        try:
            await self.store.start()
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            if self.port == 0:
                self.port = self._runner.addresses[0][1]  # the port the system picked
            self._electing = True
            await self.election.start((self.advertised_url or self.url).rstrip("/"))
            # Ready means ready to write: the first election is over (or writes wait for it).
            await self.election.leader(forward.LEADER_WAIT_S)
        except (OSError, KafkaError, RuntimeError, RegistryError) as exc:
            await self.stop()
            raise RegistryStartError(f"schema registry on {self.host}:{self.port}: {exc}") from exc
        log.info("schema registry on %s", self.url)
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._electing:
            await self.election.stop()
        await self._runner.cleanup()
        await self.store.stop()
