"""`kbroker share-groups`: list, describe and delete share groups, reset and delete their start
offsets, printed as kafka-share-groups (Kafka 4.2) prints them."""

from __future__ import annotations

from typing import Any

import click

from kproto import ErrorCode

from kbroker.tools.client import Client, ToolError
from kbroker.tools.common import bootstrap_option, connect, one_line_errors, output_option, print_json
from kbroker.tools.group_admin import INACTIVE_STATES, Group, delete_groups
from kbroker.tools.group_describe import GroupKind, show_describe
from kbroker.tools.group_options import group_options
from kbroker.tools.group_views import (
    KNOWN_STATES,
    SHARE_DELETE_OFFSETS_COLUMNS,
    SHARE_LIST_COLUMNS,
    listing_row,
    print_table,
    share_members_columns,
    share_offsets_columns,
    share_state_columns,
)
from kbroker.tools.groups import parse_names, show_plans
from kbroker.tools.reset_plan import Plan, parse_topic_specs, plan_reset, scenario_from
from kbroker.tools.share_group_admin import (
    alter_share_offsets,
    delete_share_offsets,
    describe_share_group,
    list_share_groups,
    share_offsets,
)


@click.command("share-groups")
@bootstrap_option
@output_option
@group_options("share", "start offsets", "--state")
@one_line_errors
def share_groups(bootstrap: str, timeout: float, output: str, do_list: bool, describe: bool, delete: bool,
                 reset_offsets: bool, delete_offsets: bool, group_ids: tuple[str, ...], all_groups: bool,
                 offsets: bool, members: bool, states: str | None, verbose: bool, topics: tuple[str, ...],
                 all_topics: bool, to_earliest: bool, to_latest: bool, to_datetime: str | None, dry_run: bool,
                 execute: bool) -> None:
    """List, describe and delete share groups; reset and delete their start offsets.

    \b
    Examples:
      kbroker share-groups --list --state
      kbroker share-groups --describe --group jobs
      kbroker share-groups --describe --group jobs --members --verbose
      kbroker share-groups --reset-offsets --group jobs --topic orders --to-earliest --execute
      kbroker share-groups --delete-offsets --group jobs --topic orders
      kbroker share-groups --delete --group old-jobs
    """
    actions = [name for name, on in (("--list", do_list), ("--describe", describe), ("--delete", delete),
                                     ("--reset-offsets", reset_offsets), ("--delete-offsets", delete_offsets)) if on]
    if len(actions) != 1:
        raise click.UsageError("give exactly one of --list, --describe, --delete, --reset-offsets, --delete-offsets")
    action = actions[0]
    if (offsets or members or verbose) and action != "--describe":
        raise click.UsageError("--offsets, --members and --verbose go with --describe")
    if describe and offsets + members + (states is not None) > 1:
        raise click.UsageError("--describe takes at most one of --offsets, --members, --state")
    if states is not None and action not in ("--describe", "--list") or (describe and states):
        raise click.UsageError("--state goes with --list, or without a value with --describe")
    if topics and action not in ("--reset-offsets", "--delete-offsets"):
        raise click.UsageError("--topic goes with --reset-offsets or --delete-offsets")
    if action in ("--reset-offsets", "--delete-offsets") and len(group_ids) != 1:
        raise click.UsageError(f"{action} takes one --group")
    scenario = scenario_from(to_earliest, to_latest, None, to_datetime, None, None) if reset_offsets else None
    with connect(bootstrap, timeout) as client:
        if do_list:
            show_list(client, parse_names(states, KNOWN_STATES, "state", "--state"), states is not None, output)
            return
        chosen = list(group_ids) or ([g.group_id for g in list_share_groups(client)] if all_groups else [])
        if not chosen and not all_groups:
            raise click.UsageError(f"{action} needs --group GROUP" + (" or --all-groups" if describe or delete else ""))
        if describe:
            show_describe(client, SHARE_GROUPS, chosen,
                          "members" if members else "state" if states is not None else "offsets", verbose, output)
        elif delete:
            show_delete(client, chosen)
        elif delete_offsets:
            if not topics:
                raise click.UsageError("--delete-offsets needs --topic")
            show_delete_offsets(client, chosen[0], list(topics), output)
        else:
            assert scenario is not None
            if dry_run and execute:
                raise click.UsageError("give --dry-run or --execute, not both")
            if not topics and not all_topics:
                raise click.UsageError("--reset-offsets needs --topic or --all-topics")
            plan = reset(client, chosen[0], topics, scenario, execute)
            show_plans({chosen[0]: plan}, output, export=False, with_group=False)


def show_list(client: Client, states: list[str], with_state: bool, output: str) -> None:
    """Names only, or with --state the GROUP STATE table of kafka-share-groups."""
    rows = [listing_row(listing) for listing in list_share_groups(client, states)]
    if output == "json":
        print_json(rows)
    elif with_state:
        print_table(SHARE_LIST_COLUMNS, rows, blank_line=False)
    else:
        for row in rows:
            click.echo(row["group"])


def offset_rows(client: Client, group: Group) -> list[dict[str, Any]]:
    return [{"group": group.group_id, "topic": topic, "partition": partition, "leader_epoch": found.leader_epoch,
             "start_offset": found.start_offset, "lag": found.lag}
            for (topic, partition), found in sorted(share_offsets(client, group.group_id).items())]


SHARE_GROUPS = GroupKind("Share group", describe_share_group, offset_rows, share_offsets_columns,
                         lambda rows, verbose: share_members_columns(verbose), share_state_columns,
                         empty_note_with_offsets=False)


def show_delete(client: Client, group_ids: list[str]) -> None:
    """Kafka's checks first (a share group, and empty), then DeleteGroups for the rest."""
    listed = {g.group_id: g.state for g in list_share_groups(client)}
    failed: dict[str, str] = {}
    for group_id in group_ids:
        if group_id not in listed:
            failed[group_id] = f"Group '{group_id}' is not a share group."
        elif listed[group_id] not in INACTIVE_STATES:
            failed[group_id] = f"Share group '{group_id}' is not EMPTY."
    results = delete_groups(client, [g for g in group_ids if g not in failed])
    failed.update({g: ErrorCode(code).description for g, code in results.items() if code})
    deleted = ", ".join(f"'{g}'" for g in group_ids if g not in failed)
    if not failed:
        click.echo(f"Deletion of requested share groups ({deleted}) was successful.")
        return
    click.echo("\nError: Deletion of some share groups failed:")
    for group_id, reason in failed.items():
        click.echo(f"* Group '{group_id}' could not be deleted due to: {reason}")
    if deleted:
        click.echo(f"\nThese share groups were deleted successfully: {deleted}")
    raise SystemExit(1)


def reset(client: Client, group_id: str, topics: tuple[str, ...], scenario: Any, execute: bool) -> Plan:
    """Plan new start offsets (every partition the group started, or those named); with `execute`,
    set them. Refused while the group has members, as Kafka."""
    group = describe_share_group(client, group_id)
    if group.state not in INACTIVE_STATES:
        raise ToolError(f"Share group '{group_id}' is not empty.")
    if topics:
        specs = parse_topic_specs(topics)
    else:
        specs = {}
        for topic, partition in sorted(share_offsets(client, group_id)):
            specs.setdefault(topic, []).append(partition)
    plan = plan_reset(client, specs, {}, scenario)
    if execute:
        alter_share_offsets(client, group_id, plan)
    return plan


def show_delete_offsets(client: Client, group_id: str, topics: list[str], output: str) -> None:
    """A TOPIC STATUS line per topic, as kafka-share-groups prints them; any failure exits 1."""
    results = delete_share_offsets(client, group_id, topics)
    rows = [{"topic": t, "status": "Successful" if error is None else f"Error: {error}"}
            for t, error in sorted(results.items())]
    if output == "json":
        print_json({"group": group_id, "topics": rows})
    else:
        print_table(SHARE_DELETE_OFFSETS_COLUMNS, rows)
    if any(error is not None for error in results.values()):
        raise SystemExit(1)
