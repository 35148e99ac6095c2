"""Admin requests shared by the tools: topic configs, partition counts, offsets by time."""

from __future__ import annotations

from kproto.messages import DescribeConfigsRequest, DescribeConfigsResponse, ListOffsetsRequest

from kbroker.tools.client import Client, check

TOPIC_RESOURCE, BROKER_RESOURCE, GROUP_RESOURCE = 2, 4, 32
EARLIEST, LATEST = -2, -1
CONSUMER_REPLICA_ID = -1


def describe_configs(client: Client, resource_type: int, name: str, node: int | None = None,
                     synonyms: bool = False) -> list[DescribeConfigsResponse.DescribeConfigsResourceResult]:
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=resource_type, resource_name=name)
    resource.configuration_keys = None  # null: every key (the constructor would make it an empty list)
    request = DescribeConfigsRequest(resources=[resource], include_synonyms=synonyms)
    answer = client.send(request, node=node, min_version=1)
    result = answer.results[0]
    check(result.error_code, f"describe configs of {name or 'the cluster default'}", result.error_message)
    return result.configs


def list_offsets(client: Client, topic: str, leaders: dict[int, int], timestamp: int) -> dict[int, int]:
    """partition -> offset for `timestamp` (EARLIEST, LATEST or ms); -1 when no record is that recent."""
    found = offsets_at(client, {(topic, p): leader for p, leader in leaders.items()}, timestamp)
    return {p: offset for (_, p), offset in found.items()}


def offsets_at(client: Client, leaders: dict[tuple[str, int], int], timestamp: int) -> dict[tuple[str, int], int]:
    """(topic, partition) -> offset for `timestamp`, in one ListOffsets request per leader."""
    by_leader: dict[int, dict[str, list[int]]] = {}
    for (topic, partition), leader in sorted(leaders.items()):
        by_leader.setdefault(leader, {}).setdefault(topic, []).append(partition)
    found = {}
    for leader, topics in by_leader.items():
        request = ListOffsetsRequest(replica_id=CONSUMER_REPLICA_ID, topics=[ListOffsetsRequest.ListOffsetsTopic(
            name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=p, timestamp=timestamp)
                                    for p in partitions]) for topic, partitions in topics.items()])
        answer = client.send(request, node=leader, min_version=1)
        for result_topic in answer.topics:
            for result in result_topic.partitions:
                check(result.error_code, f"offsets of {result_topic.name}-{result.partition_index}")
                found[(result_topic.name, result.partition_index)] = result.offset
    return found
