"""Where `kbroker groups --reset-offsets` moves a group's offsets: the scenarios of
kafka-consumer-groups, each turned into one offset per partition within the log's bounds, and
the CSV plans it exports and reads back (`--export`, `--from-file`)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click

from kbroker.tools.admin import EARLIEST, LATEST, list_offsets
from kbroker.tools.client import Client, ToolError

# Java's Duration.parse as kafka-consumer-groups takes it: days, hours, minutes, seconds.
DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)


Plan = dict[tuple[str, int], int]  # (topic, partition) -> offset


@dataclass(frozen=True)
class Scenario:
    """One reset rule: `kind` is earliest, latest, current, offset, timestamp or shift, with its
    number, or file, with the offsets a CSV plan gives each group."""

    kind: str
    value: int = 0
    plans: dict[str, Plan] = field(default_factory=dict)


def scenario_from(to_earliest: bool, to_latest: bool, to_offset: int | None, to_datetime: str | None,
                  shift_by: int | None, by_duration: str | None, from_file: Path | None = None,
                  group_ids: tuple[str, ...] = (), now_ms: float | None = None, to_current: bool = False) -> Scenario:
    """The one scenario the options name; a usage error for none or several."""
    given = [s for s in (
        Scenario("earliest") if to_earliest else None,
        Scenario("latest") if to_latest else None,
        Scenario("current") if to_current else None,
        Scenario("offset", to_offset) if to_offset is not None else None,
        Scenario("timestamp", parse_datetime(to_datetime)) if to_datetime is not None else None,
        Scenario("shift", shift_by) if shift_by is not None else None,
        Scenario("timestamp", int((now_ms if now_ms is not None else datetime.now().timestamp() * 1000)
                                  - parse_duration(by_duration))) if by_duration is not None else None,
        Scenario("file", plans=read_plan(from_file, group_ids)) if from_file is not None else None,
    ) if s is not None]
    if len(given) != 1:
        raise click.UsageError("--reset-offsets needs exactly one of --to-earliest, --to-latest, --to-current, "
                               "--to-offset, --to-datetime, --shift-by, --by-duration, --from-file")
    return given[0]


def read_plan(path: Path, group_ids: tuple[str, ...]) -> dict[str, Plan]:
    """group -> plan from a CSV file as `--export` writes it: `topic,partition,offset` lines when
    one group is named and the first line reads that way, else `group,topic,partition,offset`."""
    try:
        lines = [row for row in csv.reader(io.StringIO(path.read_text())) if row]
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint="--from-file") from None
    plans: dict[str, Plan] = {}
    without_group = len(group_ids) == 1 and bool(lines) and len(lines[0]) == 3
    for number, row in enumerate(lines, 1):
        fields = [group_ids[0], *row] if without_group else row
        try:
            group, topic, partition, offset = fields
            plans.setdefault(group, {})[(topic, int(partition))] = int(offset)
        except ValueError:
            expected = "topic,partition,offset" if without_group else "group,topic,partition,offset"
            raise click.BadParameter(f"{path} line {number}: expected {expected}, got {','.join(row)!r}",
                                     param_hint="--from-file") from None
    return plans


def export_csv(plans: dict[str, Plan], with_group: bool) -> str:
    """The plans as kafka-consumer-groups exports them: `topic,partition,offset` lines for one
    group, `group,topic,partition,offset` lines otherwise."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for group, plan in plans.items():
        for (topic, partition), offset in sorted(plan.items()):
            writer.writerow([group, topic, partition, offset] if with_group else [topic, partition, offset])
    return out.getvalue()


def parse_datetime(text: str) -> int:
    """Milliseconds since the epoch of `2024-05-01T12:00:00.000`, with an optional zone (`Z`,
    `+02:00`); without one, local time, as kafka-consumer-groups reads it."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected YYYY-MM-DDTHH:mm:SS.sss", param_hint="--to-datetime") from None
    return int(moment.timestamp() * 1000)


def parse_duration(text: str) -> float:
    """Milliseconds in an ISO-8601 duration such as `P1DT2H30M` or `PT15.5S`."""
    found = DURATION.match(text)
    if not found or not any(found.groups()):
        raise click.BadParameter(f"{text!r}: expected an ISO-8601 duration like PT1H or P1DT30M",
                                 param_hint="--by-duration")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000


def parse_topic_specs(specs: tuple[str, ...]) -> dict[str, list[int] | None]:
    """`orders` (all partitions) or `orders:0,2` per --topic."""
    result: dict[str, list[int] | None] = {}
    for spec in specs:
        topic, sep, partitions = spec.partition(":")
        if not sep:
            result[topic] = None
            continue
        try:
            result[topic] = sorted({int(p) for p in partitions.split(",") if p.strip()})
        except ValueError:
            raise click.BadParameter(f"{spec!r}: expected TOPIC or TOPIC:0,1", param_hint="--topic") from None
    return result


def plan_reset(client: Client, specs: dict[str, list[int] | None], committed: Plan, scenario: Scenario) -> Plan:
    """(topic, partition) -> new offset. Like Kafka, offsets stay within [log start, log end], a
    time after the last record resets to the log end, and --to-current keeps a committed offset as
    it is (the log end where there is none)."""
    plan = {}
    for topic, wanted in specs.items():
        leaders = client.partitions(topic)
        missing = [p for p in wanted or [] if p not in leaders]
        if missing:
            raise ToolError(f"topic {topic} has no partition {missing[0]}")
        leaders = {p: leaders[p] for p in (wanted if wanted is not None else sorted(leaders))}
        starts = list_offsets(client, topic, leaders, EARLIEST)
        ends = list_offsets(client, topic, leaders, LATEST)
        at_time = list_offsets(client, topic, leaders, scenario.value) if scenario.kind == "timestamp" else {}
        for partition in leaders:
            start, end = starts[partition], ends[partition]
            if scenario.kind == "current":
                plan[(topic, partition)] = committed.get((topic, partition), end)
                continue
            if scenario.kind == "earliest":
                target = start
            elif scenario.kind == "latest":
                target = end
            elif scenario.kind == "offset":
                target = scenario.value
            elif scenario.kind == "timestamp":
                target = at_time[partition] if at_time[partition] >= 0 else end
            else:
                if (topic, partition) not in committed:
                    raise ToolError(f"Cannot shift offset for partition {topic}-{partition} since there is no "
                                    "current committed offset")
                target = committed[(topic, partition)] + scenario.value
            plan[(topic, partition)] = min(max(target, start), end)
    return plan
