"""The console's write actions, each one Kafka request (or a few) sent as the operator tools send
them: create a topic, produce a record, reset a group's offsets, delete records. The web layer
allows them only with `--console-write`."""

from __future__ import annotations

from kproto.messages import DeleteRecordsRequest

from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.console import produce
from kbroker.tools.groups import reset
from kbroker.tools.partitioner import partition_for_key
from kbroker.tools.reset_plan import Plan, Scenario
from kbroker.tools.topics import REQUEST_TIMEOUT_MS

ACKS_ALL = -1
RESETS = ("earliest", "latest", "offset", "timestamp", "shift")


def produce_record(client: Client, topic: str, partition: int | None, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes | None]]) -> int:
    """Write one record (acks=all) where the default partitioner puts it, or to `partition`; its partition."""
    leaders = client.partitions(topic)
    if partition is None:
        partition = partition_for_key(key, len(leaders)) if key is not None else min(leaders)
    if partition not in leaders:
        raise ToolError(f"topic {topic} has no partition {partition}")
    produce(client, topic, leaders, partition, [(key, value, headers)], ACKS_ALL)
    return partition


def reset_offsets(client: Client, group_id: str, topic: str | None, kind: str, value: int) -> Plan:
    """Commit new offsets for an inactive group, as `kbroker groups --reset-offsets --execute` does,
    for one topic or every topic it has committed."""
    if kind not in RESETS:
        raise ToolError(f"unknown reset {kind!r}: expected one of {', '.join(RESETS)}")
    return reset(client, group_id, (topic,) if topic else (), not topic, Scenario(kind, value), execute=True)


def delete_records(client: Client, topic: str, partition: int, before: int) -> int:
    """Move the partition's log start to `before` (-1: its high watermark); the new log start."""
    leaders = client.partitions(topic)
    if partition not in leaders:
        raise ToolError(f"topic {topic} has no partition {partition}")
    request = DeleteRecordsRequest(timeout_ms=REQUEST_TIMEOUT_MS, topics=[DeleteRecordsRequest.DeleteRecordsTopic(
        name=topic, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(partition_index=partition, offset=before)])])
    result = client.send(request, node=leaders[partition]).topics[0].partitions[0]
    check(result.error_code, f"delete records of {topic}-{partition}")
    return result.low_watermark
