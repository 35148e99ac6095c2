"""The seam to a Schema Registry: its REST API (Confluent's, which kbroker's registry serves too),
asked for the subjects page when the console is given `--console-registry-url`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_SUBJECTS = 200  # latest versions asked per page view; more are listed by name only


@dataclass
class Subject:
    name: str
    version: int | None
    schema_type: str | None
    schema_id: int | None


class RegistryError(Exception):
    """The registry could not be asked, in one line."""


class SchemaRegistry:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def subjects(self) -> list[Subject]:
        """Each subject with its latest version's number, type and id."""
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                names = sorted(await self._get(session, "/subjects"))
                found = []
                for i, name in enumerate(names):
                    if i >= MAX_SUBJECTS:
                        found.append(Subject(name, None, None, None))
                        continue
                    latest = await self._get(session, f"/subjects/{quote(name, safe='')}/versions/latest")
                    found.append(Subject(name, latest.get("version"), latest.get("schemaType", "AVRO"), latest.get("id")))
                return found
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RegistryError(f"schema registry at {self.url}: {exc or type(exc).__name__}") from None

    async def _get(self, session: aiohttp.ClientSession, path: str) -> dict | list:
        async with session.get(self.url + path) as response:
            if response.status != 200:
                raise RegistryError(f"schema registry at {self.url}: {path} answered {response.status}")
            return await response.json(content_type=None)
