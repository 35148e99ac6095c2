"""The operator tools against a live broker, checked by what they print.

Each tool runs as `python -m kbroker <tool>`, a separate process talking TCP to the broker.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient

from brokerproc import free_port
from conftest import unique_topic

TIMEOUT = 60


def kbroker(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbroker", *args], input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT)


def ok(*args: str, stdin: str | None = None) -> str:
    done = kbroker(*args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_topics_create_list_describe_alter_delete(bootstrap: str, request: pytest.FixtureRequest) -> None:
    b = ["--bootstrap-server", bootstrap]
    topic = unique_topic(request)
    assert ok("topics", "--create", "--topic", topic, "--partitions", "2", "--config", "retention.ms=60000", *b) == \
        f"Created topic {topic}.\n"
    assert topic in ok("topics", "--list", *b).splitlines()
    lines = ok("topics", "--describe", "--topic", topic, *b).splitlines()
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: its futures die with it
    found = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=15).topic_id
    bits = (found.get_most_significant_bits() & (2**64 - 1)) << 64 | (found.get_least_significant_bits() & (2**64 - 1))
    topic_id = base64.urlsafe_b64encode(bits.to_bytes(16, "big")).rstrip(b"=").decode()
    assert lines[0].startswith(f"Topic: {topic}\tTopicId: {topic_id}\t")  # Kafka's base64url form of the id
    assert lines[0].endswith("\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=60000")
    assert lines[1:] == [f"\tTopic: {topic}\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: "
                         for p in (0, 1)]  # one node: no eligible leader replicas, as KRaft answers then
    ok("topics", "--alter", "--topic", topic, "--partitions", "3", *b)
    doc = json.loads(ok("topics", "--describe", "--topic", topic, "--output", "json", *b))
    assert doc[0]["partition_count"] == 3 and doc[0]["configs"] == {"retention.ms": "60000"}
    done = kbroker("topics", "--create", "--topic", topic, *b)
    assert done.returncode == 1 and "TOPIC_ALREADY_EXISTS" in done.stderr and len(done.stderr.splitlines()) == 1
    ok("topics", "--delete", "--topic", topic, *b)
    assert topic not in ok("topics", "--list", *b).splitlines()


def test_topics_describe_reports_and_regex_selection(bootstrap: str, request: pytest.FixtureRequest) -> None:
    b = ["--bootstrap-server", bootstrap]
    prefix = unique_topic(request)
    strict, plain = f"{prefix}.strict", f"{prefix}.plain"
    ok("topics", "--create", "--topic", strict, "--partitions", "2", "--config", "min.insync.replicas=2", *b)
    ok("topics", "--create", "--topic", plain, "--partitions", "1", *b)
    regex = f"{prefix}\\..*"
    assert ok("topics", "--list", "--topic", regex, *b).splitlines() == [plain, strict]
    assert ok("topics", "--list", "--topic", f"{strict}, {plain}", *b).splitlines() == [plain, strict]  # , is |
    lines = ok("topics", "--describe", "--topic", regex, *b).splitlines()
    assert [line.split("\t")[0] for line in lines] == [f"Topic: {plain}", "", f"Topic: {strict}", "", ""]
    assert lines[2].endswith("\tConfigs: min.insync.replicas=2")

    def partitions(*report: str) -> list[tuple[str, str]]:
        out = ok("topics", "--describe", "--topic", regex, *report, *b).splitlines()
        assert all(line.startswith("\tTopic: ") for line in out)  # reports print partitions only
        return [(line.split("\t")[1], line.split("\t")[2]) for line in out]

    # one replica in sync everywhere: below min.insync.replicas=2, at the default of 1
    assert partitions("--under-min-isr-partitions") == [(f"Topic: {strict}", "Partition: 0"),
                                                        (f"Topic: {strict}", "Partition: 1")]
    assert partitions("--at-min-isr-partitions") == [(f"Topic: {plain}", "Partition: 0")]
    assert partitions("--under-replicated-partitions") == []
    assert partitions("--unavailable-partitions") == []
    assert partitions("--under-replicated-partitions", "--at-min-isr-partitions") == [(f"Topic: {plain}", "Partition: 0")]
    overrides = ok("topics", "--describe", "--topic", regex, "--topics-with-overrides", *b).splitlines()
    assert len(overrides) == 1 and overrides[0].startswith(f"Topic: {strict}\t")
    doc = json.loads(ok("topics", "--describe", "--topic", regex, "--under-min-isr-partitions", "--output", "json", *b))
    assert [(t["topic"], [p["partition"] for p in t["partitions"]]) for t in doc] == [(strict, [0, 1])]
    assert doc[0]["partitions"][0]["elr"] == [] and doc[0]["partitions"][0]["last_known_elr"] == []

    missing = kbroker("topics", "--describe", "--topic", f"{prefix}-none.*", *b)
    assert missing.returncode == 1 and f"Topic '{prefix}-none.*' does not exist as expected" in missing.stderr
    assert ok("topics", "--describe", "--topic", f"{prefix}-none.*", "--if-exists", *b) == ""
    for bad in (["--describe", "--topic", "(", *b], ["--list", "--under-replicated-partitions", *b],
                ["--describe", "--topics-with-overrides", "--at-min-isr-partitions", *b]):
        assert kbroker("topics", *bad).returncode == 2


def test_configs_describe_and_alter(bootstrap: str, topic_factory) -> None:
    b = ["--bootstrap-server", bootstrap]
    topic = topic_factory()
    entity = ["--entity-type", "topics", "--entity-name", topic]
    assert ok("configs", "--alter", *entity, "--add-config", "retention.ms=1000,cleanup.policy=[compact,delete]", *b) \
        == f"Completed updating config for topic {topic}.\n"
    out = ok("configs", "--describe", *entity, *b).splitlines()
    assert out[0] == f"Dynamic configs for topic {topic} are:"
    assert "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, " \
           "DEFAULT_CONFIG:log.cleanup.policy=delete}" in out
    ok("configs", "--alter", *entity, "--delete-config", "retention.ms", *b)
    doc = json.loads(ok("configs", "--describe", *entity, "--output", "json", *b))
    assert [c["name"] for c in doc[0]["configs"]] == ["cleanup.policy"]
    done = kbroker("configs", "--alter", *entity, "--add-config", "no.such.key=1", *b)
    assert done.returncode == 1 and "INVALID_CONFIG" in done.stderr
    broker = ok("configs", "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1", *b)
    assert "  log.dirs=" in broker and broker.startswith("All configs for broker 1 are:")


def test_get_offsets_and_console_round_trip(bootstrap: str, topic_factory) -> None:
    b = ["--bootstrap-server", bootstrap]
    topic = topic_factory(partitions=2)
    ok("console-producer", "--topic", topic, "--partition", "1", *b, stdin="first\nsecond\nthird\n")
    ok("console-producer", "--topic", topic, "--partition", "0", "--key-separator", ":", "--parse-headers", *b,
       stdin="trace:abc\tk1:v1\n")
    assert ok("get-offsets", "--topic", topic, *b) == f"{topic}:0:1\n{topic}:1:3\n"
    assert ok("get-offsets", "--topic", topic, "--time", "earliest", "--partitions", "1", *b) == f"{topic}:1:0\n"
    future = str(2**50)  # far beyond any record's timestamp
    assert ok("get-offsets", "--topic", topic, "--time", future, *b) == f"{topic}:0:\n{topic}:1:\n"
    out = ok("console-consumer", "--topic", topic, "--partition", "0", "--offset", "earliest", "--max-messages", "1",
             "--print-key", "--print-headers", "--print-partition", "--print-offset", *b)
    assert out == "Partition:0\tOffset:0\ttrace:abc\tk1\tv1\n"
    done = kbroker("console-consumer", "--topic", topic, "--partition", "1", "--offset", "1", "--max-messages", "2", *b)
    assert done.stdout == "second\nthird\n" and "Processed a total of 2 messages" in done.stderr


def test_console_consumer_group_commits_where_it_stopped(bootstrap: str, topic_factory) -> None:
    b = ["--bootstrap-server", bootstrap]
    topic = topic_factory()
    group = f"group-{topic}"
    ok("console-producer", "--topic", topic, *b, stdin="".join(f"m{i}\n" for i in range(5)))
    first = ok("console-consumer", "--topic", topic, "--group", group, "--from-beginning", "--max-messages", "2", *b)
    rest = ok("console-consumer", "--topic", topic, "--group", group, "--timeout-ms", "1500", *b)
    assert (first, rest) == ("m0\nm1\n", "m2\nm3\nm4\n")


def test_console_consumer_leaves_out_aborted_transactions(bootstrap: str, topic_factory) -> None:
    """kbroker's console consumer reads committed records: an aborted transaction's records, which
    the broker returns below the last stable offset, are not printed."""
    from confluent_kafka import Producer

    topic = topic_factory()
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}", "linger.ms": 0})
    producer.init_transactions(15)
    for value, commit in (("kept-1", True), ("dropped", False), ("kept-2", True)):
        producer.begin_transaction()
        producer.produce(topic, value=value.encode(), partition=0)
        producer.flush(15)
        (producer.commit_transaction if commit else producer.abort_transaction)(15)
    out = ok("console-consumer", "--topic", topic, "--from-beginning", "--timeout-ms", "1500",
             "--bootstrap-server", bootstrap)
    assert out == "kept-1\nkept-2\n"


def test_console_producer_keys_follow_kafkas_partitioner(bootstrap: str, topic_factory) -> None:
    from kafka.partitioner.default import murmur2

    b = ["--bootstrap-server", bootstrap]
    topic = topic_factory(partitions=3)
    ok("console-producer", "--topic", topic, "--key-separator", "=", *b, stdin="alpha=1\nbeta=2\ngamma=3\n")
    out = ok("console-consumer", "--topic", topic, "--from-beginning", "--max-messages", "3", "--print-key",
             "--print-partition", *b)
    placed = {line.split("\t")[1]: int(line.split("\t")[0].split(":")[1]) for line in out.splitlines()}
    assert placed == {k: (murmur2(k.encode()) & 0x7FFFFFFF) % 3 for k in ("alpha", "beta", "gamma")}


@pytest.mark.parametrize("args", [
    ["topics", "--list"], ["configs", "--describe", "--entity-type", "topics"], ["get-offsets", "--topic", "x"],
    ["console-consumer", "--topic", "x"],
])
def test_no_broker_is_a_one_line_error(args: list[str]) -> None:
    done = kbroker(*args, "--bootstrap-server", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot connect to broker" in done.stderr


def test_bad_arguments_exit_with_usage_errors(bootstrap: str) -> None:
    done = kbroker("topics", "--alter", "--topic", "x", "--bootstrap-server", bootstrap)
    assert done.returncode == 2 and "--alter needs --partitions" in done.stderr
    done = kbroker("get-offsets", "--topic", "x", "--time", "yesterday", "--bootstrap-server", bootstrap)
    assert done.returncode == 2 and "--time" in done.stderr


def test_every_tool_has_help_with_examples() -> None:
    for tool in ("topics", "configs", "get-offsets", "console-producer", "console-consumer", "dump-log"):
        assert "Examples:" in ok(tool, "--help")
