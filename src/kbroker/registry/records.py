"""The records of the `_schemas` topic, in the layout Confluent's registry writes, so either can
read a topic the other wrote.

Keys are JSON objects whose `keytype` says what the record is:

    SCHEMA          {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
                    value {"subject","version","id","schema","schemaType"?,"references"?,"deleted"};
                    a tombstone deletes that version for good
    CONFIG          {"keytype":"CONFIG","subject":S or null,"magic":0}  value {"compatibilityLevel": L}
    MODE            {"keytype":"MODE","subject":S or null,"magic":0}    value {"mode": M}
    DELETE_SUBJECT  {"keytype":"DELETE_SUBJECT","subject":S,"magic":0} value {"subject":S,"version":V}:
                    every version up to V is soft-deleted (each SCHEMA record is rewritten with
                    deleted=true too); a permanent delete tombstones it and every version
    CLEAR_SUBJECT   {"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}  value {"subject":S}: the
                    soft-deleted versions are gone for good (read, not written)
    NOOP            {"keytype":"NOOP","magic":0}, no value: written to learn how far the log goes

A null subject in CONFIG and MODE is the global setting. schemaType is left out for AVRO, and
references when there are none, as Confluent leaves them out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kbroker.registry.schemas import AVRO


def encode(document: dict[str, Any] | None) -> bytes | None:
    return None if document is None else json.dumps(document, separators=(",", ":")).encode()


def decode(data: bytes | None) -> dict[str, Any] | None:
    """A key or value as a JSON object; None for a tombstone."""
    if data is None:
        return None
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError(f"not a JSON object: {data[:80]!r}")
    return document


@dataclass
class SchemaVersion:
    """One version of one subject, as a SCHEMA record holds it."""

    subject: str
    version: int
    id: int
    schema: str
    schema_type: str = AVRO
    references: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> SchemaVersion:
        return cls(subject=value["subject"], version=int(value["version"]), id=int(value["id"]),
                   schema=value["schema"], schema_type=value.get("schemaType") or AVRO,
                   references=list(value.get("references") or []), deleted=bool(value.get("deleted", False)))

    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = {"subject": self.subject, "version": self.version, "id": self.id,
                                 "schema": self.schema}
        if self.schema_type != AVRO:
            value["schemaType"] = self.schema_type
        if self.references:
            value["references"] = self.references
        value["deleted"] = self.deleted
        return value

    def key(self) -> dict[str, Any]:
        return schema_key(self.subject, self.version)


def schema_key(subject: str, version: int) -> dict[str, Any]:
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def config_key(subject: str | None) -> dict[str, Any]:
    return {"keytype": "CONFIG", "subject": subject, "magic": 0}


def mode_key(subject: str | None) -> dict[str, Any]:
    return {"keytype": "MODE", "subject": subject, "magic": 0}


def delete_subject_key(subject: str) -> dict[str, Any]:
    return {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}


NOOP_KEY: dict[str, Any] = {"keytype": "NOOP", "magic": 0}
