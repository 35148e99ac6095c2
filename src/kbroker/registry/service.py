"""What the registry does, apart from HTTP: register, look up, delete, configure. Each call reads
the state and writes `_schemas` records through the store; refusals raise RegistryError."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from kbroker.registry import compatibility, errors, records
from kbroker.registry.records import SchemaVersion
from kbroker.registry.schemas import AVRO, JSON, PROTOBUF, Dependency, ParsedSchema, ProtobufSchema, parse
from kbroker.registry.state import RegistryState
from kbroker.registry.store import KafkaStore

MODES = ("READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT")
DEFAULT_MODE = "READWRITE"
MAX_VERSION = 2**31 - 1


async def parse_off_loop(schema_type: str, text: object, dependencies: list[Dependency]) -> ParsedSchema:
    """`parse` on a worker thread: a PROTOBUF schema's text waits for protoc, and the event loop
    (an in-process registry's is the broker's) must not."""
    return await asyncio.to_thread(parse, schema_type, text, dependencies)


def version_number(text: str) -> int | None:
    """A version in a path: a number in [1, 2^31-1], or None for `latest` (and -1)."""
    if text in ("latest", "-1"):
        return None
    try:
        number = int(text)
    except ValueError:
        raise errors.invalid_version(text) from None
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(text)
    return number


class Registry:
    """The registry's operations over one store."""

    def __init__(self, store: KafkaStore) -> None:
        self.store = store

    @property
    def state(self) -> RegistryState:
        return self.store.state

    # -- reading -------------------------------------------------------------------------------
    def subjects(self, deleted: bool = False, prefix: str = "") -> list[str]:
        return sorted(s for s in self.state.subjects if s.startswith(prefix) and self.state.versions(s, deleted))

    def versions(self, subject: str, deleted: bool = False) -> list[SchemaVersion]:
        found = self.state.versions(subject, deleted)
        if not found:
            raise errors.subject_not_found(subject)
        return found

    def version(self, subject: str, version: str, deleted: bool = False) -> SchemaVersion:
        number = version_number(version)
        found = self.versions(subject, deleted)
        if number is None:
            return found[-1]
        for entry in found:
            if entry.version == number:
                return entry
        raise errors.version_not_found(subject, number)

    def by_id(self, schema_id: int, subject: str | None = None) -> SchemaVersion:
        found = self.state.by_id(schema_id)
        if not found:
            raise errors.schema_not_found(f"Schema {schema_id} not found")
        return next((e for e in found if e.subject == subject), found[0])

    def id_usages(self, schema_id: int, deleted: bool = False) -> list[SchemaVersion]:
        found = [e for e in self.state.by_id(schema_id) if deleted or not e.deleted]
        if not found:
            raise errors.schema_not_found(f"Schema {schema_id} not found")
        return found

    def referenced_by(self, subject: str, version: str) -> list[int]:
        entry = self.version(subject, version)
        return sorted({e.id for e in self.state.all_versions() if not e.deleted and any(
            r.get("subject") == subject and r.get("version") == entry.version for r in e.references)})

    def schema_types(self) -> list[str]:
        return [AVRO, JSON, PROTOBUF]

    async def formatted(self, entry: SchemaVersion, schema_format: str | None) -> SchemaVersion:
        """The entry with its schema in another form: `serialized` gives a PROTOBUF schema as the
        base64 FileDescriptorProto confluent-kafka's deserializers read."""
        if schema_format != "serialized" or entry.schema_type != PROTOBUF:
            return entry
        parsed = await self.parsed(entry)
        assert isinstance(parsed, ProtobufSchema)
        return dataclasses.replace(entry, schema=parsed.serialized)

    # -- parsing -------------------------------------------------------------------------------
    def dependencies(self, references: list[dict[str, Any]], seen: frozenset[tuple[str, int]] = frozenset()
                     ) -> list[Dependency]:
        """The referenced schemas, theirs first, in an order that parses."""
        found: list[Dependency] = []
        for reference in references:
            try:
                entry = self.version(reference["subject"], str(reference["version"]))
            except errors.RegistryError:
                raise errors.invalid_schema(f"reference {reference} is not a registered schema") from None
            if (entry.subject, entry.version) in seen:
                raise errors.invalid_schema(f"reference {reference} is circular")
            found += self.dependencies(entry.references, seen | {(entry.subject, entry.version)})
            found.append(Dependency(reference["name"], entry.schema))
        return found

    async def parsed(self, entry: SchemaVersion) -> ParsedSchema:
        return await parse_off_loop(entry.schema_type, entry.schema, self.dependencies(entry.references))

    async def candidate(self, body: Any) -> tuple[ParsedSchema, str, list[dict[str, Any]]]:
        """The schema a request body names, parsed: (schema, its type, its references)."""
        if not isinstance(body, dict) or "schema" not in body:
            raise errors.invalid_schema("the request names no schema")
        schema_type = body.get("schemaType") or AVRO
        references = body.get("references") or []
        if not isinstance(references, list) or not all(
                isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("subject"), str)
                and isinstance(r.get("version"), int) for r in references):
            raise errors.invalid_schema("references must be a list of {name, subject, version}")
        references = [{"name": r["name"], "subject": r["subject"], "version": r["version"]} for r in references]
        return await parse_off_loop(schema_type, body["schema"], self.dependencies(references)), schema_type, references

    async def matches(self, entry: SchemaVersion, schema: ParsedSchema, references: list[dict[str, Any]],
                normalize: bool) -> bool:
        if entry.schema_type != schema.schema_type or entry.references != references:
            return False
        if entry.schema in (schema.canonical, schema.normalized):
            return True
        return normalize and (await self.parsed(entry)).normalized == schema.normalized

    # -- configuration -------------------------------------------------------------------------
    @staticmethod
    def _setting(table: dict[str | None, Any], subject: str | None, fallback: bool) -> Any:
        """A subject's own setting, or with `fallback` the global one; None if neither is set."""
        value = table.get(subject)
        if value is None and subject is not None and fallback:
            value = table.get(None)
        return value

    def compatibility_level(self, subject: str | None, fallback: bool = True) -> str:
        """The level that applies; without `fallback`, the subject's own or COMPATIBILITY_NOT_CONFIGURED."""
        config = self._setting(self.state.configs, subject, fallback)
        if config is None and not (fallback or subject is None):
            raise errors.compatibility_not_configured(subject)
        return (config or {}).get("compatibilityLevel", compatibility.DEFAULT_LEVEL)

    def normalizes(self, subject: str) -> bool:
        return bool((self._setting(self.state.configs, subject, True) or {}).get("normalize", False))

    def mode(self, subject: str | None, fallback: bool = True) -> str:
        """The mode that applies; without `fallback`, the subject's own or MODE_NOT_CONFIGURED."""
        mode = self._setting(self.state.modes, subject, fallback)
        if mode is None and not (fallback or subject is None):
            raise errors.mode_not_configured(subject)
        return mode or DEFAULT_MODE

    async def _write(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        async with self.store.lock:
            await self.store.put(key, value)

    async def set_config(self, subject: str | None, body: Any) -> dict[str, Any]:
        level = body.get("compatibility", body.get("compatibilityLevel")) if isinstance(body, dict) else None
        value: dict[str, Any] = {"compatibilityLevel": compatibility.level_named(level)}
        if isinstance(body.get("normalize"), bool):
            value["normalize"] = body["normalize"]
        await self._write(records.config_key(subject), value)
        return {"compatibility": value["compatibilityLevel"], **({"normalize": value["normalize"]}
                                                                  if "normalize" in value else {})}

    async def delete_config(self, subject: str | None) -> str:
        level = self.compatibility_level(subject, fallback=False)
        await self._write(records.config_key(subject), None)
        return level

    async def set_mode(self, subject: str | None, body: Any, force: bool = False) -> str:
        """Set a mode; IMPORT only where no schemas are yet, unless forced (ids would clash)."""
        mode = body.get("mode") if isinstance(body, dict) else None
        if not isinstance(mode, str) or mode.upper() not in MODES:
            raise errors.invalid_mode(mode)
        if mode.upper() == "IMPORT" and not force and (self.subjects() if subject is None else
                                                       self.state.versions(subject)):
            raise errors.not_permitted("Cannot import since found existing subjects")
        await self._write(records.mode_key(subject), {"mode": mode.upper()})
        return mode.upper()

    async def delete_mode(self, subject: str) -> str:
        mode = self.mode(subject, fallback=False)
        await self._write(records.mode_key(subject), None)
        return mode

    def _writable(self, subject: str) -> str:
        mode = self.mode(subject)
        if mode in ("READONLY", "READONLY_OVERRIDE"):
            raise errors.not_permitted(f"Subject {subject} is in read-only mode")
        return mode

    # -- registering and checking ----------------------------------------------------------------
    async def lookup(self, subject: str, body: Any, normalize: bool, deleted: bool = False) -> SchemaVersion:
        versions = self.versions(subject, deleted)
        schema, _, references = await self.candidate(body)
        normalize = normalize or self.normalizes(subject)
        for entry in reversed(versions):
            if await self.matches(entry, schema, references, normalize):
                return entry
        raise errors.schema_not_found()

    async def compatibility_problems(self, schema: ParsedSchema, against: list[SchemaVersion], level: str
                                     ) -> list[str]:
        return compatibility.problems(level, schema, [await self.parsed(entry) for entry in against])

    async def register(self, subject: str, body: Any, normalize: bool) -> int:
        """The id of the schema under the subject: the existing one, or a new version's."""
        if not subject or any(ord(c) < 32 for c in subject):
            raise errors.invalid_subject(subject)
        mode = self._writable(subject)
        schema, schema_type, references = await self.candidate(body)
        normalize = normalize or self.normalizes(subject)
        text = schema.normalized if normalize else schema.canonical
        async with self.store.lock:
            await self.store.sync()
            live = self.state.versions(subject)
            for entry in live:
                if await self.matches(entry, schema, references, normalize):
                    return entry.id
            if mode != "IMPORT":
                problems = await self.compatibility_problems(schema, live, self.compatibility_level(subject))
                if problems:
                    raise errors.incompatible(problems)
            schema_id = self._schema_id(body, schema_type, text, references, mode)
            everything = self.state.versions(subject, deleted=True)
            version = body.get("version") if mode == "IMPORT" and isinstance(body.get("version"), int) else (
                everything[-1].version + 1 if everything else 1)
            entry = SchemaVersion(subject, version, schema_id, text, schema_type, references)
            await self.store.put(entry.key(), entry.value())
            return schema_id

    def _schema_id(self, body: dict[str, Any], schema_type: str, text: str, references: list[dict[str, Any]],
                   mode: str) -> int:
        wanted = body.get("id")
        same = next((e.id for e in self.state.all_versions() if e.schema_type == schema_type and e.schema == text
                     and e.references == references), None)
        if mode == "IMPORT" and isinstance(wanted, int) and wanted > 0:
            taken = self.state.by_id(wanted)
            if taken and (taken[0].schema, taken[0].schema_type) != (text, schema_type):
                raise errors.RegistryError(422, 42207, f"Overwrite new schema with id {wanted} is not permitted.")
            return wanted
        if wanted is not None and wanted != same and wanted != -1:
            raise errors.not_permitted("Subject must be in IMPORT mode to register a schema with an id")
        return same if same is not None else self.state.max_id + 1

    async def test_compatibility(self, subject: str, version: str | None, body: Any) -> list[str]:
        """Problems the schema in `body` would meet against one version, or against those its level checks."""
        schema, _, _ = await self.candidate(body)
        level = self.compatibility_level(subject)
        if version is None:
            return await self.compatibility_problems(schema, self.state.versions(subject), level)
        entry = self.version(subject, version)
        return await self.compatibility_problems(schema, [entry], level.removesuffix("_TRANSITIVE"))

    # -- deleting --------------------------------------------------------------------------------
    def _refuse_if_referenced(self, entries: list[SchemaVersion]) -> None:
        for entry in entries:
            if self.referenced_by(entry.subject, str(entry.version)):
                raise errors.reference_exists(f"One or more references exist to the schema "
                                              f"{{subject={entry.subject},version={entry.version}}}.")

    async def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        self._writable(subject)
        async with self.store.lock:
            await self.store.sync()
            everything = self.state.versions(subject, deleted=True)
            if not everything:
                raise errors.subject_not_found(subject)
            live = [e for e in everything if not e.deleted]
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                for entry in everything:
                    await self.store.put(entry.key(), None)
                await self.store.put(records.delete_subject_key(subject), None)
                return [e.version for e in everything]
            if not live:
                raise errors.subject_soft_deleted(subject)
            self._refuse_if_referenced(live)
            await self.store.put(records.delete_subject_key(subject),
                                 {"subject": subject, "version": live[-1].version})
            for entry in live:  # each version says so itself too, as Confluent's registry writes it
                await self._mark_deleted(entry)
            return [e.version for e in live]

    async def delete_version(self, subject: str, version: str, permanent: bool) -> int:
        self._writable(subject)
        async with self.store.lock:
            await self.store.sync()
            latest = version_number(version) is None
            entry = self.version(subject, version, deleted=permanent or not latest)
            if entry.deleted and not permanent:
                raise errors.version_soft_deleted(subject, entry.version)
            if permanent:
                if not entry.deleted:
                    raise errors.version_not_soft_deleted(subject, entry.version)
                await self.store.put(entry.key(), None)
                return entry.version
            self._refuse_if_referenced([entry])
            await self._mark_deleted(entry)
            return entry.version

    async def _mark_deleted(self, entry: SchemaVersion) -> None:
        deleted = SchemaVersion(**{**vars(entry), "deleted": True})
        await self.store.put(deleted.key(), deleted.value())
