"""Schema types: parse a schema's text (with the schemas it references), give its canonical and
normalized text, and say whether it can read data written with another schema of its type.

AVRO uses the `avro` package: its parser, and its reader/writer resolution checker for
compatibility. JSON uses `jsonschema` to check the schema against its metaschema; its
compatibility rules are in jsonschema_compat.py. PROTOBUF is compiled by protoc (protobuf.py) and
compared by Confluent's rules (protobuf_compat.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import avro.errors
import avro.name
import avro.schema
import jsonschema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from kbroker.registry import errors, protobuf, protobuf_compat
from kbroker.registry.jsonschema_compat import read_problems

AVRO = "AVRO"
JSON = "JSON"
PROTOBUF = "PROTOBUF"
# Deepest nesting of arrays and objects a schema may have: the parsers and checkers recurse once per
# level, and real schemas stay far below this, while a hostile one could exhaust Python's stack.
MAX_NESTING = 200


def compact_json(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False)


class ParsedSchema(Protocol):
    schema_type: str
    canonical: str
    normalized: str

    def read_problems(self, writer: ParsedSchema) -> list[str]:
        """Why data written with `writer` cannot be read with this schema; empty when it can."""


@dataclass(frozen=True)
class Dependency:
    """A referenced schema, resolved: the name it is referenced by and its text."""

    name: str
    text: str


class AvroSchema:
    """An Avro schema; the named types of its references are parsed first, into the same names."""

    schema_type = AVRO

    def __init__(self, text: str, dependencies: list[Dependency]) -> None:
        names = avro.name.Names(validate_names=True)
        try:
            for dependency in dependencies:
                avro.schema.make_avsc_object(json.loads(dependency.text), names)
            document = json.loads(text)
            self.parsed = avro.schema.make_avsc_object(document, names)
        except (ValueError, TypeError, AttributeError, avro.errors.AvroException) as exc:
            raise errors.invalid_schema(str(exc)) from None
        self.canonical = compact_json(document)
        self.normalized = compact_json(self.parsed.to_json(avro.name.Names()), sort_keys=True)

    def read_problems(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, AvroSchema):
            return [f"the schema types differ: {AVRO} reads no {writer.schema_type}"]
        result = ReaderWriterCompatibilityChecker().get_compatibility(self.parsed, writer.parsed)
        if result.compatibility is SchemaCompatibilityType.compatible:
            return []
        kinds = ", ".join(sorted({kind.name for kind in result.incompatibilities}))
        return [f"{kinds} at {', '.join(sorted(result.locations))}: {', '.join(sorted(result.messages))}"]


class JsonSchema:
    """A JSON Schema, checked against the metaschema it names (draft 7 by default). Its references
    are registered schemas its `$ref`s may name; they were checked when they were registered."""

    schema_type = JSON

    def __init__(self, text: str, dependencies: list[Dependency]) -> None:
        try:
            document = json.loads(text)
            validator = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
            validator.check_schema(document)
        except (ValueError, TypeError, jsonschema.SchemaError) as exc:
            raise errors.invalid_schema(str(exc).splitlines()[0]) from None
        self.document = document
        self.canonical = compact_json(document)
        self.normalized = compact_json(document, sort_keys=True)

    def read_problems(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, JsonSchema):
            return [f"the schema types differ: {JSON} reads no {writer.schema_type}"]
        return read_problems(self.document, writer.document)


class ProtobufSchema:
    """A Protobuf file, as .proto text or a base64 FileDescriptorProto; its references are its
    imports. Stored as given; its normal form is the compiled descriptor, so text and descriptor
    of one file normalize alike."""

    schema_type = PROTOBUF

    def __init__(self, text: str, dependencies: list[Dependency]) -> None:
        self.descriptor, imports = protobuf.descriptors(text, tuple((d.name, d.text) for d in dependencies))
        self.files = (self.descriptor, *imports)
        self.canonical = text
        self.normalized = self.serialized = protobuf.serialized(self.descriptor)

    def read_problems(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, ProtobufSchema):
            return [f"the schema types differ: {PROTOBUF} reads no {writer.schema_type}"]
        return protobuf_compat.read_problems(self.files, writer.files)


def nesting(text: str) -> int:
    """How deep JSON text nests brackets and braces, counted without parsing (quoted text skipped)."""
    depth = deepest = 0
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted:
            escaped = char == "\\"
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse(schema_type: str, text: object, dependencies: list[Dependency]) -> ParsedSchema:
    """The schema of this type, or INVALID_SCHEMA (42201) saying why not."""
    if not isinstance(text, str):
        raise errors.invalid_schema("the schema must be a string")
    if nesting(text) > MAX_NESTING:
        raise errors.invalid_schema(f"the schema nests deeper than {MAX_NESTING} levels")
    if schema_type == AVRO:
        return AvroSchema(text, dependencies)
    if schema_type == JSON:
        return JsonSchema(text, dependencies)
    if schema_type == PROTOBUF:
        return ProtobufSchema(text, dependencies)
    raise errors.invalid_schema(f"unknown schema type {schema_type}")
