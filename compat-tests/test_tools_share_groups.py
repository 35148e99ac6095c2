"""`kbroker share-groups` against a live broker with a confluent-kafka ShareConsumer: kafka-share-groups'
columns, and resetting, deleting offsets and deleting an emptied group."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from click.testing import CliRunner, Result
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kbroker.tools.share_groups import share_groups

WAIT_S = 30


def kbroker(bootstrap: str, *args: str) -> Result:
    """The tool in this process (the entry point `kbroker share-groups` runs), stdout and stderr apart."""
    return CliRunner().invoke(share_groups, ["--bootstrap-server", bootstrap, *args])


def ok(bootstrap: str, *args: str) -> str:
    done = kbroker(bootstrap, *args)
    assert done.exit_code == 0, done.stderr + done.stdout
    return done.stdout


def header_and_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


@pytest.fixture
def live(bootstrap: str, topic_factory):
    """A share group reading a new topic of 5 records from the start, with one member (implicit
    acknowledgement: each poll accepts what the previous one gave)."""
    topic, group = topic_factory(), f"share-tool-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        producer.produce(topic, b"v%d" % i, partition=0)
    assert producer.flush(WAIT_S) == 0
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=WAIT_S)
    consumer = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "share-tool-client"})
    consumer.subscribe([topic])
    yield topic, group, consumer
    consumer.close()


def wait_started(bootstrap: str, group: str, consumer: ShareConsumer) -> None:
    """Until the member joined and fetched (before its first poll the group does not exist yet)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        consumer.poll(0.2)
        done = kbroker(bootstrap, "--describe", "--group", group)
        if done.exit_code == 0 and "START-OFFSET" in done.stdout:
            return
        assert time.monotonic() < deadline, "the group never fetched"


def test_describe_views_have_kafkas_columns(bootstrap: str, live) -> None:
    topic, group, consumer = live
    wait_started(bootstrap, group, consumer)
    [header, row] = header_and_rows(ok(bootstrap, "--describe", "--group", group))
    assert header == ["GROUP", "TOPIC", "PARTITION", "START-OFFSET", "LAG"]
    assert row[:3] == [group, topic, "0"]
    [header, row] = header_and_rows(ok(bootstrap, "--describe", "--group", group, "--offsets", "--verbose"))
    assert header == ["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "START-OFFSET", "LAG"]
    [header, row] = header_and_rows(ok(bootstrap, "--describe", "--group", group, "--members"))
    assert header == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]
    assert (row[0], row[3], row[4], row[5]) == (group, "share-tool-client", "1", f"{topic}:0")
    [header, _] = header_and_rows(ok(bootstrap, "--describe", "--group", group, "--members", "--verbose"))
    assert header == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "MEMBER-EPOCH", "ASSIGNMENT"]
    [header, row] = header_and_rows(ok(bootstrap, "--describe", "--group", group, "--state"))
    assert header == ["GROUP", "COORDINATOR", "(ID)", "STATE", "#MEMBERS"]
    assert (row[0], row[-2], row[-1]) == (group, "Stable", "1")
    [header, _] = header_and_rows(ok(bootstrap, "--describe", "--group", group, "--state", "--verbose"))
    assert header == ["GROUP", "COORDINATOR", "(ID)", "STATE", "GROUP-EPOCH", "ASSIGNMENT-EPOCH", "#MEMBERS"]
    listed = header_and_rows(ok(bootstrap, "--list", "--state"))
    assert listed[0] == ["GROUP", "STATE"] and [group, "Stable"] in listed
    assert group in ok(bootstrap, "--list").split()


def test_lag_counts_what_the_group_has_not_finished(bootstrap: str, live) -> None:
    topic, group, consumer = live
    taken = []
    deadline = time.monotonic() + WAIT_S
    while len(taken) < 5:
        taken += [m for m in consumer.poll(0.5) or [] if m.error() is None]
        assert time.monotonic() < deadline
    consumer.commit_sync(WAIT_S)
    [doc] = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [(r["topic"], r["start_offset"], r["lag"]) for r in doc["offsets"]] == [(topic, 5, 0)]


def test_reset_delete_offsets_and_delete_an_emptied_group(bootstrap: str, live) -> None:
    topic, group, consumer = live
    wait_started(bootstrap, group, consumer)
    refused = kbroker(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
    assert refused.exit_code != 0 and f"Share group '{group}' is not empty." in refused.stdout + refused.stderr
    consumer.close()
    deadline = time.monotonic() + WAIT_S
    while "Empty" not in ok(bootstrap, "--describe", "--group", group, "--state"):
        assert time.monotonic() < deadline, "the member never left"
        time.sleep(0.2)
    planned = header_and_rows(ok(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest",
                                 "--execute"))
    assert planned == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [group, topic, "0", "0"]]
    [_, row] = header_and_rows(ok(bootstrap, "--describe", "--group", group))
    assert (row[3], row[4]) == ("0", "5")
    deleted = header_and_rows(ok(bootstrap, "--delete-offsets", "--group", group, "--topic", topic))
    assert deleted == [["TOPIC", "STATUS"], [topic, "Successful"]]
    again = kbroker(bootstrap, "--delete-offsets", "--group", group, "--topic", topic)
    assert again.exit_code == 1
    assert header_and_rows(again.stdout)[1] == [topic, "Error:", "There", "is", "no", "offset", "information", "to",
                                                "delete."]
    assert ok(bootstrap, "--delete", "--group", group).strip() == \
        f"Deletion of requested share groups ('{group}') was successful."
    assert group not in ok(bootstrap, "--list").split()
