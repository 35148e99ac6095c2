"""`kbroker groups` against a live broker with a real confluent-kafka consumer group."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer

from conftest import unique_topic

TIMEOUT = 60


def kbroker(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbroker", "groups", "--bootstrap-server", bootstrap, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)


def ok(bootstrap: str, *args: str) -> str:
    done = kbroker(bootstrap, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fill(bootstrap: str, topic: str, per_partition: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition in (0, 1):
        for i in range(per_partition):
            producer.produce(topic, value=b"v%d" % i, partition=partition)
    assert producer.flush(15) == 0


def consume_and_commit(bootstrap: str, group: str, topic: str, count: int) -> Consumer:
    """A member of `group` that has read and committed `count` records; left running."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "tools-test-client",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < count:
        assert time.monotonic() < deadline, f"read {seen} of {count}"
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen += 1
    consumer.commit(asynchronous=False)
    return consumer


def rows(output: str) -> list[list[str]]:
    lines = [line for line in output.splitlines() if line.strip()]
    return [line.split() for line in lines]


def test_groups_list_describe_reset_delete(bootstrap: str, topic_factory, request: pytest.FixtureRequest) -> None:
    topic = topic_factory(partitions=2)
    group = unique_topic(request)
    fill(bootstrap, topic, 5)
    consumer = consume_and_commit(bootstrap, group, topic, 10)
    try:
        assert group in ok(bootstrap, "--list").splitlines()
        table = rows(ok(bootstrap, "--describe", "--group", group))
        assert table[0] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                            "CONSUMER-ID", "HOST", "CLIENT-ID"]
        assert [r[:6] for r in table[1:]] == [[group, topic, "0", "5", "5", "0"], [group, topic, "1", "5", "5", "0"]]
        assert all(r[6].startswith("tools-test-client") and r[8] == "tools-test-client" for r in table[1:])
        members = rows(ok(bootstrap, "--describe", "--group", group, "--members"))
        assert members[0] == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
        assert members[1][0] == group and members[1][3:] == ["tools-test-client", "2"]
        state = rows(ok(bootstrap, "--describe", "--group", group, "--state"))
        assert state[1][0] == group and state[1][-2:] == ["Stable", "1"]
        refused = kbroker(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
        assert refused.returncode == 1
        assert "can only be reset if the group" in refused.stderr and "Stable" in refused.stderr
    finally:
        consumer.close()

    fill(bootstrap, topic, 2)  # log end 7 in both partitions, committed 5
    table = rows(ok(bootstrap, "--describe", "--group", group))
    assert [r[:6] for r in table if r[0] == group] == [[group, topic, "0", "5", "7", "2"], [group, topic, "1", "5", "7", "2"]]
    assert all(r[6:] == ["-", "-", "-"] for r in table if r[0] == group)

    plan = rows(ok(bootstrap, "--reset-offsets", "--group", group, "--topic", f"{topic}:1", "--shift-by", "-3",
                   "--dry-run"))
    assert plan == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [group, topic, "1", "2"]]
    doc = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [r["current_offset"] for r in doc[0]["offsets"]] == [5, 5]  # a dry run changes nothing

    ok(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-offset", "100", "--execute")
    doc = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [(r["current_offset"], r["lag"]) for r in doc[0]["offsets"]] == [(7, 0), (7, 0)]  # kept within the log
    plan = json.loads(ok(bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-earliest",
                         "--execute", "--output", "json"))
    assert [(r["partition"], r["new_offset"]) for r in plan] == [(0, 0), (1, 0)]
    plan = json.loads(ok(bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--by-duration", "PT1H",
                         "--dry-run", "--output", "json"))
    assert [r["new_offset"] for r in plan] == [0, 0]  # every record is younger than an hour
    future = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    plan = json.loads(ok(bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-datetime", future,
                         "--dry-run", "--output", "json"))
    assert [r["new_offset"] for r in plan] == [7, 7]  # after the last record: the log end

    assert ok(bootstrap, "--delete", "--group", group) == \
        f"Deletion of requested consumer groups ('{group}') was successful.\n"
    assert group not in ok(bootstrap, "--list").splitlines()
    missing = kbroker(bootstrap, "--describe", "--group", group)
    assert missing.returncode == 1 and f"Consumer group '{group}' does not exist." in missing.stderr
