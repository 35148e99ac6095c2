"""The options `kbroker groups` and `kbroker share-groups` share, as kafka-consumer-groups and
kafka-share-groups spell them; each command adds its own (--type, more reset scenarios)."""

from __future__ import annotations

from typing import Callable

import click


def group_options(kind: str, offsets: str, list_tables: str) -> Callable[[Callable], Callable]:
    """`kind`: the groups' name (consumer, share); `offsets`: what a group's offsets are called;
    `list_tables`: the options that make --list print a table."""
    options = [
        click.option("--list", "do_list", is_flag=True, help=f"List the {kind} groups (with {list_tables}: a table)."),
        click.option("--describe", is_flag=True, help="Describe groups: --offsets (default), --members or --state."),
        click.option("--delete", is_flag=True, help="Delete groups that have no active members."),
        click.option("--reset-offsets", is_flag=True, help=f"Reset the {offsets} of a group without members."),
        click.option("--delete-offsets", is_flag=True, help=f"Delete a group's {offsets} of --topic."),
        click.option("--group", "group_ids", multiple=True, metavar="GROUP", help="A group (repeatable)."),
        click.option("--all-groups", is_flag=True, help="Every group, for --describe, --delete and --reset-offsets."),
        click.option("--offsets", is_flag=True, help="With --describe: offsets and lag per partition (the default)."),
        click.option("--members", is_flag=True, help="With --describe: one line per member."),
        click.option("--state", "states", is_flag=False, flag_value="", default=None, metavar="[STATE,...]",
                     help="With --describe: coordinator, state, member count. With --list: the state column, "
                          "and only groups in these states when given."),
        click.option("--verbose", is_flag=True, help="With --describe: leader epochs, member epochs and "
                                                     "assignments, group epochs."),
        click.option("--topic", "topics", multiple=True, metavar="TOPIC[:P,...]",
                     help="With --reset-offsets or --delete-offsets: a topic, optionally with partitions "
                          "(repeatable)."),
        click.option("--all-topics", is_flag=True, help=f"With --reset-offsets: every topic the group has {offsets} of."),
        click.option("--to-earliest", is_flag=True, help="Reset to the log start."),
        click.option("--to-latest", is_flag=True, help="Reset to the log end."),
        click.option("--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss[+HH:MM]",
                     help="Reset to the first offset at or after this time (local time without a zone)."),
        click.option("--dry-run", is_flag=True, help="Print the new offsets only (the default)."),
        click.option("--execute", is_flag=True, help="Set the new offsets."),
    ]

    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func
    return apply
