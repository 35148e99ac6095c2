"""`kbroker acls`: add, remove and list ACLs, with the options and the lines of kafka-acls.sh.

Each resource named (--topic, --group, --cluster, --transactional-id, --delegation-token,
--user-principal, with --resource-pattern-type) gets the entries the options make: every
--allow-principal with every --allow-host (default `*`) and --operation (default All), and the
same for --deny-*. --producer stands for WRITE, DESCRIBE and CREATE on the topics (WRITE and
DESCRIBE on transactional ids, IDEMPOTENT_WRITE on the cluster with --idempotent), --consumer
for READ and DESCRIBE on the topics and READ on the groups.
"""

from __future__ import annotations

import sys
from typing import Iterable

import click
from kproto.messages import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from kbroker.security.acls import (
    CLUSTER_NAME, SUPPORTED_OPERATIONS, WILDCARD, AccessControlEntry, AclOperation, PatternType, PermissionType,
    ResourcePattern, ResourceType,
)
from kbroker.tools.client import Client, check
from kbroker.tools.common import bootstrap_option, connect, one_line_errors

Op, RT = AclOperation, ResourceType
PATTERN_TYPES = ("any", "match", "literal", "prefixed")
# (resource pattern type, name) filters with the entries to add or remove on them
Plan = dict[tuple[ResourceType, str, PatternType], set[AccessControlEntry]]


def principal(text: str) -> str:
    text = text.strip()
    if ":" not in text:
        raise click.BadParameter(f"expected a string in format principalType:principalName but got {text}")
    return text


def operation(text: str) -> AclOperation:
    try:
        found = AclOperation.parse(text.strip())
    except ValueError:
        raise click.BadParameter(f"unknown operation {text!r}", param_hint="--operation") from None
    if found in (Op.UNKNOWN, Op.ANY):
        raise click.BadParameter(f"{text} is not an operation an ACL can name", param_hint="--operation")
    return found


def entries(allow: tuple[str, ...], allow_hosts: tuple[str, ...], deny: tuple[str, ...], deny_hosts: tuple[str, ...],
            operations: Iterable[AclOperation]) -> set[AccessControlEntry]:
    """Every principal with every host and operation; hosts default to `*` where principals are given."""
    operations = list(operations)
    made = set()
    for principals, hosts, permission in ((allow, allow_hosts, PermissionType.ALLOW),
                                          (deny, deny_hosts, PermissionType.DENY)):
        for who in map(principal, principals):
            for host in [h.strip() for h in hosts] or [WILDCARD]:
                made |= {AccessControlEntry(who, host, op, permission) for op in operations}
    return made


def resources(topics: tuple[str, ...], groups: tuple[str, ...], cluster: bool, transactional_ids: tuple[str, ...],
              tokens: tuple[str, ...], users: tuple[str, ...], pattern: PatternType) -> list[tuple[ResourceType, str, PatternType]]:
    found = [(RT.TOPIC, t.strip(), pattern) for t in topics]
    if cluster and pattern == PatternType.LITERAL:
        found.append((RT.CLUSTER, CLUSTER_NAME, PatternType.LITERAL))
    found += [(RT.GROUP, g.strip(), pattern) for g in groups]
    found += [(RT.TRANSACTIONAL_ID, t, pattern) for t in transactional_ids]
    found += [(RT.DELEGATION_TOKEN, t.strip(), pattern) for t in tokens]
    found += [(RT.USER, u.strip(), pattern) for u in users]
    return found


def role_plan(named: list[tuple[ResourceType, str, PatternType]], make, producer: bool, consumer: bool,
              idempotent: bool) -> Plan:
    """The ACLs --producer and --consumer stand for, on the resources named."""
    plan: Plan = {}
    for key in named:
        kind = key[0]
        if producer and kind == RT.TOPIC:
            plan.setdefault(key, set()).update(make({Op.WRITE, Op.DESCRIBE, Op.CREATE}))
        if producer and kind == RT.TRANSACTIONAL_ID:
            plan.setdefault(key, set()).update(make({Op.WRITE, Op.DESCRIBE}))
        if consumer and kind == RT.TOPIC:
            plan.setdefault(key, set()).update(make({Op.READ, Op.DESCRIBE}))
        if consumer and kind == RT.GROUP:
            plan.setdefault(key, set()).update(make({Op.READ}))
    if producer and idempotent:
        plan[(RT.CLUSTER, CLUSTER_NAME, PatternType.LITERAL)] = make({Op.IDEMPOTENT_WRITE})
    return plan


def check_operations(plan: Plan) -> None:
    for (kind, _, _), acls in plan.items():
        valid = set(SUPPORTED_OPERATIONS[kind]) | {Op.ALL}
        if {acl.operation for acl in acls} - valid:
            names = ", ".join(sorted(op.pascal for op in valid))
            raise click.UsageError(f"ResourceType {kind.name} only supports operations {names}")


def block(title: str, acls: Iterable[AccessControlEntry]) -> str:
    lines = "\n".join(f"\t{acl}" for acl in sorted(acls, key=str))
    return f"{title}: \n {lines} \n"


@click.command("acls")
@bootstrap_option
@click.option("--add", "action", flag_value="add", help="Add ACLs.")
@click.option("--remove", "action", flag_value="remove", help="Remove ACLs.")
@click.option("--list", "action", flag_value="list", help="List ACLs of the resources named (all without one).")
@click.option("--topic", "topics", multiple=True, help="Topic; '*' is every topic.")
@click.option("--group", "groups", multiple=True, help="Consumer group; '*' is every group.")
@click.option("--cluster", is_flag=True, help="The cluster resource.")
@click.option("--transactional-id", "transactional_ids", multiple=True, help="Transactional id; '*' is every one.")
@click.option("--delegation-token", "tokens", multiple=True, help="Delegation token id.")
@click.option("--user-principal", "users", multiple=True, help="A user principal as the resource (CreateTokens, DescribeTokens).")
@click.option("--resource-pattern-type", "pattern_type", type=click.Choice(PATTERN_TYPES, case_sensitive=False),
              default="literal", show_default=True,
              help="literal or prefixed to add; any or match also to list and remove (match: every pattern that applies).")
@click.option("--allow-principal", "allow", multiple=True, metavar="TYPE:NAME", help="Principal to allow; User:* is everyone.")
@click.option("--deny-principal", "deny", multiple=True, metavar="TYPE:NAME", help="Principal to deny; deny wins over allow.")
@click.option("--allow-host", "allow_hosts", multiple=True, help="Host the allowed principals may come from (default *).")
@click.option("--deny-host", "deny_hosts", multiple=True, help="Host the denied principals are refused from (default *).")
@click.option("--operation", "operations", multiple=True, help="Operation: Read, Write, Create, Delete, Alter, Describe, "
              "ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All (default).")
@click.option("--producer", is_flag=True, help="The ACLs of a producer: WRITE, DESCRIBE, CREATE on the topics.")
@click.option("--consumer", is_flag=True, help="The ACLs of a consumer: READ, DESCRIBE on the topics, READ on the groups.")
@click.option("--idempotent", is_flag=True, help="With --producer: IDEMPOTENT_WRITE on the cluster too.")
@click.option("--principal", "list_principals", multiple=True, help="With --list: only this principal's ACLs.")
@click.option("--force", is_flag=True, help="Remove without asking.")
@one_line_errors
def acls(bootstrap: str, timeout: float, action: str | None, topics: tuple[str, ...], groups: tuple[str, ...],
         cluster: bool, transactional_ids: tuple[str, ...], tokens: tuple[str, ...], users: tuple[str, ...],
         pattern_type: str, allow: tuple[str, ...], deny: tuple[str, ...], allow_hosts: tuple[str, ...],
         deny_hosts: tuple[str, ...], operations: tuple[str, ...], producer: bool, consumer: bool, idempotent: bool,
         list_principals: tuple[str, ...], force: bool) -> None:
    """Add, remove or list ACLs, as kafka-acls.sh does.

    \b
    Examples:
      kbroker acls --add --allow-principal User:alice --operation Read --topic orders
      kbroker acls --add --allow-principal User:alice --producer --topic orders --idempotent
      kbroker acls --add --allow-principal User:bob --consumer --topic orders --group billing
      kbroker acls --add --deny-principal User:mallory --operation All --topic pay --resource-pattern-type prefixed
      kbroker acls --list --topic orders --resource-pattern-type match
      kbroker acls --remove --force --topic orders
    """
    check_arguments(action, locals())
    pattern = PatternType.parse(pattern_type)
    named = resources(topics, groups, cluster or idempotent, transactional_ids, tokens, users, pattern)
    with connect(bootstrap, timeout) as client:
        if action == "list":
            list_acls(client, named, [principal(p) for p in list_principals])
            return
        if not named:
            raise click.UsageError("You must provide at least one resource: --topic <topic> or --cluster or "
                                   "--group <group> or --delegation-token <Delegation Token ID>")

        def make(ops: Iterable[AclOperation]) -> set[AccessControlEntry]:
            return entries(allow, allow_hosts, deny, deny_hosts, ops)

        plan = role_plan(named, make, producer, consumer, idempotent) if producer or consumer else \
            {key: make(map(operation, operations or ("All",))) for key in named}
        check_operations(plan)
        if action == "add":
            add(client, plan, pattern)
        else:
            remove(client, plan, force)


def check_arguments(action: str | None, given: dict) -> None:
    """kafka-acls.sh's rules on which options go together."""
    if action is None:
        raise click.UsageError("Command must include exactly one action: --list, --add, --remove. ")
    if action == "list" and any(given[k] for k in ("producer", "consumer", "allow", "deny", "allow_hosts",
                                                    "deny_hosts")):
        raise click.UsageError("--list takes no --producer, --consumer, --allow-* or --deny-* option")
    if (given["producer"] or given["consumer"]) and (given["operations"] or given["deny"] or given["deny_hosts"]):
        raise click.UsageError("--producer and --consumer take no --operation, --deny-principal or --deny-host")
    if given["list_principals"] and action != "list":
        raise click.UsageError("The --principal option is only available if --list is set")
    if given["producer"] and not given["topics"]:
        raise click.UsageError("With --producer you must specify a --topic")
    if given["idempotent"] and not given["producer"]:
        raise click.UsageError("The --idempotent option is only available if --producer is set")
    if given["consumer"] and (not given["topics"] or not given["groups"] or (
            not given["producer"] and (given["cluster"] or given["transactional_ids"]))):
        raise click.UsageError("With --consumer you must specify a --topic and a --group and no --cluster or "
                               "--transactional-id option should be specified.")
    if action == "add" and given["pattern_type"].lower() in ("any", "match"):
        raise click.UsageError(f"A '--resource-pattern-type' value of '{given['pattern_type'].upper()}' is not valid "
                               "when adding acls.")


def add(client: Client, plan: Plan, pattern: PatternType) -> None:
    if any(not found for found in plan.values()):
        raise click.UsageError("You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.")
    for (kind, name, pattern_type), found in plan.items():
        click.echo(block(f"Adding ACLs for resource `{ResourcePattern(kind, name, pattern_type)}`", found))
        answer = client.send(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
            resource_type=kind, resource_name=name, resource_pattern_type=pattern_type, principal=e.principal,
            host=e.host, operation=e.operation, permission_type=e.permission) for e in sorted(found, key=str)]))
        for result in answer.results:
            check(result.error_code, "adding ACLs", result.error_message)


def remove(client: Client, plan: Plan, force: bool) -> None:
    for (kind, name, pattern_type), found in plan.items():
        where = ResourcePattern(kind, name, pattern_type)  # a filter, printed as Kafka prints one
        question = (f"Are you sure you want to remove ACLs: \n {chr(10).join(chr(9) + str(e) for e in sorted(found, key=str))} "
                    f"\n from resource filter `{where}`? (y/n)" if found else
                    f"Are you sure you want to delete all ACLs for resource filter `{where}`? (y/n)")
        if not force:
            click.echo(question)
            if sys.stdin.readline().strip().lower() != "y":
                continue
        filters = [filter_for(kind, name, pattern_type, e) for e in sorted(found, key=str)] or \
            [filter_for(kind, name, pattern_type)]
        answer = client.send(DeleteAclsRequest(filters=filters))
        for result in answer.filter_results:
            check(result.error_code, "removing ACLs", result.error_message)


def filter_for(kind: ResourceType, name: str, pattern: PatternType,
               entry: AccessControlEntry | None = None) -> DeleteAclsRequest.DeleteAclsFilter:
    return DeleteAclsRequest.DeleteAclsFilter(
        resource_type_filter=kind, resource_name_filter=name, pattern_type_filter=pattern,
        principal_filter=entry.principal if entry else None, host_filter=entry.host if entry else None,
        operation=entry.operation if entry else Op.ANY,
        permission_type=entry.permission if entry else PermissionType.ANY)


def describe_acls(client: Client, named: list[tuple[ResourceType, str, PatternType]]
                  ) -> dict[ResourcePattern, set[AccessControlEntry]]:
    """The ACLs of the resources named (nothing named: every ACL), by resource pattern."""
    found: dict[ResourcePattern, set[AccessControlEntry]] = {}
    for kind, name, pattern in named or [(RT.ANY, None, PatternType.ANY)]:
        answer = client.send(DescribeAclsRequest(
            resource_type_filter=kind, resource_name_filter=name, pattern_type_filter=pattern, principal_filter=None,
            host_filter=None, operation=Op.ANY, permission_type=PermissionType.ANY))
        check(answer.error_code, "listing ACLs", answer.error_message)
        for resource in answer.resources:
            key = ResourcePattern(ResourceType(resource.resource_type), resource.resource_name,
                                  PatternType(resource.pattern_type))
            found.setdefault(key, set()).update(
                AccessControlEntry(a.principal, a.host, AclOperation(a.operation), PermissionType(a.permission_type))
                for a in resource.acls)
    return found


def list_acls(client: Client, named: list[tuple[ResourceType, str, PatternType]], principals: list[str]) -> None:
    found = describe_acls(client, named)
    for who in principals or [None]:
        if who is not None:
            click.echo(f"ACLs for principal `{who}`")
        for pattern in sorted(found, key=lambda p: (p.resource_type, p.name, p.pattern_type)):
            mine = {e for e in found[pattern] if who is None or e.principal == who}
            if mine:
                click.echo(block(f"Current ACLs for resource `{pattern}`", mine))
