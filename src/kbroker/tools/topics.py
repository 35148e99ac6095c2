"""`kbroker topics`: create, list, describe, grow and delete topics, as kafka-topics does."""

from __future__ import annotations

import click
from kproto import ErrorCode
from kproto.messages import CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest

from kbroker.tools.admin import TOPIC_RESOURCE, describe_configs
from kbroker.tools.client import Client, check
from kbroker.tools.common import bootstrap_option, connect, key_values, one_line_errors, output_option, print_json

DYNAMIC_TOPIC_CONFIG = 1
REQUEST_TIMEOUT_MS = 30_000


@click.command("topics")
@bootstrap_option
@output_option
@click.option("--create", "action", flag_value="create", help="Create --topic.")
@click.option("--list", "action", flag_value="list", help="List topic names.")
@click.option("--describe", "action", flag_value="describe", help="Partitions, leaders, replicas, ISR and overrides.")
@click.option("--alter", "action", flag_value="alter", help="Grow --topic to --partitions.")
@click.option("--delete", "action", flag_value="delete", help="Delete --topic.")
@click.option("--topic", help="The topic (all topics for --list/--describe when left out).")
@click.option("--partitions", type=click.IntRange(min=1), help="Partition count (default: the broker's num.partitions).")
@click.option("--replication-factor", type=click.IntRange(min=1), help="Replicas per partition (default: the broker's).")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE", help="A topic config for --create (repeatable).")
@click.option("--if-not-exists", is_flag=True, help="With --create: no error when the topic exists.")
@click.option("--if-exists", is_flag=True, help="With --alter/--delete: no error when the topic is missing.")
@click.option("--exclude-internal", is_flag=True, help="Leave internal topics out of --list/--describe.")
@one_line_errors
def topics(bootstrap: str, timeout: float, output: str, action: str | None, topic: str | None,
           partitions: int | None, replication_factor: int | None, configs: tuple[str, ...],
           if_not_exists: bool, if_exists: bool, exclude_internal: bool) -> None:
    """Create, list, describe, alter or delete topics.

    \b
    Examples:
      kbroker topics --create --topic orders --partitions 6 --config retention.ms=86400000
      kbroker topics --list
      kbroker topics --describe --topic orders
      kbroker topics --alter --topic orders --partitions 12
      kbroker topics --delete --topic orders
    """
    if action is None:
        raise click.UsageError("give one of --create, --list, --describe, --alter, --delete")
    if action in ("create", "alter", "delete") and not topic:
        raise click.UsageError(f"--{action} needs --topic")
    if action == "alter" and partitions is None:
        raise click.UsageError("--alter needs --partitions")
    with connect(bootstrap, timeout) as client:
        if action == "create":
            create(client, topic, partitions, replication_factor, configs, if_not_exists)
        elif action == "list":
            names = listed(client, topic, exclude_internal)
            print_json(names) if output == "json" else [click.echo(name) for name in names]
        elif action == "describe":
            describe(client, listed(client, topic, exclude_internal), output)
        elif action == "alter":
            alter(client, topic, partitions, if_exists)
        else:
            delete(client, topic, if_exists)


def create(client: Client, topic: str, partitions: int | None, factor: int | None, configs: tuple[str, ...],
           if_not_exists: bool) -> None:
    pairs: dict[str, str] = {}
    for item in configs:
        pairs.update(key_values(item, "--config"))
    request = CreateTopicsRequest(timeout_ms=REQUEST_TIMEOUT_MS, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=partitions or -1, replication_factor=factor or -1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in pairs.items()])])
    needs_defaults = partitions is None or factor is None  # -1 means "the broker's default" from v4
    result = client.send(request, min_version=4 if needs_defaults else 0).topics[0]
    if if_not_exists and result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
        return
    check(result.error_code, f"cannot create topic {topic}", result.error_message)
    click.echo(f"Created topic {topic}.")


def listed(client: Client, topic: str | None, exclude_internal: bool) -> list[str]:
    meta = client.metadata(None if topic is None else [topic])
    names = []
    for found in meta.topics:
        if topic is not None:
            check(found.error_code, f"topic {topic}")
        if not (exclude_internal and found.is_internal):
            names.append(found.name)
    return sorted(names)


def describe(client: Client, names: list[str], output: str) -> None:
    meta = {t.name: t for t in client.metadata(names).topics} if names else {}
    docs = []
    for name in names:
        found = meta[name]
        overrides = {c.name: c.value for c in describe_configs(client, TOPIC_RESOURCE, name)
                     if c.config_source == DYNAMIC_TOPIC_CONFIG}
        parts = sorted(found.partitions, key=lambda p: p.partition_index)
        factor = len(parts[0].replica_nodes) if parts else 0
        docs.append({"topic": name, "topic_id": str(found.topic_id), "partition_count": len(parts),
                     "replication_factor": factor, "configs": overrides,
                     "partitions": [{"partition": p.partition_index, "leader": p.leader_id,
                                     "replicas": p.replica_nodes, "isr": p.isr_nodes} for p in parts]})
    if output == "json":
        print_json(docs)
        return
    for doc in docs:
        configs = ",".join(f"{k}={v}" for k, v in doc["configs"].items())
        click.echo(f"Topic: {doc['topic']}\tTopicId: {doc['topic_id']}\tPartitionCount: {doc['partition_count']}\t"
                   f"ReplicationFactor: {doc['replication_factor']}\tConfigs: {configs}")
        for p in doc["partitions"]:
            click.echo(f"\tTopic: {doc['topic']}\tPartition: {p['partition']}\tLeader: {p['leader']}\t"
                       f"Replicas: {','.join(map(str, p['replicas']))}\tIsr: {','.join(map(str, p['isr']))}")


def alter(client: Client, topic: str, partitions: int, if_exists: bool) -> None:
    grow = CreatePartitionsRequest.CreatePartitionsTopic(name=topic, count=partitions)
    grow.assignments = None  # null: the broker places the new partitions
    request = CreatePartitionsRequest(timeout_ms=REQUEST_TIMEOUT_MS, topics=[grow])
    result = client.send(request).results[0]
    if if_exists and result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return
    check(result.error_code, f"cannot alter topic {topic}", result.error_message)
    click.echo(f"Topic {topic} now has {partitions} partitions.")


def delete(client: Client, topic: str, if_exists: bool) -> None:
    request = DeleteTopicsRequest(timeout_ms=REQUEST_TIMEOUT_MS, topic_names=[topic])
    result = client.send(request, max_version=5).responses[0]
    if if_exists and result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return
    check(result.error_code, f"cannot delete topic {topic}", getattr(result, "error_message", None))
    click.echo(f"Deleted topic {topic}.")

