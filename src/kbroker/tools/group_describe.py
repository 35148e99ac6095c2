"""`--describe` of `kbroker groups` and `kbroker share-groups`: each group in name order, one of
three views, and Kafka's notes on standard error; the kind of group says how to ask and what to print."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import click

from kbroker.tools.client import Client, ToolError
from kbroker.tools.common import print_json
from kbroker.tools.group_admin import REBALANCING_STATES, Group
from kbroker.tools.group_views import Column, member_row, print_table, state_row

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class GroupKind:
    label: str  # "Consumer group", "Share group": how Kafka's tool names one in its notes
    describe: Callable[[Client, str], Group]
    offset_rows: Callable[[Client, Group], Rows]
    offsets_columns: Callable[[bool], list[Column]]
    members_columns: Callable[[Rows, bool], list[Column]]
    state_columns: Callable[[bool], list[Column]]
    empty_note_with_offsets: bool  # kafka-share-groups says nothing of an empty group's offsets


def show_describe(client: Client, kind: GroupKind, group_ids: list[str], view: str, verbose: bool,
                  output: str) -> None:
    """To standard error, as Kafka: a note for a group without members or one that is
    rebalancing. A view without rows prints no table."""
    documents = []
    for group_id in sorted(group_ids):
        group = kind.describe(client, group_id)
        if group.state == "Dead":
            raise ToolError(f"{kind.label} '{group_id}' does not exist.")
        if view == "state":
            rows, columns = [state_row(group)], kind.state_columns(verbose)
        elif view == "members":
            rows = [member_row(group, m) for m in group.members]
            columns = kind.members_columns(rows, verbose)
        else:
            rows, columns = kind.offset_rows(client, group), kind.offsets_columns(verbose)
        if output == "json":
            documents.append({"group": group_id, "state": group.state, view: rows})
            continue
        if group.state == "Empty" and (view != "offsets" or kind.empty_note_with_offsets):
            click.echo(f"\n{kind.label} '{group_id}' has no active members.", err=True)
        elif group.state in REBALANCING_STATES:
            click.echo(f"\nWarning: {kind.label} '{group_id}' is rebalancing.", err=True)
        if rows:
            print_table(columns, rows)
    if output == "json":
        print_json(documents)
