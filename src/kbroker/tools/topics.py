"""`kbroker topics`: create, list, describe, grow and delete topics, as kafka-topics does."""

from __future__ import annotations

import re
from typing import Callable

import click
from kproto import ErrorCode
from kproto.messages import CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest

from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.common import bootstrap_option, connect, key_values, one_line_errors, output_option, print_json
from kbroker.tools.topic_describe import REPORTS, describe

REQUEST_TIMEOUT_MS = 30_000


@click.command("topics")
@bootstrap_option
@output_option
@click.option("--create", "action", flag_value="create", help="Create --topic.")
@click.option("--list", "action", flag_value="list", help="List topic names.")
@click.option("--describe", "action", flag_value="describe", help="Partitions, leaders, replicas, ISR and configs.")
@click.option("--alter", "action", flag_value="alter", help="Grow --topic to --partitions.")
@click.option("--delete", "action", flag_value="delete", help="Delete --topic.")
@click.option("--topic", help="The topic; for --list/--describe a regular expression (all topics when left out).")
@click.option("--partitions", type=click.IntRange(min=1), help="Partition count (default: the broker's num.partitions).")
@click.option("--replication-factor", type=click.IntRange(min=1), help="Replicas per partition (default: the broker's).")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE", help="A topic config for --create (repeatable).")
@click.option("--if-not-exists", is_flag=True, help="With --create: no error when the topic exists.")
@click.option("--if-exists", is_flag=True, help="With --alter/--delete/--describe: no error when the topic is missing.")
@click.option("--exclude-internal", is_flag=True, help="Leave internal topics out of --list/--describe.")
@click.option("--under-replicated-partitions", "under_replicated", is_flag=True,
              help="With --describe: only partitions with fewer in-sync replicas than replicas.")
@click.option("--unavailable-partitions", "unavailable", is_flag=True,
              help="With --describe: only partitions without a live leader.")
@click.option("--under-min-isr-partitions", "under_min_isr", is_flag=True,
              help="With --describe: only partitions with fewer in-sync replicas than min.insync.replicas.")
@click.option("--at-min-isr-partitions", "at_min_isr", is_flag=True,
              help="With --describe: only partitions with exactly min.insync.replicas in-sync replicas.")
@click.option("--topics-with-overrides", is_flag=True, help="With --describe: only topics with a config set, "
                                                              "without their partitions.")
@one_line_errors
def topics(bootstrap: str, timeout: float, output: str, action: str | None, topic: str | None,
           partitions: int | None, replication_factor: int | None, configs: tuple[str, ...],
           if_not_exists: bool, if_exists: bool, exclude_internal: bool, topics_with_overrides: bool,
           **report_flags: bool) -> None:
    """Create, list, describe, alter or delete topics.

    \b
    Examples:
      kbroker topics --create --topic orders --partitions 6 --config retention.ms=86400000
      kbroker topics --list
      kbroker topics --describe --topic orders
      kbroker topics --describe --topic 'orders.*' --under-min-isr-partitions
      kbroker topics --alter --topic orders --partitions 12
      kbroker topics --delete --topic orders
    """
    if action is None:
        raise click.UsageError("give one of --create, --list, --describe, --alter, --delete")
    if action in ("create", "alter", "delete") and not topic:
        raise click.UsageError(f"--{action} needs --topic")
    if action == "alter" and partitions is None:
        raise click.UsageError("--alter needs --partitions")
    reports = frozenset(name for name in REPORTS if report_flags[name])
    if (reports or topics_with_overrides) and action != "describe":
        raise click.UsageError("the partition reports and --topics-with-overrides go with --describe")
    if reports and topics_with_overrides:
        raise click.UsageError("--topics-with-overrides does not go with the partition reports")
    with connect(bootstrap, timeout) as client:
        if action == "create":
            create(client, topic, partitions, replication_factor, configs, if_not_exists)
        elif action == "list":
            names = listed(client, topic, exclude_internal)
            print_json(names) if output == "json" else [click.echo(name) for name in names]
        elif action == "describe":
            names = listed(client, topic, exclude_internal)
            if topic and not names and not if_exists:
                raise ToolError(f"Topic '{topic}' does not exist as expected")
            describe(client, names, output, reports, topics_with_overrides)
        elif action == "alter":
            alter(client, topic, partitions, if_exists)
        else:
            delete(client, topic, if_exists)


def create(client: Client, topic: str, partitions: int | None, factor: int | None, configs: tuple[str, ...],
           if_not_exists: bool) -> None:
    pairs: dict[str, str] = {}
    for item in configs:
        pairs.update(key_values(item, "--config"))
    if create_topic(client, topic, partitions, factor, pairs, if_not_exists):
        click.echo(f"Created topic {topic}.")


def create_topic(client: Client, topic: str, partitions: int | None, factor: int | None, configs: dict[str, str],
                 if_not_exists: bool = False) -> bool:
    """CreateTopics for one topic; False when it exists and `if_not_exists`, ToolError on failure."""
    request = CreateTopicsRequest(timeout_ms=REQUEST_TIMEOUT_MS, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=partitions or -1, replication_factor=factor or -1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])])
    needs_defaults = partitions is None or factor is None  # -1 means "the broker's default" from v4
    result = client.send(request, min_version=4 if needs_defaults else 0).topics[0]
    if if_not_exists and result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
        return False
    check(result.error_code, f"cannot create topic {topic}", result.error_message)
    return True


def listed(client: Client, pattern: str | None, exclude_internal: bool) -> list[str]:
    """The topic names `pattern` matches whole, as kafka-topics reads it: a regular expression in
    which `,` means `|` and spaces and surrounding quotes are dropped."""
    matches = topic_filter(pattern) if pattern is not None else None
    return sorted(t.name for t in client.metadata(None).topics
                  if not (exclude_internal and t.is_internal) and (matches is None or matches(t.name)))


def topic_filter(pattern: str) -> Callable[[str], bool]:
    regex = pattern.strip().replace(",", "|").replace(" ", "").lstrip("\"'").rstrip("\"'")
    try:
        compiled = re.compile(regex)
    except re.error:
        raise click.BadParameter(f"{regex} is an invalid regex.", param_hint="--topic") from None
    return lambda name: compiled.fullmatch(name) is not None


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

