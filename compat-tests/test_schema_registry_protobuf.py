"""PROTOBUF through the registry of a real broker process: confluent-kafka's ProtobufSerializer
registers a file and its import (as a reference), produces, and its ProtobufDeserializer reads the
writer's descriptor back (`format=serialized`); .proto text registers and looks up; Confluent's
Protobuf rules refuse an incompatible change under BACKWARD, and NONE lets it through."""

from __future__ import annotations

import base64
import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from grpc_tools import protoc

from test_schema_registry import (  # noqa: F401  (fixtures)
    RegistryBroker, client, http, produce_and_read_back, refused, registry_broker, subject)

pytestmark = [pytest.mark.timeout(120)]

ADDRESS = 'syntax = "proto3";\npackage compat;\nmessage Address { string city = 1; }\n'
USER = ('syntax = "proto3";\npackage compat;\nimport "compat_address.proto";\n'
        "message User { string name = 1; int32 age = 2; Address home = 3; }\n")
# age becomes a string: Confluent's FIELD_SCALAR_KIND_CHANGED, incompatible both ways.
USER_BAD = USER.replace("int32 age", "string age")
# A field added: compatible.
USER_V2 = USER.replace("Address home = 3;", "Address home = 3; bool admin = 4;")


def generated(tmp_path: Path) -> ModuleType:
    """compat_user_pb2, compiled by protoc from USER and ADDRESS into tmp_path and imported."""
    (tmp_path / "compat_address.proto").write_text(ADDRESS)
    (tmp_path / "compat_user.proto").write_text(USER)
    assert protoc.main(["protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
                        "compat_address.proto", "compat_user.proto"]) == 0
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module("compat_user_pb2")
    finally:
        sys.path.remove(str(tmp_path))


def test_protobuf_serializer_produces_and_deserializer_consumes(
        registry_broker: RegistryBroker, client: SchemaRegistryClient, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    module = generated(tmp_path)
    topic = f"proto-{request.node.name}"
    values = [module.User(name=f"user-{i}", age=20 + i, home={"city": f"city-{i}"}) for i in range(5)]
    serialize = ProtobufSerializer(module.User, client, {"use.deprecated.format": False})
    deserialize = ProtobufDeserializer(module.User, {"use.deprecated.format": False}, schema_registry_client=client)
    produce_and_read_back(registry_broker, topic, values, serialize, deserialize)

    registered = client.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "PROTOBUF"
    assert [(r.name, r.subject, r.version) for r in registered.schema.references] == [
        ("compat_address.proto", "compat_address.proto", 1)]
    assert "PROTOBUF" in http(f"{registry_broker.url}/schemas/types")[1]


def address_reference(subject: str) -> list[SchemaReference]:
    """ADDRESS as USER imports it, from a subject of the test's own."""
    return [SchemaReference("compat_address.proto", f"{subject}-address", 1)]


def test_proto_text_registers_and_its_descriptor_finds_it(client: SchemaRegistryClient, subject: str,
                                                          tmp_path: Path) -> None:
    address = client.register_schema(f"{subject}-address", Schema(ADDRESS, "PROTOBUF"))
    references = address_reference(subject)
    user = Schema(USER, "PROTOBUF", references)
    schema_id = client.register_schema(subject, user)
    assert schema_id != address
    assert client.lookup_schema(subject, user).schema_id == schema_id
    assert client.get_schema(schema_id).schema_str == USER
    # The descriptor confluent-kafka would send, looked up under normalize, is the same schema.
    descriptor = generated(tmp_path).DESCRIPTOR
    sent = Schema(base64.b64encode(descriptor.serialized_pb).decode(), "PROTOBUF", references)
    assert client.lookup_schema(subject, sent, normalize_schemas=True).schema_id == schema_id


def test_incompatible_protobuf_change_refused_under_backward_and_accepted_under_none(
        client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(f"{subject}-address", Schema(ADDRESS, "PROTOBUF"))
    references = address_reference(subject)
    client.register_schema(subject, Schema(USER, "PROTOBUF", references))
    assert client.test_compatibility(subject, Schema(USER_V2, "PROTOBUF", references))
    refusal = refused(client.register_schema, subject, Schema(USER_BAD, "PROTOBUF", references))
    assert (refusal.http_status_code, refusal.error_code) == (409, 409)
    assert "FIELD_SCALAR_KIND_CHANGED" in str(refusal)

    client.set_compatibility(subject, "NONE")
    client.register_schema(subject, Schema(USER_BAD, "PROTOBUF", references))
    assert client.get_versions(subject) == [1, 2]
