"""`kbroker configs`: describe and alter topic, broker and group configs, and users' SCRAM credentials, as kafka-configs does.

Changes go through IncrementalAlterConfigs when the broker has it, so keys not named keep their
values; otherwise through AlterConfigs, sending the resource's current dynamic values along.
"""

from __future__ import annotations

import click
from kproto.messages import AlterConfigsRequest, IncrementalAlterConfigsRequest

from kbroker.tools.admin import BROKER_RESOURCE, GROUP_RESOURCE, TOPIC_RESOURCE, describe_configs
from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.scram_users import alter_users, describe_users
from kbroker.tools.common import (
    bootstrap_option, connect, key_values, one_line_errors, output_option, print_json, split_outside_brackets,
)

SOURCES = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
           4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG",
           7: "CLIENT_METRICS_CONFIG", 8: "GROUP_CONFIG"}
RESOURCE_TYPES = {"topics": TOPIC_RESOURCE, "brokers": BROKER_RESOURCE, "groups": GROUP_RESOURCE}
SET, DELETE = 0, 1
INCREMENTAL_ALTER_CONFIGS = 44


@click.command("configs")
@bootstrap_option
@output_option
@click.option("--describe", "action", flag_value="describe", help="Show the entity's dynamic configs (--all: every config).")
@click.option("--alter", "action", flag_value="alter", help="Change configs with --add-config / --delete-config.")
@click.option("--entity-type", type=click.Choice(["topics", "brokers", "groups", "users"]), required=True, help="What to configure.")
@click.option("--entity-name", help="Topic name, broker id, group or user (topics, users: all when left out with --describe).")
@click.option("--entity-default", is_flag=True, help="Brokers: the cluster-wide default instead of one broker.")
@click.option("--add-config", metavar="K=V[,K=V...]", help="Values to set; a list value may be bracketed: k=[a,b].")
@click.option("--delete-config", metavar="K[,K...]", help="Keys to remove, so they fall back to their defaults.")
@click.option("--all", "show_all", is_flag=True, help="With --describe: every config, not only dynamic ones.")
@one_line_errors
def configs(bootstrap: str, timeout: float, output: str, action: str | None, entity_type: str,
            entity_name: str | None, entity_default: bool, add_config: str | None, delete_config: str | None,
            show_all: bool) -> None:
    """Describe or alter topic, broker and group configs.

    \b
    Examples:
      kbroker configs --describe --entity-type topics --entity-name orders
      kbroker configs --describe --all --entity-type brokers --entity-name 1
      kbroker configs --alter --entity-type topics --entity-name orders \\
          --add-config retention.ms=3600000,cleanup.policy=[compact,delete]
      kbroker configs --alter --entity-type topics --entity-name orders --delete-config retention.ms
      kbroker configs --alter --entity-type brokers --entity-default --add-config log.retention.ms=86400000
      kbroker configs --alter --entity-type groups --entity-name jobs --add-config share.auto.offset.reset=earliest
      kbroker configs --alter --entity-type users --entity-name alice --add-config 'SCRAM-SHA-512=[password=alice-secret]'
    """
    if action is None:
        raise click.UsageError("give --describe or --alter")
    if entity_default and entity_type != "brokers":
        raise click.UsageError("--entity-default is for --entity-type brokers")
    if entity_default and entity_name is not None:
        raise click.UsageError("--entity-name and --entity-default exclude each other")
    if entity_type == "users":
        users(bootstrap, timeout, output, action, entity_name, add_config, delete_config)
        return
    resource_type = RESOURCE_TYPES[entity_type]
    if entity_type == "groups" and entity_name is None:
        raise click.UsageError("--entity-type groups needs --entity-name")
    with connect(bootstrap, timeout) as client:
        if action == "describe":
            names = entity_names(client, entity_type, entity_name, entity_default)
            describe(client, resource_type, names, show_all, output)
            return
        if entity_name is None and not entity_default:
            raise click.UsageError("--alter needs --entity-name (or --entity-default for brokers)")
        if not add_config and not delete_config:
            raise click.UsageError("--alter needs --add-config and/or --delete-config")
        name = "" if entity_default else entity_name
        added = key_values(add_config, "--add-config") if add_config else {}
        deleted = split_outside_brackets(delete_config) if delete_config else []
        alter(client, resource_type, name, added, [k.strip() for k in deleted])
    what = {("topics", False): f"config for topic {name}", ("brokers", False): f"config for broker {name}",
            ("brokers", True): "default config for brokers in the cluster",
            ("groups", False): f"config for group {name}"}[(entity_type, entity_default)]
    click.echo(f"Completed updating {what}.")


def users(bootstrap: str, timeout: float, output: str, action: str, name: str | None, add_config: str | None,
          delete_config: str | None) -> None:
    with connect(bootstrap, timeout) as client:
        if action == "describe":
            describe_users(client, name, output)
            return
        if name is None:
            raise click.UsageError("--alter needs --entity-name")
        if not add_config and not delete_config:
            raise click.UsageError("--alter needs --add-config and/or --delete-config")
        alter_users(client, name, key_values(add_config, "--add-config") if add_config else {},
                    [k.strip() for k in split_outside_brackets(delete_config)] if delete_config else [])
    click.echo(f"Completed updating config for user {name}.")


def entity_names(client: Client, entity_type: str, name: str | None, default: bool) -> list[str]:
    if default:
        return [""]
    if name is not None:
        return [name]
    if entity_type == "topics":
        return sorted(t.name for t in client.metadata(None).topics)
    return [str(b.node_id) for b in sorted(client.metadata([]).brokers, key=lambda b: b.node_id)]


def node_of(resource_type: int, name: str) -> int | None:
    """Broker configs are answered by that broker; anything else by any broker."""
    if resource_type == BROKER_RESOURCE and name:
        if not name.isdigit():
            raise ToolError(f"broker entity name must be a broker id, not {name!r}")
        return int(name)
    return None


def dynamic_sources(resource_type: int, name: str) -> set[int]:
    if resource_type == TOPIC_RESOURCE:
        return {1}
    if resource_type == GROUP_RESOURCE:
        return {8}
    return {2} if name else {3}


def describe(client: Client, resource_type: int, names: list[str], show_all: bool, output: str) -> None:
    docs = []
    for name in names:
        entries = describe_configs(client, resource_type, name, node=node_of(resource_type, name), synonyms=True)
        wanted = [e for e in entries if show_all or e.config_source in dynamic_sources(resource_type, name)]
        docs.append({"entity": name, "configs": [
            {"name": e.name, "value": e.value, "source": SOURCES.get(e.config_source, str(e.config_source)),
             "sensitive": e.is_sensitive, "read_only": e.read_only,
             "synonyms": [{"name": s.name, "value": s.value, "source": SOURCES.get(s.source, str(s.source))}
                          for s in e.synonyms]} for e in wanted]})
    if output == "json":
        print_json(docs)
        return
    for doc in docs:
        click.echo(heading(resource_type, doc["entity"], show_all))
        for entry in doc["configs"]:
            synonyms = ", ".join(f"{s['source']}:{s['name']}={shown(s['value'])}" for s in entry["synonyms"])
            click.echo(f"  {entry['name']}={shown(entry['value'])} sensitive={str(entry['sensitive']).lower()} "
                       f"synonyms={{{synonyms}}}")


def shown(value: str | None) -> str:
    return "null" if value is None else value


def heading(resource_type: int, name: str, show_all: bool) -> str:
    kind = "All" if show_all else "Dynamic"
    if resource_type == TOPIC_RESOURCE:
        return f"{kind} configs for topic {name} are:"
    if resource_type == GROUP_RESOURCE:
        return f"{kind} configs for group {name} are:"
    if not name:
        return "Default configs for brokers in the cluster are:"
    return f"{kind} configs for broker {name} are:"


def alter(client: Client, resource_type: int, name: str, added: dict[str, str], deleted: list[str]) -> None:
    both = set(added) & set(deleted)
    if both:
        raise ToolError(f"a key is both added and deleted: {', '.join(sorted(both))}")
    node = node_of(resource_type, name)
    if supports_incremental(client, node):
        resource = IncrementalAlterConfigsRequest.AlterConfigsResource(
            resource_type=resource_type, resource_name=name,
            configs=[IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=SET, value=v)
                     for k, v in added.items()]
            + [IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=DELETE, value=None)
               for k in deleted])
        answer = client.send(IncrementalAlterConfigsRequest(resources=[resource]), node=node)
    else:
        current = {e.name: e.value for e in describe_configs(client, resource_type, name, node=node)
                   if e.config_source in dynamic_sources(resource_type, name) and e.value is not None}
        unknown = [k for k in deleted if k not in current]
        if unknown:
            raise ToolError(f"cannot delete {', '.join(unknown)}: no dynamic value is set")
        wanted = {k: v for k, v in current.items() if k not in deleted} | added
        resource = AlterConfigsRequest.AlterConfigsResource(
            resource_type=resource_type, resource_name=name,
            configs=[AlterConfigsRequest.AlterableConfig(name=k, value=v) for k, v in wanted.items()])
        answer = client.send(AlterConfigsRequest(resources=[resource]), node=node)
    result = answer.responses[0]
    check(result.error_code, f"cannot alter configs of {name or 'the cluster default'}", result.error_message)


def supports_incremental(client: Client, node: int | None) -> bool:
    conn = client.node(node) if node is not None else client.bootstrap
    return INCREMENTAL_ALTER_CONFIGS in conn.api_versions()
