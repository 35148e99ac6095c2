"""Compatibility levels over Avro (the avro package's resolution checker) and JSON Schema rules."""

from __future__ import annotations

import json

import pytest

from kbroker.registry import compatibility, errors
from kbroker.registry.jsonschema_compat import read_problems
from kbroker.registry.schemas import AVRO, JSON, parse


def avro_record(*fields: dict) -> object:
    return parse(AVRO, json.dumps({"type": "record", "name": "R", "fields": list(fields)}), [])


A = {"name": "a", "type": "int"}
B_DEFAULT = {"name": "b", "type": "string", "default": ""}
B_REQUIRED = {"name": "b", "type": "string"}
C_REQUIRED = {"name": "c", "type": "long"}


@pytest.mark.parametrize("level, old, new, ok", [
    ("BACKWARD", [A], [A, B_DEFAULT], True),        # the new reader fills b from its default
    ("BACKWARD", [A], [A, B_REQUIRED], False),      # the new reader finds no b in old data
    ("BACKWARD", [A, B_REQUIRED], [A], True),       # a reader may drop a field
    ("FORWARD", [A, B_REQUIRED], [A], False),       # the old reader needs b, new data lacks it
    ("FORWARD", [A], [A, B_REQUIRED], True),
    ("FULL", [A], [A, B_REQUIRED], False),
    ("FULL", [A], [A, B_DEFAULT], True),
    ("NONE", [A], [C_REQUIRED], True),
])
def test_avro_levels(level: str, old: list[dict], new: list[dict], ok: bool) -> None:
    found = compatibility.problems(level, avro_record(*new), [avro_record(*old)])
    assert (found == []) is ok, found


def test_transitive_levels_check_every_version_not_just_the_latest() -> None:
    v1 = avro_record(A)
    v2 = avro_record(A, B_DEFAULT)
    v3 = avro_record(A, {"name": "b", "type": "string"})  # drops the default: reads v2's data, not v1's
    assert compatibility.problems("BACKWARD", v3, [v1, v2]) == []
    assert compatibility.problems("BACKWARD_TRANSITIVE", v3, [v1, v2]) != []


def test_avro_type_promotion_follows_the_spec() -> None:
    as_int = parse(AVRO, '"int"', [])
    as_long = parse(AVRO, '"long"', [])
    assert compatibility.problems("BACKWARD", as_long, [as_int]) == []  # a long reader reads ints
    assert compatibility.problems("BACKWARD", as_int, [as_long]) != []


def test_level_names_are_checked() -> None:
    assert compatibility.level_named("full_transitive") == "FULL_TRANSITIVE"
    with pytest.raises(errors.RegistryError) as caught:
        compatibility.level_named("SIDEWAYS")
    assert caught.value.code == 42203


def obj(properties: dict, required: tuple[str, ...] = (), closed: bool = False) -> dict:
    schema: dict = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


@pytest.mark.parametrize("reader, writer, ok", [
    (obj({"a": {"type": "string"}}), obj({"a": {"type": "string"}}), True),
    (obj({"a": {"type": "string"}}, ("a",)), obj({"a": {"type": "string"}}), False),   # required added
    (obj({"a": {"type": "number"}}), obj({"a": {"type": "integer"}}), True),           # widened
    (obj({"a": {"type": "integer"}}), obj({"a": {"type": "number"}}), False),          # narrowed
    (obj({"a": {"type": "string"}, "b": {"type": "string"}}), obj({"a": {"type": "string"}}, closed=True), True),
    (obj({"a": {"type": "string"}, "b": {"type": "string"}}), obj({"a": {"type": "string"}}), False),
    (obj({"a": {"type": "string"}}, closed=True), obj({"a": {"type": "string"}, "b": {"type": "string"}}), False),
    ({"enum": ["x", "y", "z"]}, {"enum": ["x", "y"]}, True),
    ({"enum": ["x"]}, {"enum": ["x", "y"]}, False),
    ({"type": "array", "items": {"type": "string"}}, {"type": "array", "items": {"type": "integer"}}, False),
    (True, obj({}), True),
])
def test_json_schema_rules(reader: object, writer: object, ok: bool) -> None:
    found = read_problems(reader, writer)
    assert (found == []) is ok, found


def test_schema_types_do_not_mix() -> None:
    avro = parse(AVRO, '"string"', [])
    as_json = parse(JSON, '{"type": "string"}', [])
    assert compatibility.problems("BACKWARD", as_json, [avro]) != []
