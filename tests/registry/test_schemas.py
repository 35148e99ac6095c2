"""Parsing schemas: canonical and normalized text, references, and INVALID_SCHEMA for bad ones."""

from __future__ import annotations

import json

import pytest

from kbroker.registry import errors
from kbroker.registry.schemas import AVRO, JSON, PROTOBUF, Dependency, nesting, parse

ADDRESS = json.dumps({"type": "record", "name": "Address", "namespace": "shop",
                      "fields": [{"name": "city", "type": "string"}]})


def test_avro_canonical_text_keeps_order_and_drops_whitespace() -> None:
    schema = parse(AVRO, '{ "type" : "record", "name": "R",  "fields": [ {"name":"a","type":"int"} ] }', [])
    assert schema.canonical == '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}'


def test_normalized_text_is_the_same_for_the_same_schema_written_differently() -> None:
    one = parse(AVRO, '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}', [])
    two = parse(AVRO, '{"fields": [{"type": "int", "name": "a"}], "name": "R", "type": "record"}', [])
    assert one.canonical != two.canonical
    assert one.normalized == two.normalized


def test_avro_references_resolve_named_types_of_other_subjects() -> None:
    order = json.dumps({"type": "record", "name": "Order", "namespace": "shop",
                        "fields": [{"name": "ship_to", "type": "shop.Address"}]})
    with pytest.raises(errors.RegistryError):
        parse(AVRO, order, [])
    assert parse(AVRO, order, [Dependency("shop.Address", ADDRESS)]).canonical == json.dumps(
        json.loads(order), separators=(",", ":"))


@pytest.mark.parametrize("schema_type, text", [
    (AVRO, '{"type": "record", "name": "X"}'),      # no fields
    (AVRO, '{"type": "nope"}'),
    (AVRO, "not json"),
    (JSON, '{"type": "objec"}'),
    (JSON, "[1"),
    (PROTOBUF, 'syntax = "proto3"; message M { int32 x = 1 }'),   # no ';'
    (PROTOBUF, 'syntax = "proto3"; message M { Missing m = 1; }'),
    ("XML", "<a/>"),
])
def test_bad_schemas_are_invalid_schema(schema_type: str, text: str) -> None:
    with pytest.raises(errors.RegistryError) as caught:
        parse(schema_type, text, [])
    assert (caught.value.status, caught.value.code) == (422, 42201)


@pytest.mark.parametrize("schema_type", [AVRO, JSON])
def test_schemas_nested_too_deep_are_refused_before_parsing(schema_type: str) -> None:
    deep = '{"type":"array","items":' * 5000 + '"int"' + "}" * 5000
    with pytest.raises(errors.RegistryError) as caught:
        parse(schema_type, deep, [])
    assert caught.value.code == 42201 and "nests deeper" in caught.value.message


def test_nesting_skips_brackets_inside_strings() -> None:
    text = '{"doc": "[[[{{ \\" ]]", "a": [1, {"b": []}]}'
    assert json.loads(text)["doc"] == '[[[{{ " ]]'
    assert nesting(text) == 4  # {, [, {, [
