"""`kbroker groups`: list, describe, delete consumer groups, reset and delete their offsets,
printed as kafka-consumer-groups prints them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kproto import ErrorCode

from kbroker.tools.admin import LATEST, list_offsets
from kbroker.tools.client import Client, ToolError
from kbroker.tools.common import bootstrap_option, connect, one_line_errors, output_option, print_json
from kbroker.tools.console import commit
from kbroker.tools.group_admin import (
    INACTIVE_STATES,
    Group,
    committed_offsets,
    delete_groups,
    delete_offsets,
    describe_group,
    list_groups,
)
from kbroker.tools.group_describe import GroupKind, show_describe
from kbroker.tools.group_options import group_options
from kbroker.tools.group_views import (
    DELETE_OFFSETS_COLUMNS,
    KNOWN_STATES,
    KNOWN_TYPES,
    RESET_COLUMNS,
    by_topic,
    list_columns,
    listing_row,
    members_columns,
    offsets_columns,
    print_table,
    state_columns,
)
from kbroker.tools.reset_plan import Plan, Scenario, export_csv, parse_topic_specs, plan_reset, scenario_from


@click.command("groups")
@bootstrap_option
@output_option
@group_options("consumer", "committed offsets", "--state or --type")
@click.option("--type", "types", is_flag=False, flag_value="", default=None, metavar="[TYPE,...]",
              help="With --list: the type column (Classic, Consumer), and only groups of these types when given.")
@click.option("--to-current", is_flag=True, help="Reset to the committed offset (the log end where there is none).")
@click.option("--to-offset", type=int, help="Reset to this offset (kept within the log).")
@click.option("--shift-by", type=int, help="Move each committed offset by N (negative: back).")
@click.option("--by-duration", metavar="PnDTnHnMnS", help="Reset to the first offset this long ago.")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path), metavar="CSV",
              help="Reset to the offsets of a plan written by --export (kept within the log).")
@click.option("--export", is_flag=True, help="With --reset-offsets: print the plan as CSV, to be read by --from-file.")
@one_line_errors
def groups(bootstrap: str, timeout: float, output: str, do_list: bool, describe: bool, delete: bool,
           reset_offsets: bool, delete_offsets: bool, group_ids: tuple[str, ...], all_groups: bool, offsets: bool,
           members: bool, states: str | None, types: str | None, verbose: bool, topics: tuple[str, ...],
           all_topics: bool, to_earliest: bool, to_latest: bool, to_current: bool, to_offset: int | None,
           to_datetime: str | None, shift_by: int | None, by_duration: str | None, from_file: Path | None,
           export: bool, dry_run: bool, execute: bool) -> None:
    """List, describe and delete consumer groups; reset and delete their offsets.

    \b
    Examples:
      kbroker groups --list
      kbroker groups --list --state stable,empty --type
      kbroker groups --describe --group orders-app
      kbroker groups --describe --group orders-app --members --verbose
      kbroker groups --describe --all-groups --state --verbose
      kbroker groups --delete --group old-app
      kbroker groups --reset-offsets --group orders-app --topic orders --to-earliest --execute
      kbroker groups --reset-offsets --group orders-app --topic orders:0,1 --shift-by -10 --dry-run
      kbroker groups --reset-offsets --group orders-app --all-topics --by-duration PT1H --execute
      kbroker groups --reset-offsets --group orders-app --topic orders --to-latest --export > plan.csv
      kbroker groups --reset-offsets --group orders-app --from-file plan.csv --execute
      kbroker groups --delete-offsets --group old-app --topic orders
    """
    actions = [name for name, on in (("--list", do_list), ("--describe", describe), ("--delete", delete),
                                     ("--reset-offsets", reset_offsets), ("--delete-offsets", delete_offsets)) if on]
    if len(actions) != 1:
        raise click.UsageError("give exactly one of --list, --describe, --delete, --reset-offsets, --delete-offsets")
    check_sub_options(actions[0], offsets, members, states, types, verbose, bool(topics))
    if delete_offsets and (len(group_ids) != 1 or not topics):
        raise click.UsageError("--delete-offsets takes one --group and at least one --topic")
    if export and not reset_offsets:
        raise click.UsageError("--export goes with --reset-offsets")
    scenario = scenario_from(to_earliest, to_latest, to_offset, to_datetime, shift_by, by_duration, from_file,
                             group_ids, to_current=to_current) if reset_offsets else None
    wanted_states = parse_names(states, KNOWN_STATES, "state", "--state") if do_list else []
    wanted_types = parse_names(types, KNOWN_TYPES, "type", "--type") if do_list else []
    with connect(bootstrap, timeout) as client:
        if do_list:
            show_list(client, wanted_states, wanted_types, states is not None, types is not None, output)
            return
        chosen = list(group_ids) or ([g.group_id for g in list_groups(client)] if all_groups else [])
        if not chosen and not all_groups:
            raise click.UsageError(f"{actions[0]} needs --group GROUP or --all-groups")
        if describe:
            show_describe(client, CONSUMER_GROUPS, chosen,
                          "members" if members else "state" if states is not None else "offsets", verbose, output)
        elif delete:
            show_delete(client, chosen)
        elif delete_offsets:
            show_delete_offsets(client, chosen[0], topics, output)
        else:
            assert scenario is not None
            if dry_run and execute:
                raise click.UsageError("give --dry-run or --execute, not both")
            if not topics and not all_topics and scenario.kind != "file":
                raise click.UsageError("--reset-offsets needs --topic or --all-topics")
            if not execute and not dry_run:
                click.echo("WARN: No action will be performed as the --execute option is missing. "
                           "In a future major release, the default behavior of this command will be to prompt "
                           "the user before executing the reset rather than doing a dry run. You should add the "
                           "--dry-run option explicitly if you are scripting this command and want to keep the "
                           "current default behavior without prompting.", err=True)
            plans = {group_id: reset(client, group_id, topics, all_topics, scenario, execute) for group_id in chosen}
            show_plans(plans, output, export, with_group=len(group_ids) != 1)


def check_sub_options(action: str, offsets: bool, members: bool, states: str | None, types: str | None,
                      verbose: bool, with_topics: bool) -> None:
    """The sub-options each action takes, as kafka-consumer-groups checks them."""
    if with_topics and action == "--delete":
        raise click.UsageError("The consumer does not support topic-specific offset deletion from a consumer group.")
    if with_topics and action not in ("--reset-offsets", "--delete-offsets"):
        raise click.UsageError("--topic goes with --reset-offsets or --delete-offsets")
    if action == "--describe":
        if offsets + members + (states is not None) > 1:
            raise click.UsageError("--describe takes at most one of --offsets, --members, --state")
        if states:
            raise click.UsageError("--describe does not take a value for --state")
    elif offsets or members or verbose:
        raise click.UsageError("--offsets, --members and --verbose go with --describe")
    if states is not None and action not in ("--describe", "--list"):
        raise click.UsageError("--state goes with --describe or --list")
    if types is not None and action != "--list":
        raise click.UsageError("--type goes with --list")


def parse_names(text: str | None, known: tuple[str, ...], what: str, option: str) -> list[str]:
    """`stable,Empty` as Kafka's names (`Stable`, `Empty`), matched without regard to case; none
    for an option left out or given without a value."""
    if not text:
        return []
    by_lower = {name.lower(): name for name in known}
    names = [by_lower.get(item.strip().lower()) for item in text.split(",")]
    if None in names:
        label = {"state": "state", "type": "types"}[what]  # Kafka's own wording for each
        raise click.BadParameter(f"Invalid {label} list '{text}'. Valid {what}s are: {', '.join(known)}",
                                 param_hint=option)
    return sorted(set(names))


def show_list(client: Client, states: list[str], types: list[str], with_state: bool, with_type: bool,
              output: str) -> None:
    """Names only, or with --state/--type the GROUP TYPE STATE table of kafka-consumer-groups."""
    rows = [listing_row(listing) for listing in list_groups(client, states, types)]
    if output == "json":
        print_json(rows)
    elif with_state or with_type:
        print_table(list_columns(rows, with_type, with_state), rows, blank_line=False)
    else:
        for row in rows:
            click.echo(row["group"])


def offset_rows(client: Client, group: Group) -> list[dict[str, Any]]:
    """One row per partition the group has committed or a member holds, with lag to the log end and
    the leader epoch committed with the offset."""
    committed = committed_offsets(client, group.group_id)
    owners = {tp: m for m in group.members for tp in m.assignment}
    partitions = sorted(set(committed) | set(owners))
    ends: dict[tuple[str, int], int] = {}
    for topic in sorted({t for t, _ in partitions}):
        leaders = client.partitions(topic)
        wanted = {p: leaders[p] for t, p in partitions if t == topic and p in leaders}
        ends.update({(topic, p): o for p, o in list_offsets(client, topic, wanted, LATEST).items()})
    rows = []
    for tp in partitions:
        owner, found, end = owners.get(tp), committed.get(tp), ends.get(tp)
        current = found.offset if found else None
        rows.append({"group": group.group_id, "topic": tp[0], "partition": tp[1],
                     "leader_epoch": found.leader_epoch if found else None, "current_offset": current,
                     "log_end_offset": end, "lag": end - current if current is not None and end is not None else None,
                     "consumer_id": owner.member_id if owner else None, "host": owner.host if owner else None,
                     "client_id": owner.client_id if owner else None})
    return rows


CONSUMER_GROUPS = GroupKind("Consumer group", describe_group, offset_rows, offsets_columns, members_columns,
                            state_columns, empty_note_with_offsets=True)


def show_delete(client: Client, group_ids: list[str]) -> None:
    results = delete_groups(client, group_ids)
    failed = {g: code for g, code in results.items() if code}
    if failed:
        reasons = "; ".join(f"Group '{g}' could not be deleted due to: {ErrorCode(c).name}" for g, c in failed.items())
        raise ToolError(f"Deletion of some consumer groups failed: {reasons}")
    names = ", ".join(f"'{g}'" for g in group_ids)
    click.echo(f"Deletion of requested consumer groups ({names}) was successful.")


def reset(client: Client, group_id: str, topics: tuple[str, ...], all_topics: bool, scenario: Scenario,
          execute: bool) -> Plan:
    """Plan new offsets; with `execute`, commit them. Refused while the group has members, as Kafka."""
    group = describe_group(client, group_id)
    if group.state not in INACTIVE_STATES:
        raise ToolError(f"Assignments can only be reset if the group '{group_id}' is inactive, "
                        f"but the current state is {group.state}.")
    committed = {tp: c.offset for tp, c in committed_offsets(client, group_id).items()}
    if scenario.kind == "file":
        if group_id not in scenario.plans:
            raise ToolError(f"No reset plan for group {group_id} found.")
        wanted = scenario.plans[group_id]  # each offset as a shift by 0 from the file's
        plan = plan_reset(client, by_topic(list(wanted)), wanted, Scenario("shift"))
    else:
        specs = parse_topic_specs(topics) if topics else {t: None for t, _ in sorted(committed)}
        plan = plan_reset(client, specs, committed, scenario)
    if execute:
        for topic in sorted({t for t, _ in plan}):
            commit(client, group_id, topic, {p: o for (t, p), o in plan.items() if t == topic})
    return plan


def show_plans(plans: dict[str, Plan], output: str, export: bool, with_group: bool) -> None:
    """The new offsets: CSV with --export (one group: without the group column), else a table or JSON."""
    if export:
        click.echo(export_csv(plans, with_group))
        return
    rows = [{"group": g, "topic": t, "partition": p, "new_offset": o}
            for g, plan in plans.items() for (t, p), o in sorted(plan.items())]
    if output == "json":
        print_json(rows)
    else:
        print_table(RESET_COLUMNS, rows)


def show_delete_offsets(client: Client, group_id: str, topics: tuple[str, ...], output: str) -> None:
    """Kafka's report: a line for the request, then each partition's status; any failure exits 1."""
    error, statuses = delete_offsets(client, group_id, parse_topic_specs(topics))
    if error != ErrorCode.NONE:
        raise ToolError(f"deleting offsets of group {group_id}: {error.description} ({error.name})")
    failed = sorted(f"{t}-{p}" if p >= 0 else t for (t, p), code in statuses.items() if code)
    rows = [{"topic": t, "partition": p if p >= 0 else None,
             "status": "Successful" if code == ErrorCode.NONE else f"Error: {code.description} ({code.name})"}
            for (t, p), code in sorted(statuses.items())]
    if output == "json":
        print_json({"group": group_id, "partitions": rows})
    else:
        click.echo("Error: Encountered some partition-level error, see the follow-up details." if failed else
                   f"Request succeeded for deleting offsets from group {group_id}.")
        print_table(DELETE_OFFSETS_COLUMNS, rows)
    if failed:
        raise ToolError(f"offsets of group {group_id} not deleted for {', '.join(failed)}")