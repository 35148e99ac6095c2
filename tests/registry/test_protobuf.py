"""PROTOBUF schemas: .proto text and base64 descriptors parse alike, imports resolve from
references, and Confluent's compatibility rules hold difference by difference."""

from __future__ import annotations

import base64

import pytest

from kbroker.registry import errors
from kbroker.registry.schemas import PROTOBUF, Dependency, ProtobufSchema, parse

ADDRESS = 'syntax = "proto3";\npackage shop;\nmessage Address { string city = 1; }\n'


def proto(body: str, syntax: str = "proto3", header: str = "") -> ProtobufSchema:
    text = f'syntax = "{syntax}";\npackage shop;\n{header}\n{body}\n'
    schema = parse(PROTOBUF, text, [Dependency("address.proto", ADDRESS)] if "address.proto" in header else [])
    assert isinstance(schema, ProtobufSchema)
    return schema


def test_text_and_its_descriptor_normalize_alike() -> None:
    text = proto('message User { string name = 1; Address home = 2; }', header='import "address.proto";')
    again = parse(PROTOBUF, text.serialized, [Dependency("address.proto", ADDRESS)])
    assert again.normalized == text.normalized
    assert text.descriptor.message_type[0].field[1].type_name == ".shop.Address"


def test_well_known_imports_need_no_reference() -> None:
    schema = proto("message Event { google.protobuf.Timestamp at = 1; }",
                   header='import "google/protobuf/timestamp.proto";')
    assert list(schema.descriptor.dependency) == ["google/protobuf/timestamp.proto"]


@pytest.mark.parametrize("text, dependencies, says", [
    ('syntax = "proto3"; message M { int32 x = 1 }', [], 'Expected ";"'),
    ('syntax = "proto3"; import "address.proto"; message M { Address a = 1; }', [], "address.proto"),
    ('syntax = "proto3"; message M {}', [Dependency("../etc/x.proto", ADDRESS)], "relative .proto path"),
])
def test_bad_protobuf_is_invalid_schema_saying_why(text: str, dependencies: list[Dependency], says: str) -> None:
    with pytest.raises(errors.RegistryError) as caught:
        parse(PROTOBUF, text, dependencies)
    assert caught.value.code == 42201 and says in caught.value.message


def test_base64_that_is_no_descriptor_is_read_as_text() -> None:
    with pytest.raises(errors.RegistryError) as caught:
        parse(PROTOBUF, base64.b64encode(b"\x08\x01\x12").decode(), [])
    assert caught.value.code == 42201


V1 = "message User { string name = 1; int32 age = 2; oneof contact { string email = 3; string phone = 4; } }"


@pytest.mark.parametrize("reader, writer, problem", [
    (V1, V1, None),
    ("message User { string name = 1; int32 age = 2; oneof contact { string email = 3; string phone = 4; } "
     "bool admin = 5; }", V1, None),                                                    # field added
    ("message User { string name = 1; oneof contact { string email = 3; string phone = 4; } }", V1, None),
    ("message User { string login = 1; int64 age = 2; oneof contact { bytes email = 3; string phone = 4; } }",
     V1, None),                                                    # renamed; int32->int64, string->bytes
    ("message User { string name = 1; string age = 2; oneof contact { string email = 3; string phone = 4; } }",
     V1, "FIELD_SCALAR_KIND_CHANGED"),
    ("message User { string name = 1; sint32 age = 2; oneof contact { string email = 3; string phone = 4; } }",
     V1, "FIELD_SCALAR_KIND_CHANGED"),
    ("message User { string name = 1; Age age = 2; oneof contact { string email = 3; string phone = 4; } } "
     "message Age { int32 years = 1; }", V1, "FIELD_KIND_CHANGED"),
    ("message User { string name = 1; int32 age = 2; oneof contact { string email = 3; } }", V1,
     "ONEOF_FIELD_REMOVED"),
    ("message User { string name = 1; int32 age = 2; oneof contact { string email = 3; string phone = 4; "
     "string fax = 5; } }", V1, None),                                                  # new field in a oneof
    ("message User { oneof who { string name = 1; int32 age = 2; } oneof contact { string email = 3; "
     "string phone = 4; } }", V1, "MULTIPLE_FIELDS_MOVED_TO_ONEOF"),
    ("message User { int32 age = 2; oneof contact { string name = 1; string email = 3; string phone = 4; } }",
     V1, "FIELD_MOVED_TO_EXISTING_ONEOF"),
    ("message User { string name = 1; repeated int32 age = 2; oneof contact { string email = 3; "
     "string phone = 4; } }", V1, None),                         # a proto3 field without a label may
    ("message User { string name = 1; int32 age = 2; }", V1, None),            # a whole oneof removed
    ("message User { string name = 1; int32 age = 2; oneof contact { string email = 3; } string phone = 4; }",
     V1, "ONEOF_FIELD_REMOVED"),                                                # moved out of its oneof
    ("message User { string name = 1; Kind age = 2; oneof contact { string email = 3; string phone = 4; } } "
     "enum Kind { A = 0; }", V1, None),                                         # enums are varints
    ("message User { string name = 1; float age = 2; oneof contact { string email = 3; string phone = 4; } }",
     V1, "FIELD_SCALAR_KIND_CHANGED"),
    ("message User { string name = 1; map<string, int32> age = 2; oneof contact { string email = 3; "
     "string phone = 4; } }", V1, "FIELD_KIND_CHANGED"),
    ("message User { repeated string name = 1; int32 age = 2; oneof contact { string email = 3; "
     "string phone = 4; } }", V1, None),                                              # strings may repeat
    ("message Person { string name = 1; }", V1, "MESSAGE_REMOVED"),
    (V1 + " message Extra { Kind kind = 1; } enum Kind { A = 0; }", V1, None),         # messages, enums added
])
def test_protobuf_rules(reader: str, writer: str, problem: str | None) -> None:
    found = proto(reader).read_problems(proto(writer))
    assert (found == []) if problem is None else any(problem in p for p in found), found


def test_named_type_changed_and_package_changed() -> None:
    writer = proto("message A { B b = 1; } message B { int32 x = 1; } message C { int32 x = 1; }")
    reader = proto("message A { C b = 1; } message B { int32 x = 1; } message C { int32 x = 1; }")
    assert any("FIELD_NAMED_TYPE_CHANGED" in p for p in reader.read_problems(writer))
    moved = parse(PROTOBUF, 'syntax = "proto3"; package elsewhere; message A { B b = 1; } '
                            'message B { int32 x = 1; } message C { int32 x = 1; }', [])
    assert moved.read_problems(writer) == []  # messages match by their names inside the package


def test_a_referenced_type_is_compared_too() -> None:
    def user(address: str) -> ProtobufSchema:
        schema = parse(PROTOBUF, 'syntax = "proto3";\nimport "address.proto";\nmessage User { shop.Address a = 1; }',
                       [Dependency("address.proto", address)])
        assert isinstance(schema, ProtobufSchema)
        return schema

    widened = user(ADDRESS.replace("string city = 1;", "string city = 1; int32 zip = 2;"))
    changed = user(ADDRESS.replace("string city", "int64 city"))
    assert widened.read_problems(user(ADDRESS)) == []
    found = changed.read_problems(user(ADDRESS))
    assert any("FIELD_SCALAR_KIND_CHANGED" in p for p in found) and any("FIELD_NAMED_TYPE_CHANGED" in p for p in found)


def test_proto2_labels_and_required_fields() -> None:
    writer = proto("message A { required int32 x = 1; optional int32 y = 2; optional string s = 3; }",
                   syntax="proto2")
    dropped = proto("message A { optional int32 y = 2; optional string s = 3; }", syntax="proto2")
    added = proto("message A { required int32 x = 1; optional int32 y = 2; optional string s = 3; "
                  "required int32 z = 4; }", syntax="proto2")
    repeated = proto("message A { required int32 x = 1; repeated int32 y = 2; repeated string s = 3; }",
                     syntax="proto2")
    assert any("REQUIRED_FIELD_REMOVED" in p for p in dropped.read_problems(writer))
    assert any("REQUIRED_FIELD_ADDED" in p for p in added.read_problems(writer))
    assert [p.split(": ")[1] for p in repeated.read_problems(writer)] == ["FIELD_NUMERIC_LABEL_CHANGED"]


def test_enum_values_may_change() -> None:
    writer = proto("enum Kind { A = 0; B = 1; } message M { Kind kind = 1; }")
    reader = proto("enum Kind { A = 0; C = 2; } message M { Kind kind = 1; }")
    assert reader.read_problems(writer) == []
