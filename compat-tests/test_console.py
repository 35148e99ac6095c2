"""The web console in a real browser: headless Chromium loads every page against a real broker
with data, a group's lag matches `kbroker groups --describe`, write actions need --console-write,
and hostile names and values are shown as text, never run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Producer, ShareConsumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brokerproc import BrokerProcess
from conftest import create_topic
from consoleproc import ConsoleProcess, chromium, screenshot
from kbroker.console.topics import PAGE_SIZE
from kbroker.testing.runners import free_port
from kbroker.tools.client import Client
from kbroker.tools.scram_users import alter_users

HOSTILE = "<script>window.pwned=1</script>"
PAGE_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def data(shared_broker: BrokerProcess) -> dict[str, str]:
    """A two-partition topic with a config set, text, JSON and hostile records, and an inactive
    group (hostile name) that has committed 3 of partition 0's 5 records and 1 of partition 1's 3."""
    bootstrap = shared_broker.bootstrap_server
    topic = create_topic(bootstrap, f"console-{uuid.uuid4().hex[:8]}", 2, {"retention.ms": "123456789"})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producer.produce(topic, value=b"plain text", key=b"k0", partition=0)
    producer.produce(topic, value=json.dumps({"order": 7, "items": ["a"]}).encode(), partition=0)
    producer.produce(topic, value=HOSTILE.encode(), key=b"<b>key</b>", partition=0,
                     headers=[("trace", b'<img src=x onerror="window.pwned=2">')])
    for i in range(2):
        producer.produce(topic, value=b"p0-%d" % i, partition=0)
    for i in range(3):
        producer.produce(topic, value=b"p1-%d" % i, partition=1)
    assert producer.flush(15) == 0
    group = commit(bootstrap, f"console-<script>window.pwned=3</script>-{uuid.uuid4().hex[:6]}", {topic: [3, 1]})
    return {"topic": topic, "group": group, "bootstrap": bootstrap}


def commit(bootstrap: str, group: str, offsets: dict[str, list[int]]) -> str:
    """Commit these offsets (by partition) for `group` and leave it without members."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, p, o) for topic, by_partition in offsets.items()
                             for p, o in enumerate(by_partition)], asynchronous=False)
    consumer.close()
    return group


def submit(page, form: str, **fields: str) -> None:
    """Fill the form's fields by name (choosing in a select) and send it."""
    for name, value in fields.items():
        control = page.locator(f"{form} [name={name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    page.locator(form).get_by_role("button").click()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from chromium()


@pytest.fixture(scope="module")
def read_only(shared_broker: BrokerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    console = ConsoleProcess.for_broker(shared_broker.bootstrap_server, tmp_path_factory.mktemp("console-ro")).start()
    yield console
    console.stop()


@pytest.fixture(scope="module")
def writable(shared_broker: BrokerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    console = ConsoleProcess.for_broker(shared_broker.bootstrap_server, tmp_path_factory.mktemp("console-rw"),
                                        "--console-write").start()
    yield console
    console.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def open_page(page, console: ConsoleProcess, path: str, name: str) -> None:
    response = page.goto(console.url.rstrip("/") + path)
    assert response is not None and response.status == 200, (path, response and response.status)
    screenshot(page, name)


def test_every_page_from_the_start_page(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    open_page(page, read_only, "/", "start")
    for link, heading in (("Cluster", "Cluster"), ("Topics", "Topics"), ("Consumer groups", "Consumer groups"),
                          ("Share groups", "Share groups"), ("ACLs and SCRAM users", "ACLs")):
        page.goto(read_only.url)
        page.locator("main").get_by_role("link", name=link).click()
        assert page.locator("h1").first.inner_text() == heading
        screenshot(page, f"page-{link}")
    page.goto(read_only.url + "cluster")
    assert page.locator("#broker-count").inner_text() == "1"
    assert page.locator("#brokers tbody tr").count() == 1
    page.goto(read_only.url + "security")
    assert "no authorizer" in page.locator("#acls-note").inner_text()
    assert page.get_by_role("link", name="Schemas").count() == 0  # no registry given: no page
    assert read_only.get("/schemas")[0] == 404


def test_share_groups(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    group = f"console-share-{uuid.uuid4().hex[:6]}"
    member = ShareConsumer({"bootstrap.servers": data["bootstrap"], "group.id": group})
    member.subscribe([data["topic"]])
    try:
        deadline = time.monotonic() + 30
        while group not in read_only.get("/share-groups")[1]:  # a member joins on its first poll
            assert time.monotonic() < deadline, "the share group never showed"
            member.poll(0.2)
        open_page(page, read_only, "/share-groups", "share-groups")
        section = page.locator("section.share-group", has_text=group)
        assert "1 members" in section.inner_text()
        assert data["topic"] in section.locator("tbody tr").inner_text()
    finally:
        member.close()


def test_topics_are_paged(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    prefix = f"paged-{uuid.uuid4().hex[:6]}-"
    admin = AdminClient({"bootstrap.servers": data["bootstrap"]})
    names = [f"{prefix}{i:03d}" for i in range(PAGE_SIZE + 1)]
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names], operation_timeout=30).values():
        future.result(timeout=60)
    open_page(page, read_only, f"/topics?q={prefix}", "topics-paged")
    assert page.locator("#topic-total").inner_text() == f"{PAGE_SIZE + 1} topics, page 1 of 2"
    assert page.locator("#topics tbody tr").count() == PAGE_SIZE
    page.locator("a[rel=next]").click()
    assert page.locator("#topics tbody tr").all_inner_texts()[0].startswith(names[-1])


@pytest.mark.broker_config({"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                            "super.users": "User:ANONYMOUS"})
def test_acls_and_scram_users(page, kafka_broker: BrokerProcess, tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap_server
    added = subprocess.run([sys.executable, "-m", "kbroker", "acls", "--bootstrap-server", bootstrap, "--add",
                            "--allow-principal", "User:alice", "--operation", "Read", "--topic", "acl-shown"],
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    with Client(bootstrap) as client:
        alter_users(client, "alice", {"SCRAM-SHA-256": "iterations=8192,password=secret"}, [])
    console = ConsoleProcess.for_broker(bootstrap, tmp_path / "console").start()
    try:
        open_page(page, console, "/security", "security")
        acl = page.locator("#acls tbody tr", has_text="acl-shown").inner_text()
        assert "User:alice" in acl and "READ" in acl.upper()
        assert "SCRAM-SHA-256 (8192 iterations)" in page.locator("#users tbody tr", has_text="alice").inner_text()
    finally:
        console.stop()


def test_topic_pages(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    topic = data["topic"]
    open_page(page, read_only, f"/topics?q={topic}", "topics")
    row = page.locator("#topics tbody tr", has_text=topic)
    assert row.locator("td").nth(1).inner_text() == "2"
    assert row.locator("td").nth(4).inner_text() == "8"
    row.get_by_role("link", name=topic).click()
    assert page.locator("#topic-name").inner_text() == topic
    assert page.locator("#record-count").inner_text() == "8"
    assert page.locator("#partitions tbody tr").count() == 2
    retention = page.locator('#configs tr[data-config="retention.ms"]')
    assert "123456789" in retention.inner_text() and "set" in retention.inner_text()
    screenshot(page, "topic")


def test_records_as_text_json_and_hex_and_seek(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    topic = data["topic"]
    open_page(page, read_only, f"/records?topic={topic}&partition=0", "records-text")
    values = page.locator("#records pre.value").all_inner_texts()
    assert values == ["plain text", '{"order": 7, "items": ["a"]}', HOSTILE, "p0-0", "p0-1"]
    open_page(page, read_only, f"/records?topic={topic}&partition=0&format=json", "records-json")
    assert page.locator("#records pre.value").nth(1).inner_text() == json.dumps({"order": 7, "items": ["a"]}, indent=2)
    open_page(page, read_only, f"/records?topic={topic}&partition=0&format=hex&offset=3&limit=1", "records-hex")
    assert page.locator("#records pre.value").all_inner_texts() == [b"p0-0".hex(" ")]
    page.goto(read_only.url + f"records?topic={topic}&partition=0&time=2000-01-01T00:00:00")
    assert page.locator("#records tr.record").count() == 5
    page.goto(read_only.url + f"records?topic={topic}&partition=0&time=2999-01-01T00:00:00")
    assert page.locator("#records tr.record").count() == 0


def test_records_of_aborted_transactions_are_left_out(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    """Read as read_committed: the aborted transaction's records (below the last stable offset, so
    the broker returns them) are not shown, the committed ones around it are."""
    topic = create_topic(data["bootstrap"], f"console-txn-{uuid.uuid4().hex[:6]}", 1)
    producer = Producer({"bootstrap.servers": data["bootstrap"], "transactional.id": f"console-{uuid.uuid4().hex[:6]}",
                         "linger.ms": 0})
    producer.init_transactions(15)
    for value, commit in ((b"committed-before", True), (b"aborted-1", False), (b"committed-after", True)):
        producer.begin_transaction()
        producer.produce(topic, value=value, partition=0)
        if value == b"aborted-1":
            producer.produce(topic, value=b"aborted-2", partition=0)
        producer.flush(15)
        (producer.commit_transaction if commit else producer.abort_transaction)(15)
    open_page(page, read_only, f"/records?topic={topic}&partition=0", "records-after-abort")
    assert page.locator("#records pre.value").all_inner_texts() == ["committed-before", "committed-after"]


def test_hostile_names_and_values_are_shown_escaped(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    topic, group = data["topic"], data["group"]
    open_page(page, read_only, f"/records?topic={topic}&partition=0", "hostile-records")
    assert HOSTILE in page.locator("#records").inner_text()
    assert '<img src=x onerror="window.pwned=2">' in page.locator("#records").inner_text()
    assert page.locator("#records script, #records img, #records b").count() == 0
    page.goto(read_only.url + "groups")
    page.get_by_role("link", name=group).click()
    assert page.locator("#group-id").inner_text() == group
    screenshot(page, "hostile-group")
    assert page.evaluate("window.pwned") is None


def test_group_lag_matches_kbroker_groups(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    tool = subprocess.run([sys.executable, "-m", "kbroker", "groups", "--bootstrap-server", data["bootstrap"],
                           "--describe", "--group", data["group"], "--output", "json"],
                          capture_output=True, text=True, timeout=60)
    assert tool.returncode == 0, tool.stderr
    expected = {f"{r['topic']}-{r['partition']}": str(r["lag"]) for r in json.loads(tool.stdout)[0]["offsets"]}
    assert expected == {f"{data['topic']}-0": "2", f"{data['topic']}-1": "2"}
    open_page(page, read_only, "/group?" + urllib.parse.urlencode({"id": data["group"]}), "group")
    rows = page.locator("#offsets tbody tr")
    shown = {rows.nth(i).get_attribute("data-partition"): rows.nth(i).locator("td.lag").inner_text()
             for i in range(rows.count())}
    assert shown == expected
    assert page.locator("#total-lag").inner_text() == "4"
    page.wait_for_function("document.getElementById('lag-chart').dataset.points > 0")
    assert page.locator("#lag-chart canvas").count() == 1
    screenshot(page, "group-with-chart")


def test_live_tail_adds_new_records(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    topic = data["topic"]
    open_page(page, read_only, f"/records?topic={topic}&partition=1&tail=1", "tail-before")
    assert page.locator("#records tr.record").count() == 3
    producer = Producer({"bootstrap.servers": data["bootstrap"], "linger.ms": 0})
    producer.produce(topic, value=b"arrived while watching", partition=1)
    assert producer.flush(15) == 0
    page.locator("#records pre.value", has_text="arrived while watching").wait_for()
    screenshot(page, "tail-after")
    assert page.locator("#records tr.record").count() == 4


WRITES = [("/topics/create", {"name": "made-by-console"}),
          ("/produce", {"topic": "made-by-console", "value": "x"}),
          ("/group/reset", {"group": "nobody", "to": "earliest"}),
          ("/records/delete", {"topic": "made-by-console", "partition": "0", "before": "-1"})]


@pytest.mark.parametrize("path,fields", WRITES, ids=[w[0] for w in WRITES])
def test_writes_are_refused_when_read_only(read_only: ConsoleProcess, data: dict[str, str], path: str,
                                           fields: dict[str, str]) -> None:
    status, body = read_only.post(path, fields)
    assert status == 403 and "--console-write" in body
    assert read_only.get("/topic?name=made-by-console")[0] == 404


def test_read_only_pages_offer_no_write_forms(page, read_only: ConsoleProcess, data: dict[str, str]) -> None:
    for path in ("/topics", f"/topic?name={data['topic']}", f"/records?topic={data['topic']}"):
        page.goto(read_only.url.rstrip("/") + path)
        assert page.locator("form[method=post]").count() == 0


def test_writes_from_another_site_are_refused(writable: ConsoleProcess) -> None:
    status, _ = writable.post("/topics/create", {"name": "cross-site"}, {"Origin": "http://evil.example"})
    assert status == 403
    status, _ = writable.post("/topics/create", {"name": "cross-site"}, {"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    assert writable.get("/topic?name=cross-site")[0] == 404


def test_write_actions_with_console_write(page, writable: ConsoleProcess, data: dict[str, str]) -> None:
    name = f"console-made-{uuid.uuid4().hex[:6]}"
    open_page(page, writable, "/topics", "write-topics")
    submit(page, "#create-topic", name=name, partitions="2", configs="cleanup.policy=compact")
    assert page.locator("#topic-name").inner_text() == name
    assert page.locator("#partitions tbody tr").count() == 2
    assert "compact" in page.locator('#configs tr[data-config="cleanup.policy"]').inner_text()

    page.locator("#records-link").click()
    submit(page, "#produce", partition="1", key="the-key", headers="source=console", value='{"made": "in a browser"}')
    assert "produced a record" in page.locator("#message").inner_text()
    assert page.locator("#records pre.value").all_inner_texts() == ['{"made": "in a browser"}']
    screenshot(page, "write-produced")

    page.goto(writable.url + "topic?name=" + name)
    submit(page, "#delete-records", partition="1", before="-1")
    assert "before offset 1" in page.locator("#message").inner_text()
    assert page.locator("#record-count").inner_text() == "0"


def test_reset_offsets_with_console_write(page, writable: ConsoleProcess, shared_broker: BrokerProcess) -> None:
    topic = create_topic(shared_broker.bootstrap_server, f"console-reset-{uuid.uuid4().hex[:6]}", 1)
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap_server, "linger.ms": 0})
    for i in range(4):
        producer.produce(topic, value=b"%d" % i, partition=0)
    assert producer.flush(15) == 0
    group = f"console-reset-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({"bootstrap.servers": shared_broker.bootstrap_server, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    consumer.close()
    open_page(page, writable, f"/group?id={group}", "reset-before")
    assert page.locator("#total-lag").inner_text() == "0"
    submit(page, "#reset-offsets", to="offset", value="1")
    assert "offsets reset" in page.locator("#message").inner_text()
    assert page.locator("#total-lag").inner_text() == "3"
    screenshot(page, "reset-after")


AVRO_USER = json.dumps({"type": "record", "name": "User", "fields": [
    {"name": "name", "type": "string"}, {"name": "age", "type": "int"}]})
JSON_ORDER = json.dumps({"type": "object", "properties": {"order": {"type": "integer"}}})


def test_records_decoded_through_the_built_in_schema_registry(page, tmp_path: Path) -> None:
    """Avro and JSON Schema values produced by confluent-kafka's serializers through `serve
    --schema-registry` are shown as JSON with their subject and id; an id the registry does not know
    is shown in hex, saying so."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    port, registry_port = free_port(), free_port()
    serving = ConsoleProcess(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
                              "--topic", "users", "--schema-registry", f"127.0.0.1:{registry_port}",
                              "--console", "127.0.0.1:0"], tmp_path / "serve.log").start()
    try:
        client = SchemaRegistryClient({"url": f"http://127.0.0.1:{registry_port}"})
        context = SerializationContext("users", MessageField.VALUE)
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "linger.ms": 0})
        avro_value = AvroSerializer(client, AVRO_USER)({"name": "<b>ada</b>", "age": 36}, context)
        json_value = JSONSerializer(JSON_ORDER, client)({"order": 7}, SerializationContext("orders", MessageField.VALUE))
        unknown = b"\x00\x00\x00\x03\xe7payload"
        for value in (avro_value, json_value, unknown):
            producer.produce("users", value=value, partition=0)
        assert producer.flush(15) == 0
        avro_id, json_id = (int.from_bytes(v[1:5], "big") for v in (avro_value, json_value))

        open_page(page, serving, "/records?topic=users&partition=0", "records-schema-registry")
        values = page.locator("#records pre.value").all_inner_texts()
        labels = page.locator("#records small.schema").all_inner_texts()
        assert json.loads(values[0]) == {"name": "<b>ada</b>", "age": 36}
        assert labels[0] == f"avro users-value v1 (id {avro_id})"
        assert json.loads(values[1]) == {"order": 7} and labels[1] == f"json orders-value v1 (id {json_id})"
        assert values[2] == unknown.hex(" ") and labels[2] == "schema id 999 is unknown to the registry"
        assert page.locator("#records b").count() == 0
    finally:
        serving.stop()


def test_serve_with_console(tmp_path: Path) -> None:
    """`kbroker serve --console` serves the console from the broker's own process and event loop."""
    serving = ConsoleProcess(["serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data"),
                              "--topic", "served:3", "--console", "127.0.0.1:0"], tmp_path / "serve.log").start()
    try:
        status, body = serving.get("/topic?name=served")
        assert status == 200 and 'id="topic-name">served<' in body
        status, body = serving.get("/cluster")
        assert status == 200 and 'id="broker-count">1<' in body
        assert serving.post("/topics/create", {"name": "nope"})[0] == 403
    finally:
        serving.stop()
    assert serving.proc is not None and serving.proc.returncode == 0
