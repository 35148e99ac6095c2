"""`kbroker groups` against a live broker with a real confluent-kafka consumer group."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from kproto import ErrorCode

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


def consume_and_commit(bootstrap: str, group: str, topic: str, count: int, **config: object) -> Consumer:
    """A member of `group` that has read and committed `count` records; left running. `config`
    adds to the consumer's settings (`group_protocol="consumer"` for a KIP-848 member)."""
    settings = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": "tools-test-client",
                "auto.offset.reset": "earliest", "enable.auto.commit": False}
    settings.update({key.replace("_", "."): value for key, value in config.items()})
    consumer = Consumer(settings)
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


def committed_group(bootstrap: str, topic_factory, request: pytest.FixtureRequest) -> tuple[str, str, Consumer]:
    """A new two-partition topic with 5 records in each, and a running member of a new group that
    has read and committed all ten."""
    topic = topic_factory(partitions=2)
    group = unique_topic(request)
    fill(bootstrap, topic, 5)
    return topic, group, consume_and_commit(bootstrap, group, topic, 10)


def rows(output: str) -> list[list[str]]:
    lines = [line for line in output.splitlines() if line.strip()]
    return [line.split() for line in lines]


def test_groups_list_describe_reset_delete(bootstrap: str, topic_factory, request: pytest.FixtureRequest) -> None:
    topic, group, consumer = committed_group(bootstrap, topic_factory, request)
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


def test_reset_plans_export_and_read_back(bootstrap: str, topic_factory, request: pytest.FixtureRequest,
                                          tmp_path) -> None:
    topic = topic_factory(partitions=2)
    group, other = unique_topic(request), unique_topic(request) + "-b"
    fill(bootstrap, topic, 5)
    for g in (group, other):
        consume_and_commit(bootstrap, g, topic, 10).close()

    exported = ok(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-offset", "2",
                  "--export", "--dry-run")
    assert exported == f"{topic},0,2\n{topic},1,2\n\n"  # as kafka-consumer-groups prints it, blank line too
    both = ok(bootstrap, "--reset-offsets", "--group", group, "--group", other, "--topic", f"{topic}:1",
              "--to-earliest", "--export", "--dry-run")
    assert both == f"{group},{topic},1,0\n{other},{topic},1,0\n\n"

    plan = tmp_path / "plan.csv"
    plan.write_text(f"{topic},0,3\n{topic},1,100\n")  # 100 is past the log end: kept at 5
    table = rows(ok(bootstrap, "--reset-offsets", "--group", group, "--from-file", str(plan), "--execute"))
    assert table == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [group, topic, "0", "3"], [group, topic, "1", "5"]]
    doc = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [r["current_offset"] for r in doc[0]["offsets"]] == [3, 5]

    plan.write_text(both)  # the two-group export, read back for each group in it
    ok(bootstrap, "--reset-offsets", "--group", group, "--group", other, "--from-file", str(plan), "--execute")
    for g in (group, other):
        doc = json.loads(ok(bootstrap, "--describe", "--group", g, "--output", "json"))
        assert [r["current_offset"] for r in doc[0]["offsets"]] == [3 if g == group else 5, 0]

    missing = kbroker(bootstrap, "--reset-offsets", "--group", "nobody", "--group", group, "--from-file", str(plan),
                      "--dry-run")
    assert missing.returncode == 1 and "No reset plan for group nobody found." in missing.stderr
    plan.write_text("not,a,plan,at,all\n")
    bad = kbroker(bootstrap, "--reset-offsets", "--group", group, "--from-file", str(plan), "--dry-run")
    assert bad.returncode == 2 and "line 1" in bad.stderr


def test_delete_offsets(bootstrap: str, topic_factory, request: pytest.FixtureRequest) -> None:
    topic, group, consumer = committed_group(bootstrap, topic_factory, request)
    try:
        refused = kbroker(bootstrap, "--delete-offsets", "--group", group, "--topic", topic)
        assert refused.returncode == 1
        assert rows(refused.stdout)[0][:2] == ["Error:", "Encountered"]
        assert [r[:3] for r in rows(refused.stdout)[1:]] == [
            ["TOPIC", "PARTITION", "STATUS"], [topic, "0", "Error:"], [topic, "1", "Error:"]]
        assert "GROUP_SUBSCRIBED_TO_TOPIC" in refused.stdout
    finally:
        consumer.close()

    assert ok(bootstrap, "--delete-offsets", "--group", group, "--topic", f"{topic}:0") == (
        f"Request succeeded for deleting offsets from group {group}.\n\n"
        f"{'TOPIC'.ljust(max(15, len(topic)))} PARTITION  STATUS\n"
        f"{topic.ljust(15)} 0          Successful\n")
    doc = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [(r["partition"], r["current_offset"]) for r in doc[0]["offsets"]] == [(1, 5)]

    unknown = kbroker(bootstrap, "--delete-offsets", "--group", group, "--topic", topic, "--topic", "no-such-topic",
                      "--output", "json")
    assert unknown.returncode == 1 and "no-such-topic" in unknown.stderr
    assert json.loads(unknown.stdout)["partitions"] == [
        {"topic": "no-such-topic", "partition": None,
         "status": "Error: " + ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.description + " (UNKNOWN_TOPIC_OR_PARTITION)"},
        {"topic": topic, "partition": 0, "status": "Successful"},
        {"topic": topic, "partition": 1, "status": "Successful"}]
    gone = kbroker(bootstrap, "--delete-offsets", "--group", "no-such-group", "--topic", topic)
    assert gone.returncode == 1 and "GROUP_ID_NOT_FOUND" in gone.stderr
    usage = kbroker(bootstrap, "--delete-offsets", "--group", group)
    assert usage.returncode == 2 and "--topic" in usage.stderr


def leader_epochs(bootstrap: str, topic: str) -> dict[int, int]:
    from kbroker.tools.client import Client

    with Client(bootstrap) as client:
        return {p.partition_index: p.leader_epoch for p in client.metadata([topic]).topics[0].partitions}


def test_verbose_views_of_a_classic_and_a_kip848_group(bootstrap: str, topic_factory,
                                                       request: pytest.FixtureRequest) -> None:
    topic, classic, classic_member = committed_group(bootstrap, topic_factory, request)
    kip848 = unique_topic(request) + "-kip848"
    kip848_consumer = consume_and_commit(bootstrap, kip848, topic, 10, client_id="tools-test-kip848",
                                         group_protocol="consumer")
    try:
        epochs = leader_epochs(bootstrap, topic)
        table = rows(ok(bootstrap, "--describe", "--group", classic, "--offsets", "--verbose"))
        assert table[0] == ["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                            "CONSUMER-ID", "HOST", "CLIENT-ID"]
        assert [r[:7] for r in table[1:]] == [[classic, topic, str(p), str(epochs[p]), "5", "5", "0"] for p in (0, 1)]

        members = rows(ok(bootstrap, "--describe", "--group", classic, "--members", "--verbose"))
        assert members[0] == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
                              "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]
        assert members[1][0] == classic and members[1][3:] == ["tools-test-client", "2", "-", f"{topic}:0,1", "-", "-"]
        state = rows(ok(bootstrap, "--describe", "--group", classic, "--state", "--verbose"))
        assert state[0] == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH",
                            "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS"]
        assert state[1][0] == classic and state[1][3:] == ["range", "Stable", "-", "-", "1"]

        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: its futures die with it
        described = admin.describe_consumer_groups([kip848], request_timeout=10)[kip848].result(timeout=15)
        member = described.members[0]
        members = rows(ok(bootstrap, "--describe", "--group", kip848, "--members", "--verbose"))
        assert members[1][:5] == [kip848, member.member_id, member.host, member.client_id, "2"]
        current_epoch, current, target_epoch, target = members[1][5:]
        assert (current, target) == (f"{topic}:0,1", f"{topic}:0,1") and int(current_epoch) > 0
        state = rows(ok(bootstrap, "--describe", "--group", kip848, "--state", "--verbose"))
        assert state[1][0] == kip848 and state[1][3:5] == [described.partition_assignor, "Stable"]
        assert state[1][5:] == [current_epoch, target_epoch, "1"]  # one stable member: every epoch is the group's
        doc = json.loads(ok(bootstrap, "--describe", "--group", kip848, "--members", "--output", "json"))
        assert doc[0]["members"][0]["target_assignment"] == {topic: [0, 1]}

        listed = rows(ok(bootstrap, "--list", "--type", "--state"))
        assert listed[0] == ["GROUP", "TYPE", "STATE"]
        assert [classic, "Classic", "Stable"] in listed and [kip848, "Consumer", "Stable"] in listed
        only = [r[0] for r in rows(ok(bootstrap, "--list", "--type", "consumer"))]
        assert kip848 in only and classic not in only
        assert rows(ok(bootstrap, "--list", "--state", "Empty,PreparingRebalance"))[0] == ["GROUP", "STATE"]
        assert not {classic, kip848} & {r[0] for r in rows(ok(bootstrap, "--list", "--state", "empty"))}
    finally:
        classic_member.close()
        kip848_consumer.close()

    done = kbroker(bootstrap, "--describe", "--group", classic, "--members")
    assert done.returncode == 0 and done.stdout == ""  # no members: no table
    assert done.stderr == f"\nConsumer group '{classic}' has no active members.\n"
    assert {classic, kip848} <= {r[0] for r in rows(ok(bootstrap, "--list", "--state", "empty"))}


def test_reset_to_current_keeps_committed_offsets(bootstrap: str, topic_factory,
                                                  request: pytest.FixtureRequest) -> None:
    from confluent_kafka import TopicPartition

    topic = topic_factory(partitions=3)
    group = unique_topic(request)
    fill(bootstrap, topic, 5)  # partitions 0 and 1; partition 2 stays empty
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    committer.commit(offsets=[TopicPartition(topic, 0, 100), TopicPartition(topic, 1, 2)], asynchronous=False)
    committer.close()

    plan = rows(ok(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-current", "--dry-run"))
    # committed offsets stay as they are, even past the log end; partition 2 without one gets its log end
    assert plan[1:] == [[group, topic, "0", "100"], [group, topic, "1", "2"], [group, topic, "2", "0"]]
    ok(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-current", "--execute")
    doc = json.loads(ok(bootstrap, "--describe", "--group", group, "--output", "json"))
    assert [(r["partition"], r["current_offset"]) for r in doc[0]["offsets"]] == [(0, 100), (1, 2), (2, 0)]
    both = kbroker(bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-current", "--to-latest")
    assert both.returncode == 2 and "exactly one of" in both.stderr
