"""`kbroker get-offsets`: each partition's offset at a time, printed `topic:partition:offset`."""

from __future__ import annotations

import click

from kbroker.tools.admin import EARLIEST, LATEST, list_offsets
from kbroker.tools.client import ToolError
from kbroker.tools.common import bootstrap_option, connect, one_line_errors, output_option, print_json

NAMED_TIMES = {"earliest": EARLIEST, "latest": LATEST, "-2": EARLIEST, "-1": LATEST, "max-timestamp": -3}


def parse_time(text: str) -> int:
    """earliest, latest, max-timestamp, or milliseconds since the epoch."""
    if text in NAMED_TIMES:
        return NAMED_TIMES[text]
    if text.isdigit():
        return int(text)
    raise click.BadParameter(f"{text!r}: expected earliest, latest, max-timestamp or milliseconds", param_hint="--time")


def parse_partitions(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return sorted({int(item) for item in text.split(",") if item.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected partition numbers like 0,1,2", param_hint="--partitions") from None


@click.command("get-offsets")
@bootstrap_option
@output_option
@click.option("--topic", required=True, help="The topic.")
@click.option("--partitions", help="Comma-separated partitions (default: all).")
@click.option("--time", "when", default="latest", show_default=True,
              help="earliest, latest, max-timestamp, or a timestamp in ms: the first offset at or after it.")
@one_line_errors
def get_offsets(bootstrap: str, timeout: float, output: str, topic: str, partitions: str | None, when: str) -> None:
    """Print each partition's offset at a time, one `topic:partition:offset` line each.

    A partition with no record at or after the given timestamp prints an empty offset.

    \b
    Examples:
      kbroker get-offsets --topic orders
      kbroker get-offsets --topic orders --time earliest --partitions 0,1
      kbroker get-offsets --topic orders --time 1700000000000
    """
    timestamp = parse_time(when)
    wanted = parse_partitions(partitions)
    with connect(bootstrap, timeout) as client:
        leaders = client.partitions(topic)
        if wanted is not None:
            missing = [p for p in wanted if p not in leaders]
            if missing:
                raise ToolError(f"topic {topic} has no partition {missing[0]}")
            leaders = {p: leaders[p] for p in wanted}
        found = list_offsets(client, topic, leaders, timestamp)
    if output == "json":
        print_json([{"topic": topic, "partition": p, "offset": None if o < 0 else o} for p, o in sorted(found.items())])
        return
    for partition, offset in sorted(found.items()):
        click.echo(f"{topic}:{partition}:{'' if offset < 0 else offset}")
