"""Topic metadata survives a reopen."""

from kbroker.cluster.topics import TopicRegistry


def test_topics_persist_with_ids_and_configs(tmp_path):
    registry = TopicRegistry(tmp_path)
    info = registry.create("orders", 3, {"retention.ms": "1000"})
    reopened = TopicRegistry(tmp_path)
    again = reopened.get("orders")
    assert (again.topic_id, again.partitions, again.configs) == (info.topic_id, 3, {"retention.ms": "1000"})
    assert reopened.by_id(info.topic_id) is again
    reopened.delete("orders")
    assert TopicRegistry(tmp_path).get("orders") is None
