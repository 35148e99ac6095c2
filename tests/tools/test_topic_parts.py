"""Pieces of `kbroker topics --describe` that need no broker: the lines, the reports, --topic."""

from __future__ import annotations

from uuid import UUID

import click
import pytest

from kbroker.tools.topic_describe import Partition, Topic, partition_line, reported, topic_doc, topic_line
from kbroker.tools.topics import topic_filter

TOPIC_ID = UUID("5f2b7f0c-3c1f-4a57-9a86-3f3c2b0c4e11")


def test_a_partition_without_leader_or_elr_reads_as_kafka_prints_it() -> None:
    topic = Topic("t", TOPIC_ID, [Partition(0, None, [1, 2], [2], None, None), Partition(1, 2, [2, 1], [2, 1], [1], [])],
                  {"retention.ms": "60000", "min.insync.replicas": "2"}, 2)
    doc = topic_doc(topic, topic.partitions)
    assert topic_line(doc) == ("Topic: t\tTopicId: Xyt_DDwfSleahj88KwxOEQ\tPartitionCount: 2\tReplicationFactor: 2\t"
                               "Configs: retention.ms=60000,min.insync.replicas=2")
    assert [partition_line("t", p) for p in doc["partitions"]] == [
        "\tTopic: t\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 2\tElr: N/A\tLastKnownElr: N/A",
        "\tTopic: t\tPartition: 1\tLeader: 2\tReplicas: 2,1\tIsr: 2,1\tElr: 1\tLastKnownElr: "]
    unnamed = topic_doc(Topic("u", UUID(int=0), [], {}, 1), [])
    assert topic_line(unnamed) == "Topic: u\tPartitionCount: 0\tReplicationFactor: 0\tConfigs: "  # no zero id


def test_reports_pick_partitions_as_kafka_judges_them() -> None:
    topic = Topic("t", TOPIC_ID, [], {}, 2)
    leaderless = Partition(0, None, [1, 2], [], None, None)
    dead_leader = Partition(1, 3, [3], [3], None, None)
    one_short = Partition(2, 1, [1, 2], [1], None, None)
    full = Partition(3, 1, [1, 2], [1, 2], None, None)
    live = {1, 2}

    def picked(*reports: str) -> list[int]:
        return [p.partition for p in (leaderless, dead_leader, one_short, full)
                if reported(topic, p, live, frozenset(reports))]

    assert picked("under_replicated") == [0, 2]
    assert picked("unavailable") == [0, 1]
    assert picked("under_min_isr") == [0, 1, 2]  # no leader counts as under min ISR
    assert picked("at_min_isr") == [3]
    assert picked("unavailable", "at_min_isr") == [0, 1, 3]
    assert picked() == []


def test_topic_selection_is_a_whole_match_regex_with_commas_for_alternatives() -> None:
    matches = topic_filter(' "orders.*, audit" ')
    assert [t for t in ("orders", "orders-eu", "audit", "audit-2", "xorders") if matches(t)] == \
        ["orders", "orders-eu", "audit"]
    with pytest.raises(click.BadParameter, match="is an invalid regex"):
        topic_filter("(")
