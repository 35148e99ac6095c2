"""Keys and values in Confluent's wire format (a zero magic byte, a 4-byte big-endian schema id,
then the serialized data), decoded with the schema the registry gives for that id and shown as
JSON with its subject and id.

Avro is read with the `avro` package; a JSON Schema value is JSON after the header. What cannot be
decoded here (no registry, an unknown id, Protobuf, data that does not fit its schema) is shown in
hex, with the reason, since such bytes read as text are noise.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
from dataclasses import dataclass
from typing import Any

from kbroker.console.records import MAX_SHOWN_BYTES, RecordPage
from kbroker.console.registry import RegisteredSchema, RegistryError, SchemaRegistry

MAGIC = 0
HEADER = struct.Struct(">bI")  # magic byte, schema id


@dataclass
class Decoded:
    """A key or value as the page shows it, and what it was decoded with (or why not)."""

    text: str
    label: str


async def decode_page(registry: SchemaRegistry | None, page: RecordPage, fmt: str) -> None:
    """Show the page's keys and values that are in wire format as decoded (not when hex is asked for)."""
    if fmt == "hex":
        return
    for row in page.rows:
        if wire_schema_id(row.raw_key) is not None:
            decoded = await decode(registry, row.raw_key)
            row.key, row.key_schema = decoded.text, decoded.label
        if wire_schema_id(row.raw_value) is not None:
            decoded = await decode(registry, row.raw_value)
            row.value, row.value_schema = decoded.text, decoded.label


def wire_schema_id(data: bytes | None) -> int | None:
    """The schema id of data in Confluent's wire format; None for anything else."""
    if data is None or len(data) < HEADER.size or data[0] != MAGIC:
        return None
    return HEADER.unpack_from(data)[1]


async def decode(registry: SchemaRegistry | None, data: bytes) -> Decoded:
    """`data` (in wire format) as JSON through its schema, or in hex saying why not."""
    schema_id = wire_schema_id(data)
    assert schema_id is not None
    if registry is None:
        return Decoded(data[:MAX_SHOWN_BYTES].hex(" "), f"schema id {schema_id}: no schema registry given")
    try:
        schema = await registry.schema(schema_id)
    except RegistryError as exc:
        return Decoded(data[:MAX_SHOWN_BYTES].hex(" "), str(exc))
    if schema is None:
        return Decoded(data[:MAX_SHOWN_BYTES].hex(" "), f"schema id {schema_id} is unknown to the registry")
    label = f"{schema.subject} v{schema.version} (id {schema_id})" if schema.subject else f"id {schema_id}"
    try:
        return Decoded(json.dumps(read(schema, data[HEADER.size:]), indent=2, ensure_ascii=False, default=plain),
                       f"{schema.schema_type.lower()} {label}")
    except Exception as exc:  # noqa: BLE001 - data that does not fit its schema, whatever the library raises
        return Decoded(data[:MAX_SHOWN_BYTES].hex(" "), f"{label}: cannot decode ({type(exc).__name__}: {exc})")


def read(schema: RegisteredSchema, payload: bytes) -> Any:
    if schema.schema_type == "JSON":
        return json.loads(payload)
    if schema.schema_type != "AVRO":
        raise ValueError(f"{schema.schema_type} is not decoded by the console")
    import avro.io

    return avro_reader(schema.text).read(avro.io.BinaryDecoder(io.BytesIO(payload)))


@functools.lru_cache(maxsize=256)  # a page's records mostly share a schema: parse it once
def avro_reader(text: str) -> Any:
    import avro.io
    import avro.schema

    return avro.io.DatumReader(avro.schema.parse(text))


def plain(value: Any) -> Any:
    """What json cannot write of Avro's values: bytes (base64), decimals, times, UUIDs (as text)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)
