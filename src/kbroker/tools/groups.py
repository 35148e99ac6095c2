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
from kbroker.tools.reset_plan import Plan, Scenario, export_csv, parse_topic_specs, plan_reset, scenario_from

MISSING = "-"


@click.command("groups")
@bootstrap_option
@output_option
@click.option("--list", "do_list", is_flag=True, help="List every group.")
@click.option("--describe", is_flag=True, help="Describe groups: offsets and lag (default), --members or --state.")
@click.option("--delete", is_flag=True, help="Delete groups that have no active members.")
@click.option("--reset-offsets", is_flag=True, help="Reset committed offsets of an inactive group.")
@click.option("--delete-offsets", is_flag=True, help="Delete a group's committed offsets of --topic (OffsetDelete).")
@click.option("--group", "group_ids", multiple=True, metavar="GROUP", help="A group (repeatable).")
@click.option("--all-groups", is_flag=True, help="Every group, for --describe and --delete.")
@click.option("--members", is_flag=True, help="With --describe: one line per member.")
@click.option("--state", is_flag=True, help="With --describe: coordinator, strategy, state, member count.")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC[:P,...]",
              help="With --reset-offsets or --delete-offsets: a topic, optionally with partitions (repeatable).")
@click.option("--all-topics", is_flag=True, help="With --reset-offsets: every topic the group has committed.")
@click.option("--to-earliest", is_flag=True, help="Reset to the log start.")
@click.option("--to-latest", is_flag=True, help="Reset to the log end.")
@click.option("--to-offset", type=int, help="Reset to this offset (kept within the log).")
@click.option("--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss[+HH:MM]",
              help="Reset to the first offset at or after this time (local time without a zone).")
@click.option("--shift-by", type=int, help="Move each committed offset by N (negative: back).")
@click.option("--by-duration", metavar="PnDTnHnMnS", help="Reset to the first offset this long ago.")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path), metavar="CSV",
              help="Reset to the offsets of a plan written by --export (kept within the log).")
@click.option("--export", is_flag=True, help="With --reset-offsets: print the plan as CSV, to be read by --from-file.")
@click.option("--dry-run", is_flag=True, help="Print the new offsets only (the default).")
@click.option("--execute", is_flag=True, help="Commit the new offsets.")
@one_line_errors
def groups(bootstrap: str, timeout: float, output: str, do_list: bool, describe: bool, delete: bool,
           reset_offsets: bool, delete_offsets: bool, group_ids: tuple[str, ...], all_groups: bool, members: bool,
           state: bool, topics: tuple[str, ...], all_topics: bool, to_earliest: bool, to_latest: bool,
           to_offset: int | None, to_datetime: str | None, shift_by: int | None, by_duration: str | None,
           from_file: Path | None, export: bool, dry_run: bool, execute: bool) -> None:
    """List, describe and delete consumer groups; reset and delete their offsets.

    \b
    Examples:
      kbroker groups --list
      kbroker groups --describe --group orders-app
      kbroker groups --describe --group orders-app --members
      kbroker groups --describe --all-groups --state
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
    if delete_offsets and (len(group_ids) != 1 or not topics):
        raise click.UsageError("--delete-offsets takes one --group and at least one --topic")
    if export and not reset_offsets:
        raise click.UsageError("--export goes with --reset-offsets")
    scenario = scenario_from(to_earliest, to_latest, to_offset, to_datetime, shift_by, by_duration, from_file,
                             group_ids) if reset_offsets else None
    with connect(bootstrap, timeout) as client:
        if do_list:
            show_list(client, output)
            return
        chosen = list(group_ids) or ([g for g, _, _ in list_groups(client)] if all_groups else [])
        if not chosen and not all_groups:
            raise click.UsageError(f"{actions[0]} needs --group GROUP" + (" or --all-groups" if not reset_offsets else ""))
        if describe:
            show_describe(client, chosen, "members" if members else "state" if state else "offsets", output)
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


def show_list(client: Client, output: str) -> None:
    found = list_groups(client)
    if output == "json":
        print_json([{"group": g, "protocol_type": t, "state": s} for g, t, s in found])
        return
    for group_id, _, _ in found:
        click.echo(group_id)


def show_describe(client: Client, group_ids: list[str], view: str, output: str) -> None:
    documents = []
    for group_id in group_ids:
        group = describe_group(client, group_id)
        if group.state == "Dead":
            raise ToolError(f"Consumer group '{group_id}' does not exist.")
        if view == "state":
            rows = [state_row(group)]
        elif view == "members":
            rows = [{"group": group_id, "consumer_id": m.member_id, "host": m.host, "client_id": m.client_id,
                     "partitions": len(m.assignment)} for m in group.members]
        else:
            rows = offset_rows(client, group)
        if output == "json":
            documents.append({"group": group_id, "state": group.state, view: rows})
            continue
        if not group.members and view != "state":
            click.echo(f"\nConsumer group '{group_id}' has no active members.")
        print_table(VIEWS[view], rows)
    if output == "json":
        print_json(documents)


def state_row(group: Group) -> dict[str, Any]:
    node, address = group.coordinator
    return {"group": group.group_id, "coordinator": f"{address} ({node})", "assignment_strategy": group.protocol,
            "state": group.state, "members": len(group.members)}


def offset_rows(client: Client, group: Group) -> list[dict[str, Any]]:
    """One row per partition the group has committed or a member holds, with lag to the log end."""
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
        owner = owners.get(tp)
        current, end = committed.get(tp), ends.get(tp)
        rows.append({"group": group.group_id, "topic": tp[0], "partition": tp[1], "current_offset": current,
                     "log_end_offset": end,
                     "lag": end - current if current is not None and end is not None else None,
                     "consumer_id": owner.member_id if owner else None, "host": owner.host if owner else None,
                     "client_id": owner.client_id if owner else None})
    return rows


# Columns of each view as kafka-consumer-groups prints them: (header, row key, minimum width).
VIEWS = {
    "offsets": [("GROUP", "group", 15), ("TOPIC", "topic", 15), ("PARTITION", "partition", 10),
                ("CURRENT-OFFSET", "current_offset", 15), ("LOG-END-OFFSET", "log_end_offset", 15),
                ("LAG", "lag", 15), ("CONSUMER-ID", "consumer_id", 15), ("HOST", "host", 15),
                ("CLIENT-ID", "client_id", 0)],
    "members": [("GROUP", "group", 15), ("CONSUMER-ID", "consumer_id", 15), ("HOST", "host", 15),
                ("CLIENT-ID", "client_id", 15), ("#PARTITIONS", "partitions", 0)],
    "state": [("GROUP", "group", 15), ("COORDINATOR (ID)", "coordinator", 25),
              ("ASSIGNMENT-STRATEGY", "assignment_strategy", 20), ("STATE", "state", 15), ("#MEMBERS", "members", 0)],
    "reset": [("GROUP", "group", 30), ("TOPIC", "topic", 30), ("PARTITION", "partition", 10),
              ("NEW-OFFSET", "new_offset", 0)],
    "delete_offsets": [("TOPIC", "topic", 15), ("PARTITION", "partition", 10), ("STATUS", "status", 0)],
}


def print_table(columns: list[tuple[str, str, int]], rows: list[dict[str, Any]]) -> None:
    """A blank line, then left-aligned columns one space apart; a missing value prints as `-`."""
    cells = [[MISSING if row[key] is None else str(row[key]) for _, key, _ in columns] for row in rows]
    widths = [max([minimum, len(header)] + [len(c[i]) for c in cells]) for i, (header, _, minimum) in enumerate(columns)]
    click.echo()
    for line in [[h for h, _, _ in columns]] + cells:
        click.echo(" ".join(value.ljust(width) for value, width in zip(line[:-1], widths)) + " " + line[-1])


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
    committed = committed_offsets(client, group_id)
    if scenario.kind == "file":
        if group_id not in scenario.plans:
            raise ToolError(f"No reset plan for group {group_id} found.")
        wanted = scenario.plans[group_id]  # each offset as a shift by 0 from the file's
        specs: dict[str, list[int] | None] = {t: sorted(p for u, p in wanted if u == t) for t, _ in sorted(wanted)}
        plan = plan_reset(client, specs, wanted, Scenario("shift"))
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
        print_table(VIEWS["reset"], rows)


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
        print_table(VIEWS["delete_offsets"], rows)
    if failed:
        raise ToolError(f"offsets of group {group_id} not deleted for {', '.join(failed)}")