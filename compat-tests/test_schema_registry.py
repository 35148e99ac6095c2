"""The Schema Registry of a real broker process, driven by Confluent's and kafkajs's own clients.

confluent-kafka's SchemaRegistryClient registers, looks up, lists and deletes; its Avro and JSON
serializers produce through the registry and its deserializers read back; compatibility levels
refuse and allow; the `_schemas` topic holds Confluent's record layout, so ids and versions
survive a broker restart and a second registry process reading the same broker sees them; and
@kafkajs/confluent-schema-registry decodes what Python encoded and the other way round.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from brokerproc import HOST, BrokerProcess, broker_kind
from kbroker.testing.runners import free_port, spawn, stop_process
from test_kafkajs import b64, kafkajs, unb64

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(broker_kind() != "kbroker", reason="serves the registry from kbroker itself")]

USER_V1 = json.dumps({"type": "record", "name": "User", "namespace": "compat",
                      "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]})
# Adds a field with a default: readers of v2 can read v1 data (BACKWARD holds).
USER_V2 = json.dumps({"type": "record", "name": "User", "namespace": "compat",
                      "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
                                 {"name": "email", "type": "string", "default": ""}]})
# Adds a field without a default: v2 readers cannot read v1 data (BACKWARD fails).
USER_BAD = json.dumps({"type": "record", "name": "User", "namespace": "compat",
                       "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
                                  {"name": "email", "type": "string"}]})
ORDER_JSON = json.dumps({"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                         "required": ["sku", "qty"]})


def wait_for_registry(url: str, proc: Any = None, timeout: float = 30.0) -> None:
    """Until GET / answers: the registry reads `_schemas` to its end before it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError):
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the registry process exited with status {proc.returncode}")
            assert time.monotonic() < deadline, f"no schema registry at {url} after {timeout}s"
            time.sleep(0.1)


class RegistryBroker:
    """A kbroker process serving a registry too (`--schema-registry`), restartable on the same ports."""

    def __init__(self, workdir: Path) -> None:
        self.registry_port = free_port()
        self.broker = BrokerProcess(workdir, args=["--schema-registry", f"{HOST}:{self.registry_port}"])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.registry_port}"

    def start(self) -> RegistryBroker:
        self.broker.start()
        wait_for_registry(self.url)
        return self

    def restart(self) -> None:
        self.broker.restart()
        wait_for_registry(self.url)


@pytest.fixture(scope="module")
def registry_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryBroker]:
    served = RegistryBroker(tmp_path_factory.mktemp("registry") / "broker")
    try:
        yield served.start()
    finally:
        served.broker.stop()


@pytest.fixture
def client(registry_broker: RegistryBroker) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry_broker.url})


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-value"


def http(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any, str]:
    """(status, JSON answer, content type) of one request, error answers included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), answer.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers["Content-Type"]


def refused(call: Any, *args: Any) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args)
    return caught.value


def test_register_look_up_list_and_delete(client: SchemaRegistryClient, subject: str) -> None:
    schema_id = client.register_schema(subject, Schema(USER_V1, "AVRO"))
    assert client.register_schema(subject, Schema(USER_V1, "AVRO")) == schema_id  # the same schema, the same id
    assert client.register_schema(f"{subject}-copy", Schema(USER_V1, "AVRO")) == schema_id  # ids are global
    second = client.register_schema(subject, Schema(USER_V2, "AVRO"))
    assert second > schema_id

    found = client.lookup_schema(subject, Schema(USER_V1, "AVRO"))
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert subject in client.get_subjects()
    assert client.get_versions(subject) == [1, 2]
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, second)
    assert json.loads(latest.schema.schema_str) == json.loads(USER_V2)
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(USER_V1)
    assert sorted(client.get_subjects_by_schema_id(schema_id)) == sorted([subject, f"{subject}-copy"])

    assert client.delete_version(subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.delete_subject(subject) == [1]
    assert subject not in client.get_subjects()
    assert refused(client.get_versions, subject).error_code == 40401
    assert refused(client.delete_subject, subject).error_code == 40404  # already soft-deleted
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert refused(client.delete_subject, subject, True).error_code == 40401
    # The schema's id still answers: the copy's subject uses it.
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(USER_V1)


def test_errors_carry_the_registrys_codes(registry_broker: RegistryBroker, client: SchemaRegistryClient,
                                          subject: str) -> None:
    assert refused(client.get_latest_version, "no-such-subject").error_code == 40401
    assert refused(client.get_schema, 999_999).error_code == 40403
    client.register_schema(subject, Schema(USER_V1, "AVRO"))
    assert refused(client.get_version, subject, 7).error_code == 40402
    bad = refused(client.register_schema, subject, Schema('{"type": "record", "name": "X"}', "AVRO"))
    assert (bad.http_status_code, bad.error_code) == (422, 42201)
    permanent_first = refused(client.delete_version, subject, 1, True)
    assert permanent_first.error_code == 40407

    status, answer, content_type = http(f"{registry_broker.url}/subjects/{subject}/versions/0")
    assert (status, answer["error_code"]) == (422, 42202)
    assert content_type.startswith("application/vnd.schemaregistry.v1+json")
    status, answer, _ = http(f"{registry_broker.url}/config", "PUT", {"compatibility": "SIDEWAYS"})
    assert (status, answer["error_code"]) == (422, 42203)
    status, answer, _ = http(f"{registry_broker.url}/no/such/path")
    assert (status, answer["error_code"]) == (404, 404)
    # Hostile input is refused with the registry's codes, not a 500.
    deep_schema = '{"type":"array","items":' * 5000 + '"int"' + "}" * 5000
    status, answer, _ = http(f"{registry_broker.url}/subjects/{subject}/versions", "POST", {"schema": deep_schema})
    assert (status, answer["error_code"]) == (422, 42201)
    request = urllib.request.Request(f"{registry_broker.url}/subjects/{subject}/versions", method="POST",
                                     data=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert (caught.value.code, json.loads(caught.value.read())["error_code"]) == (400, 400)


def test_incompatible_change_refused_under_backward_and_accepted_under_none(
        registry_broker: RegistryBroker, client: SchemaRegistryClient, subject: str) -> None:
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema(subject, Schema(USER_V1, "AVRO"))
    assert not client.test_compatibility(subject, Schema(USER_BAD, "AVRO"))
    assert client.test_compatibility(subject, Schema(USER_V2, "AVRO"))
    refusal = refused(client.register_schema, subject, Schema(USER_BAD, "AVRO"))
    assert (refusal.http_status_code, refusal.error_code) == (409, 409)

    assert client.set_compatibility(subject, "NONE")["compatibility"] == "NONE"
    assert client.get_compatibility(subject) == "NONE"
    client.register_schema(subject, Schema(USER_BAD, "AVRO"))
    assert client.get_versions(subject) == [1, 2]
    status, answer, _ = http(f"{registry_broker.url}/config/{subject}", "DELETE")
    assert (status, answer) == (200, {"compatibilityLevel": "NONE"})
    status, answer, _ = http(f"{registry_broker.url}/config/{subject}")
    assert (status, answer["error_code"]) == (404, 40408)


def test_references_and_normalize(registry_broker: RegistryBroker, client: SchemaRegistryClient,
                                  subject: str) -> None:
    address = json.dumps({"type": "record", "name": "Address", "namespace": "compat",
                          "fields": [{"name": "city", "type": "string"}]})
    order = json.dumps({"type": "record", "name": "Order", "namespace": "compat",
                        "fields": [{"name": "ship_to", "type": "compat.Address"}]})
    address_subject = f"{subject}-address"
    address_id = client.register_schema(address_subject, Schema(address, "AVRO"))
    refused_alone = refused(client.register_schema, subject, Schema(order, "AVRO"))
    assert refused_alone.error_code == 42201  # compat.Address is unknown without the reference
    reference = SchemaReference("compat.Address", address_subject, 1)
    order_id = client.register_schema(subject, Schema(order, "AVRO", [reference]))
    registered = client.get_latest_version(subject).schema
    assert [(r.name, r.subject, r.version) for r in registered.references] == [("compat.Address", address_subject, 1)]
    assert client.get_referenced_by(address_subject, 1) == [order_id]
    assert refused(client.delete_subject, address_subject).error_code == 42206
    assert client.get_schema(address_id).schema_str is not None

    # The same schema with its keys in another order: a new version unless normalized.
    reordered = json.dumps({"fields": [{"type": "string", "name": "city"}], "namespace": "compat",
                            "name": "Address", "type": "record"})
    assert client.register_schema(address_subject, Schema(reordered, "AVRO"), normalize_schemas=True) == address_id
    assert client.lookup_schema(address_subject, Schema(reordered, "AVRO"), normalize_schemas=True).version == 1
    status, answer, _ = http(f"{registry_broker.url}/subjects/{address_subject}", "POST", {"schema": reordered})
    assert (status, answer["error_code"]) == (404, 40403)  # asked without normalize (the client caches lookups)


def test_read_only_mode_refuses_registration(registry_broker: RegistryBroker, client: SchemaRegistryClient,
                                             subject: str) -> None:
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert refused(client.register_schema, subject, Schema(USER_V1, "AVRO")).error_code == 42205
    assert client.delete_mode(subject) == "READONLY"
    client.register_schema(subject, Schema(USER_V1, "AVRO"))


def test_import_mode_keeps_the_ids_and_versions_it_is_given(registry_broker: RegistryBroker,
                                                            client: SchemaRegistryClient, subject: str) -> None:
    url = registry_broker.url
    assert http(f"{url}/mode/{subject}", "PUT", {"mode": "IMPORT"})[:2] == (200, {"mode": "IMPORT"})
    status, answer, _ = http(f"{url}/subjects/{subject}/versions", "POST",
                             {"schema": USER_BAD, "id": 4242, "version": 7})
    assert (status, answer) == (200, {"id": 4242})
    found = client.get_version(subject, 7)
    assert (found.schema_id, json.loads(found.schema.schema_str)) == (4242, json.loads(USER_BAD))
    status, answer, _ = http(f"{url}/subjects/{subject}/versions", "POST", {"schema": USER_V1, "id": 4242})
    assert (status, answer["error_code"]) == (422, 42207)  # 4242 is another schema's
    assert http(f"{url}/mode/{subject}", "PUT", {"mode": "READWRITE"})[:2] == (200, {"mode": "READWRITE"})
    status, answer, _ = http(f"{url}/mode/{subject}", "PUT", {"mode": "IMPORT"})
    assert (status, answer["error_code"]) == (422, 42205)  # the subject has schemas
    assert http(f"{url}/mode/{subject}?force=true", "PUT", {"mode": "IMPORT"})[:2] == (200, {"mode": "IMPORT"})
    client.delete_mode(subject)


def test_avro_serializer_produces_and_deserializer_consumes(
        registry_broker: RegistryBroker, client: SchemaRegistryClient, request: pytest.FixtureRequest) -> None:
    topic = f"avro-{request.node.name}"
    values = [{"name": f"user-{i}", "age": 20 + i} for i in range(5)]
    serialize = AvroSerializer(client, USER_V1)
    produce_and_read_back(registry_broker, topic, values, lambda v, ctx: serialize(v, ctx),
                          AvroDeserializer(client))
    assert client.get_versions(f"{topic}-value") == [1]  # auto-registered under TopicNameStrategy


def test_json_serializer_produces_and_deserializer_consumes(
        registry_broker: RegistryBroker, client: SchemaRegistryClient, request: pytest.FixtureRequest) -> None:
    topic = f"json-{request.node.name}"
    values = [{"sku": f"sku-{i}", "qty": i} for i in range(5)]
    serialize = JSONSerializer(ORDER_JSON, client)
    produce_and_read_back(registry_broker, topic, values, lambda v, ctx: serialize(v, ctx),
                          JSONDeserializer(ORDER_JSON, schema_registry_client=client))
    assert client.get_latest_version(f"{topic}-value").schema.schema_type == "JSON"


def produce_and_read_back(registry_broker: RegistryBroker, topic: str, values: list[dict[str, Any]],
                          serialize: Any, deserialize: Any) -> None:
    bootstrap = registry_broker.broker.bootstrap_server
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=serialize(value, SerializationContext(topic, MessageField.VALUE)))
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    read: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while len(read) < len(values) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read.append(deserialize(message.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    assert read == values


def test_schemas_topic_holds_confluents_layout(registry_broker: RegistryBroker, client: SchemaRegistryClient,
                                               subject: str) -> None:
    schema_id = client.register_schema(subject, Schema(ORDER_JSON, "JSON"))
    client.delete_subject(subject)
    written = schema_records(registry_broker.broker.bootstrap_server, subject, count=3)
    value = {"subject": subject, "version": 1, "id": schema_id,
             "schema": json.dumps(json.loads(ORDER_JSON), separators=(",", ":")), "schemaType": "JSON",
             "deleted": False}
    schema_key = {"keytype": "SCHEMA", "subject": subject, "version": 1, "magic": 1}
    assert written == [
        (schema_key, value),
        ({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}, {"subject": subject, "version": 1}),
        (schema_key, {**value, "deleted": True}),
    ]


def schema_records(bootstrap: str, subject: str, count: int) -> list[tuple[Any, Any]]:
    """The first `count` records of `_schemas` about one subject, keys and values as JSON."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": subject, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["_schemas"])
    found: list[tuple[Any, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            key = json.loads(message.key())
            if key.get("subject") == subject:
                found.append((key, None if message.value() is None else json.loads(message.value())))
    finally:
        consumer.close()
    return found


def test_ids_and_versions_survive_a_broker_restart(tmp_path: Path) -> None:
    served = RegistryBroker(tmp_path / "broker").start()
    try:
        client = SchemaRegistryClient({"url": served.url})
        first = client.register_schema("restart-a", Schema(USER_V1, "AVRO"))
        second = client.register_schema("restart-a", Schema(USER_V2, "AVRO"))
        client.set_compatibility("restart-a", "FULL")
        served.restart()
        client = SchemaRegistryClient({"url": served.url})  # no cached answers
        assert client.get_versions("restart-a") == [1, 2]
        assert client.get_version("restart-a", 1).schema_id == first
        assert client.get_latest_version("restart-a").schema_id == second
        assert client.get_compatibility("restart-a") == "FULL"
        assert client.register_schema("restart-b", Schema(ORDER_JSON, "JSON")) == second + 1  # no id reused
    finally:
        served.broker.stop()


@contextlib.contextmanager
def standalone_registry(bootstrap: str, workdir: Path) -> Iterator[str]:
    """`kbroker schema-registry` as a process of its own, stopped by PID."""
    with standalone_registries(bootstrap, workdir, 1) as found:
        yield next(iter(found))


@contextlib.contextmanager
def standalone_registries(bootstrap: str, workdir: Path, count: int) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """`count` registry processes by URL; all stopped by PID at the end (a test may stop one sooner)."""
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for _ in range(count):
            port = free_port()
            with open(workdir / f"registry-{port}.log", "ab") as log:
                started[f"http://{HOST}:{port}"] = spawn([
                    sys.executable, "-m", "kbroker", "schema-registry", "--bootstrap-server", bootstrap,
                    "--listen", f"{HOST}:{port}"], log)
        for url, proc in started.items():
            wait_for_registry(url, proc)
        yield started
    finally:
        for proc in started.values():
            stop_process(proc, 10)


def test_standalone_registries_share_one_broker(registry_broker: RegistryBroker, tmp_path: Path,
                                                subject: str) -> None:
    bootstrap = registry_broker.broker.bootstrap_server
    with standalone_registry(bootstrap, tmp_path) as first, standalone_registry(bootstrap, tmp_path) as second:
        schema_id = SchemaRegistryClient({"url": first}).register_schema(subject, Schema(USER_V1, "AVRO"))
        seen = SchemaRegistryClient({"url": second}).get_latest_version(subject)
        assert (seen.schema_id, seen.version) == (schema_id, 1)
        # The in-process registry reads the same topic.
        assert SchemaRegistryClient({"url": registry_broker.url}).get_schema(schema_id).schema_str is not None


def test_concurrent_registrations_on_two_registries_get_unique_ids(tmp_path: Path) -> None:
    """Two standalone registries elect a leader; the other forwards its writes to it, so schemas
    registered at once through both get ids of their own. When the leader stops, the other takes over."""
    broker = BrokerProcess(tmp_path / "broker")
    broker.start()
    try:
        with standalone_registries(broker.bootstrap_server, tmp_path, 2) as registries:
            first, second = registries
            schemas = {f"concurrent-{i}": json.dumps({"type": "record", "name": f"R{i}", "fields": []})
                       for i in range(16)}
            urls = [first, second] * (len(schemas) // 2)

            def register(subject: str, url: str) -> int:
                return SchemaRegistryClient({"url": url}).register_schema(subject, Schema(schemas[subject], "AVRO"))

            with ThreadPoolExecutor(len(schemas)) as pool:
                ids = dict(zip(schemas, pool.map(register, schemas, urls)))
            assert len(set(ids.values())) == len(schemas)
            for url in (first, second):
                client = SchemaRegistryClient({"url": url})
                assert {s: client.get_latest_version(s).schema_id for s in schemas} == ids
            leader, other = sorted(registries)  # the lowest URL is elected while both are members
            stop_process(registries[leader], 10)
            schema_id = SchemaRegistryClient({"url": other}).register_schema("after-leader", Schema('"int"', "AVRO"))
            assert schema_id == max(ids.values()) + 1
    finally:
        broker.stop()


def test_kafkajs_registry_client_registers_and_decodes(registry_broker: RegistryBroker, client: SchemaRegistryClient,
                                                       subject: str) -> None:
    context = SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    python_bytes = AvroSerializer(client, USER_V1)({"name": "from-python", "age": 3}, context)
    answer = kafkajs("registry", {"registry": registry_broker.url, "subject": subject, "schema": USER_V1,
                                  "payload": {"name": "from-kafkajs", "age": 4}, "encoded": b64(python_bytes)})
    assert answer["id"] == client.get_latest_version(subject).schema_id
    assert answer["decoded"] == {"name": "from-python", "age": 3}
    assert AvroDeserializer(client)(unb64(answer["encoded"]), context) == {"name": "from-kafkajs", "age": 4}


def test_serve_without_the_registry_extra_says_so_in_one_line(tmp_path: Path) -> None:
    hide_aiohttp = ("import sys; sys.modules['aiohttp'] = None; from kbroker.cli import main; "
                    "main(['serve', '--ephemeral', '--schema-registry', '127.0.0.1:0'])")
    done = subprocess.run([sys.executable, "-c", hide_aiohttp], capture_output=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "kbroker: the schema registry needs the registry extra (aiohttp is missing): pip install 'kbroker[registry]'"]


def test_serve_stops_with_one_line_when_the_registry_port_is_taken(tmp_path: Path) -> None:
    with contextlib.closing(socket.socket()) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "kbroker", "serve", "--listen", f"{HOST}:{free_port()}",
                               "--ephemeral", "--log-level", "ERROR", "--schema-registry", f"{HOST}:{port}"],
                              capture_output=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kbroker: schema registry on {HOST}:{port}: "), lines
    assert "address already in use" in lines[0]
