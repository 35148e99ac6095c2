"""The registry's state in memory, rebuilt by applying the `_schemas` records in order.

Every registry process reading the topic arrives at the same state; nothing here writes.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from kbroker.registry.records import SchemaVersion

log = logging.getLogger("kbroker.registry")


class RegistryState:
    """Subjects and their versions, schema ids, compatibility levels and modes."""

    def __init__(self) -> None:
        self.subjects: dict[str, dict[int, SchemaVersion]] = {}
        self.configs: dict[str | None, dict[str, Any]] = {}
        self.modes: dict[str | None, str] = {}
        self.max_id = 0

    def apply(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        """Apply one record of the topic (key and value already decoded; None value = tombstone)."""
        keytype = key.get("keytype")
        subject = key.get("subject")
        if keytype == "SCHEMA":
            versions = self.subjects.setdefault(subject, {})
            if value is None:
                versions.pop(int(key["version"]), None)
            else:
                entry = SchemaVersion.from_value(value)
                versions[entry.version] = entry
                self.max_id = max(self.max_id, entry.id)
            if not versions:
                del self.subjects[subject]
        elif keytype == "CONFIG":
            self._set(self.configs, subject, value)
        elif keytype == "MODE":
            self._set(self.modes, subject, value and value.get("mode"))
        elif keytype == "DELETE_SUBJECT" and value is not None:
            for entry in self.subjects.get(subject, {}).values():
                if entry.version <= int(value["version"]):
                    entry.deleted = True
        elif keytype == "CLEAR_SUBJECT" and value is not None:
            versions = self.subjects.get(subject, {})
            for version in [v for v, entry in versions.items() if entry.deleted]:
                del versions[version]
            if not versions:
                self.subjects.pop(subject, None)
        elif keytype != "NOOP":
            log.warning("ignoring a _schemas record of unknown key type %r", keytype)

    @staticmethod
    def _set(table: dict[str | None, Any], subject: str | None, value: Any) -> None:
        if value is None:
            table.pop(subject, None)
        else:
            table[subject] = value

    def versions(self, subject: str, deleted: bool = False) -> list[SchemaVersion]:
        """A subject's versions, oldest first; soft-deleted ones only when asked for."""
        entries = self.subjects.get(subject, {})
        return [entries[v] for v in sorted(entries) if deleted or not entries[v].deleted]

    def all_versions(self) -> Iterator[SchemaVersion]:
        for entries in self.subjects.values():
            yield from entries.values()

    def by_id(self, schema_id: int) -> list[SchemaVersion]:
        """Every version, in any subject and soft-deleted or not, that has this schema id."""
        return sorted((e for e in self.all_versions() if e.id == schema_id), key=lambda e: (e.subject, e.version))
