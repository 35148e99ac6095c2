"""JSON Schema compatibility: can every document valid under the writer's schema be read by the
reader's? A structural comparison of the common keywords (type, properties, required,
additionalProperties, items, enum, const); keywords outside that set are compared for equality
only when both schemas use them. docs/schema-registry.md lists the rules."""

from __future__ import annotations

from typing import Any

JSON_TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set(JSON_TYPES)
    found = {declared} if isinstance(declared, str) else set(declared)
    if "number" in found:
        found.add("integer")  # every integer is a number
    return found


def _accepts_anything(schema: object) -> bool:
    return schema is True or schema == {}


def read_problems(reader: object, writer: object, path: str = "#") -> list[str]:
    """Reasons data valid under `writer` may fail `reader`, each with the JSON pointer where it is."""
    if _accepts_anything(reader) or writer is False:
        return []
    if reader is False:
        return [f"{path}: the reader accepts nothing"]
    if not isinstance(reader, dict):
        return [f"{path}: the reader is not a schema"]
    if _accepts_anything(writer):
        return [f"{path}: the writer accepts any document, the reader does not"]
    if not isinstance(writer, dict):
        return [f"{path}: the writer is not a schema"]
    problems = []
    missing = _types(writer) - _types(reader)
    if missing:
        problems.append(f"{path}: type {', '.join(sorted(missing))} is no longer accepted")
    if "enum" in reader:
        lost = [v for v in writer.get("enum", [writer["const"]] if "const" in writer else []) if v not in reader["enum"]]
        if lost or ("enum" not in writer and "const" not in writer):
            problems.append(f"{path}: enum values {lost or 'of the writer'} are not in the reader's enum")
    if "const" in reader and writer.get("const", object()) != reader["const"]:
        problems.append(f"{path}: const changed")
    problems += _object_problems(reader, writer, path)
    if "items" in reader and isinstance(reader["items"], (dict, bool)):
        problems += read_problems(reader["items"], writer.get("items", True), f"{path}/items")
    for keyword in ("minimum", "maximum", "minLength", "maxLength", "pattern", "format", "minItems", "maxItems"):
        if keyword in reader and reader[keyword] != writer.get(keyword):
            problems.append(f"{path}: {keyword} changed")
    return problems


def _object_problems(reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
    problems = []
    reader_props = reader.get("properties", {})
    writer_props = writer.get("properties", {})
    writer_open = writer.get("additionalProperties", True) is not False
    for name in sorted(set(reader.get("required", [])) - set(writer.get("required", []))):
        problems.append(f"{path}/properties/{name}: required property added")
    for name, schema in reader_props.items():
        if name in writer_props:
            problems += read_problems(schema, writer_props[name], f"{path}/properties/{name}")
        elif writer_open and not _accepts_anything(schema):
            extra = writer.get("additionalProperties", True)
            problems += read_problems(schema, extra, f"{path}/properties/{name}")
    reader_extra = reader.get("additionalProperties", True)
    for name in writer_props:
        if name not in reader_props and not _accepts_anything(reader_extra):
            problems += read_problems(reader_extra, writer_props[name], f"{path}/properties/{name}")
    return problems
