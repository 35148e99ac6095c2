"""The seam to a Schema Registry: its REST API (Confluent's, which kbroker's registry serves too),
asked for the subjects page and for the schemas of records in Confluent's wire format when the
console is given `--console-registry-url` (or runs beside `serve --schema-registry`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_SUBJECTS = 200  # latest versions asked per page view; more are listed by name only
MAX_CACHED = 1000  # schemas kept by id: a registered id never changes its schema, so they never go stale


@dataclass
class Subject:
    name: str
    version: int | None
    schema_type: str | None
    schema_id: int | None


@dataclass(frozen=True)
class RegisteredSchema:
    """The schema a record's id names, with where it is registered (its first subject and version)."""

    schema_id: int
    schema_type: str  # AVRO, JSON or PROTOBUF
    text: str
    subject: str | None
    version: int | None


class RegistryError(Exception):
    """The registry could not be asked, in one line."""


class SchemaRegistry:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._by_id: dict[int, RegisteredSchema] = {}

    async def schema(self, schema_id: int) -> RegisteredSchema | None:
        """The schema with this id; None when the registry knows no such id (yet). Kept once found."""
        found = self._by_id.get(schema_id)
        if found is None:
            try:
                async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                    found = await self._fetch_schema(session, schema_id)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError) as exc:
                raise RegistryError(f"schema registry at {self.url}: {exc or type(exc).__name__}") from None
            if found is not None:
                if len(self._by_id) >= MAX_CACHED:
                    del self._by_id[next(iter(self._by_id))]
                self._by_id[schema_id] = found
        return found

    async def _fetch_schema(self, session: aiohttp.ClientSession, schema_id: int) -> RegisteredSchema | None:
        async with session.get(f"{self.url}/schemas/ids/{schema_id}") as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise RegistryError(f"schema registry at {self.url}: schema {schema_id} answered {response.status}")
            found = await response.json(content_type=None)
        usages = await self._get(session, f"/schemas/ids/{schema_id}/versions")
        first = usages[0] if usages else {}
        return RegisteredSchema(schema_id, found.get("schemaType", "AVRO"), found["schema"], first.get("subject"),
                                first.get("version"))

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
