"""The tables of `kbroker groups` as kafka-consumer-groups (Kafka 4) lays them out: the columns
of each view, more of them with --verbose, their minimum widths, and how a cell reads."""

from __future__ import annotations

from typing import Any

import click

from kbroker.tools.group_admin import Group, Listing, Member, TopicPartitions

MISSING = "-"
KNOWN_TYPES = ("Consumer", "Classic", "Share")  # Kafka's GroupType names, as --type takes and prints them
KNOWN_STATES = ("PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty", "Assigning", "Reconciling")
KNOWN_NAMES = {name.lower(): name for name in KNOWN_TYPES + KNOWN_STATES}  # as ListGroups may spell them

Column = tuple[str, str, int]  # header, row key, minimum width


def offsets_columns(verbose: bool) -> list[Column]:
    epoch = [("LEADER-EPOCH", "leader_epoch", 15)] if verbose else []
    return [("GROUP", "group", 15), ("TOPIC", "topic", 15), ("PARTITION", "partition", 10), *epoch,
            ("CURRENT-OFFSET", "current_offset", 15), ("LOG-END-OFFSET", "log_end_offset", 15), ("LAG", "lag", 15),
            ("CONSUMER-ID", "consumer_id", 15), ("HOST", "host", 15), ("CLIENT-ID", "client_id", 0)]


def members_columns(rows: list[dict[str, Any]], verbose: bool) -> list[Column]:
    """GROUP-INSTANCE-ID only when some member has one; the epochs and assignments with --verbose."""
    instance = [("GROUP-INSTANCE-ID", "group_instance_id", 17)] if any(r["group_instance_id"] for r in rows) else []
    extra = [("CURRENT-EPOCH", "current_epoch", 15), ("CURRENT-ASSIGNMENT", "current_assignment", 20),
             ("TARGET-EPOCH", "target_epoch", 15), ("TARGET-ASSIGNMENT", "target_assignment", 20)] if verbose else []
    return [("GROUP", "group", 15), ("CONSUMER-ID", "consumer_id", 15), *instance, ("HOST", "host", 15),
            ("CLIENT-ID", "client_id", 15), ("#PARTITIONS", "partitions", 15), *extra]


def state_columns(verbose: bool) -> list[Column]:
    epochs = [("GROUP-EPOCH", "group_epoch", 15), ("TARGET-ASSIGNMENT-EPOCH", "target_assignment_epoch", 25)]
    return [("GROUP", "group", 15), ("COORDINATOR (ID)", "coordinator", 25),
            ("ASSIGNMENT-STRATEGY", "assignment_strategy", 20), ("STATE", "state", 20),
            *(epochs if verbose else []), ("#MEMBERS", "members", 0)]


def list_columns(rows: list[dict[str, Any]], with_type: bool, with_state: bool) -> list[Column]:
    """The group column is ten wider than the longest name (at least 15), as Kafka pads it."""
    group_width = max([15] + [len(r["group"]) for r in rows]) + 10
    return [("GROUP", "group", group_width), *([("TYPE", "type", 20)] if with_type else []),
            *([("STATE", "state", 20)] if with_state else [])]


def share_offsets_columns(verbose: bool) -> list[Column]:
    epoch = [("LEADER-EPOCH", "leader_epoch", 13)] if verbose else []
    return [("GROUP", "group", 15), ("TOPIC", "topic", 15), ("PARTITION", "partition", 10), *epoch,
            ("START-OFFSET", "start_offset", 13), ("LAG", "lag", 0)]


def share_members_columns(verbose: bool) -> list[Column]:
    epoch = [("MEMBER-EPOCH", "current_epoch", 13)] if verbose else []
    return [("GROUP", "group", 15), ("CONSUMER-ID", "consumer_id", 15), ("HOST", "host", 15),
            ("CLIENT-ID", "client_id", 15), ("#PARTITIONS", "partitions", 12), *epoch,
            ("ASSIGNMENT", "current_assignment", 0)]


def share_state_columns(verbose: bool) -> list[Column]:
    epochs = [("GROUP-EPOCH", "group_epoch", 12), ("ASSIGNMENT-EPOCH", "target_assignment_epoch", 17)]
    return [("GROUP", "group", 15), ("COORDINATOR (ID)", "coordinator", 25), ("STATE", "state", 15),
            *(epochs if verbose else []), ("#MEMBERS", "members", 0)]


SHARE_LIST_COLUMNS = [("GROUP", "group", 15), ("STATE", "state", 0)]
SHARE_DELETE_OFFSETS_COLUMNS = [("TOPIC", "topic", 15), ("STATUS", "status", 0)]
RESET_COLUMNS = [("GROUP", "group", 30), ("TOPIC", "topic", 30), ("PARTITION", "partition", 10),
                 ("NEW-OFFSET", "new_offset", 0)]
DELETE_OFFSETS_COLUMNS = [("TOPIC", "topic", 15), ("PARTITION", "partition", 10), ("STATUS", "status", 0)]


def by_topic(partitions: TopicPartitions | None) -> dict[str, list[int]] | None:
    """{topic: [partitions]}, the form an assignment takes in rows (None: no assignment known)."""
    if partitions is None:
        return None
    grouped: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        grouped.setdefault(topic, []).append(partition)
    return grouped


def assignment_text(assignment: dict[str, list[int]]) -> str:
    """`t1:0,1;t2:0` as Kafka prints an assignment; it sorts partitions as text (10 before 2)."""
    return ";".join(sorted(f"{topic}:" + ",".join(sorted(map(str, partitions)))
                           for topic, partitions in assignment.items())) or MISSING


def member_row(group: Group, member: Member) -> dict[str, Any]:
    return {"group": group.group_id, "consumer_id": member.member_id, "group_instance_id": member.instance_id,
            "host": member.host, "client_id": member.client_id, "partitions": len(member.assignment),
            "current_epoch": member.member_epoch, "current_assignment": by_topic(member.assignment),
            "target_epoch": group.target_assignment_epoch, "target_assignment": by_topic(member.target_assignment)}


def state_row(group: Group) -> dict[str, Any]:
    node, address = group.coordinator
    return {"group": group.group_id, "coordinator": f"{address}  ({node})",
            "assignment_strategy": group.protocol or None, "state": group.state, "group_epoch": group.group_epoch,
            "target_assignment_epoch": group.target_assignment_epoch, "members": len(group.members)}


def listing_row(listing: Listing) -> dict[str, Any]:
    """Type and state by Kafka's names, `Unknown` where the broker did not say or said otherwise."""
    return {"group": listing.group_id, "type": KNOWN_NAMES.get(listing.group_type.lower(), "Unknown"),
            "state": KNOWN_NAMES.get(listing.state.lower(), "Unknown"), "protocol_type": listing.protocol_type}


def cell(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return assignment_text(value)
    return str(value)


def print_table(columns: list[Column], rows: list[dict[str, Any]], blank_line: bool = True) -> None:
    """Left-aligned columns one space apart, each as wide as its minimum or its widest cell; the last
    column is not padded. A missing value prints as `-`."""
    cells = [[cell(row[key]) for _, key, _ in columns] for row in rows]
    widths = [max([minimum, len(header)] + [len(c[i]) for c in cells]) for i, (header, _, minimum) in enumerate(columns)]
    if blank_line:
        click.echo()
    for line in [[h for h, _, _ in columns]] + cells:
        click.echo(" ".join(value.ljust(width) for value, width in zip(line[:-1], widths)) + " " + line[-1])
