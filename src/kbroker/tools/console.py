"""`kbroker console-producer` and `kbroker console-consumer`: lines in, records out, and back.

The consumer prints what kafka-console-consumer prints with its print.* properties: timestamp,
partition, offset, headers, key and value, tab-separated, `null` for a missing key or value.
Without --group it reads partitions directly; with --group it starts from the group's committed
offsets and commits what it printed (as a consumer with manual assignment does), without
joining the group.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Iterator, TextIO

import click
from kproto.messages import FetchRequest, FindCoordinatorRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest
from kproto.records import build_batch, decode_batches
from kproto.records.record import Record

from kbroker.tools.admin import EARLIEST, LATEST, list_offsets
from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.committed import ReadCommitted
from kbroker.tools.common import bootstrap_option, connect, one_line_errors
from kbroker.tools.partitioner import partition_for_key

BATCH_LINES = 500  # lines per produce request: few round trips, small requests
FETCH_MAX_BYTES = 4 * 1024 * 1024
FETCH_WAIT_MS = 500
ACKS = {"all": -1, "-1": -1, "1": 1}  # acks=0 gets no answer, so no error could be shown
GROUP_KEY_TYPE = 0


# -- producing

def parse_line(line: str, key_separator: str | None, headers: bool) -> tuple[bytes | None, bytes, list]:
    """A line as (key, value, headers): `h1:v1,h2:v2<TAB>key<SEP>value` with --parse-headers and a separator."""
    parsed_headers = []
    if headers:
        head, sep, line = line.partition("\t")
        if not sep:
            raise ToolError(f"no tab after the headers in line {line!r}")
        for item in filter(None, head.split(",")):
            name, _, value = item.partition(":")
            parsed_headers.append((name, None if value == "null" else value.encode()))
    if key_separator is None:
        return None, line.encode(), parsed_headers
    key, sep, value = line.partition(key_separator)
    if not sep:
        raise ToolError(f"no key separator {key_separator!r} in line {line!r}")
    return key.encode(), value.encode(), parsed_headers


def produce(client: Client, topic: str, leaders: dict[int, int], partition: int, lines: list[tuple], acks: int) -> None:
    now = int(time.time() * 1000)
    records = [Record(i, now, key, value, headers) for i, (key, value, headers) in enumerate(lines)]
    request = ProduceRequest(acks=acks, timeout_ms=30_000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=partition, records=build_batch(records))])])
    answer = client.send(request, node=leaders[partition], max_version=12, min_version=3)
    result = answer.responses[0].partition_responses[0]
    check(result.error_code, f"produce to {topic}-{partition}", getattr(result, "error_message", None))


@click.command("console-producer")
@bootstrap_option
@click.option("--topic", required=True, help="The topic to write to.")
@click.option("--key-separator", help="Split each line into key and value at this separator (parse.key).")
@click.option("--parse-headers", is_flag=True, help="Lines start with `name:value,...` headers and a tab.")
@click.option("--partition", type=click.IntRange(min=0), help="Write every record to this partition.")
@click.option("--acks", type=click.Choice(list(ACKS)), default="all", show_default=True)
@one_line_errors
def console_producer(bootstrap: str, timeout: float, topic: str, key_separator: str | None, parse_headers: bool,
                     partition: int | None, acks: str) -> None:
    """Send each line of standard input as a record.

    Keyed records go to the partition Kafka's own partitioner picks; records without a key go to
    one partition per batch, as the sticky partitioner does.

    \b
    Examples:
      echo hello | kbroker console-producer --topic orders
      printf 'k1:v1\\nk2:v2\\n' | kbroker console-producer --topic orders --key-separator :
    """
    with connect(bootstrap, timeout) as client:
        leaders = client.partitions(topic)
        if partition is not None and partition not in leaders:
            raise ToolError(f"topic {topic} has no partition {partition}")
        for chunk in chunks(sys.stdin, BATCH_LINES):
            by_partition: dict[int, list[tuple]] = {}
            sticky = random.randrange(len(leaders))
            for line in chunk:
                key, value, headers = parse_line(line, key_separator, parse_headers)
                target = partition if partition is not None else (
                    partition_for_key(key, len(leaders)) if key is not None else sticky)
                by_partition.setdefault(target, []).append((key, value, headers))
            for target, lines in sorted(by_partition.items()):
                produce(client, topic, leaders, target, lines, ACKS[acks])


def chunks(stream: TextIO, size: int) -> Iterator[list[str]]:
    chunk = []
    for line in stream:
        chunk.append(line.rstrip("\n").rstrip("\r"))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- consuming

def format_record(record: Record, partition: int, timestamp_type: str, options: dict) -> str:
    fields = []
    if options["print_timestamp"]:
        fields.append(f"{timestamp_type}:{record.timestamp}" if record.timestamp >= 0 else "NO_TIMESTAMP")
    if options["print_partition"]:
        fields.append(f"Partition:{partition}")
    if options["print_offset"]:
        fields.append(f"Offset:{record.offset}")
    if options["print_headers"]:
        fields.append(",".join(f"{k}:{text(v)}" for k, v in record.headers) or "NO_HEADERS")
    if options["print_key"]:
        fields.append(text(record.key))
    fields.append(text(record.value))
    return options["separator"].join(fields)


def text(data: bytes | None) -> str:
    return "null" if data is None else data.decode("utf-8", errors="replace")


def fetch(client: Client, topic: str, leader: int, positions: dict[int, int]) -> dict[int, tuple[int, bytes, list]]:
    """partition -> (error, record bytes, aborted transactions) for one fetch from `leader`."""
    request = FetchRequest(replica_id=-1, max_wait_ms=FETCH_WAIT_MS, min_bytes=1, max_bytes=FETCH_MAX_BYTES,
                           isolation_level=1, topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                               FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=FETCH_MAX_BYTES)
                               for p, o in sorted(positions.items())])])
    answer = client.send(request, node=leader, max_version=12, min_version=4)
    return {p.partition_index: (p.error_code, p.records or b"", p.aborted_transactions)
            for r in answer.responses for p in r.partitions}


def coordinator(client: Client, group: str) -> int:
    answer = client.send(FindCoordinatorRequest(key=group, key_type=GROUP_KEY_TYPE), max_version=3, min_version=1)
    check(answer.error_code, f"coordinator of group {group}", answer.error_message)
    return answer.node_id


def committed(client: Client, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    node = coordinator(client, group)
    request = OffsetFetchRequest(group_id=group, topics=[OffsetFetchRequest.OffsetFetchRequestTopic(
        name=topic, partition_indexes=partitions)])
    answer = client.send(request, node=node, max_version=7, min_version=2)
    check(answer.error_code, f"committed offsets of group {group}")
    return {p.partition_index: p.committed_offset for t in answer.topics for p in t.partitions if p.committed_offset >= 0}


def commit(client: Client, group: str, topic: str, positions: dict[int, int]) -> None:
    node = coordinator(client, group)
    request = OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=topic, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=p, committed_offset=o)
            for p, o in sorted(positions.items())])])
    answer = client.send(request, node=node, max_version=8, min_version=2)
    for t in answer.topics:
        for p in t.partitions:
            check(p.error_code, f"commit for group {group} on {topic}-{p.partition_index}")


@click.command("console-consumer")
@bootstrap_option
@click.option("--topic", required=True, help="The topic to read.")
@click.option("--from-beginning", is_flag=True, help="Start at the earliest offset, not the end.")
@click.option("--partition", type=click.IntRange(min=0), help="Read only this partition.")
@click.option("--offset", help="With --partition: earliest, latest or an offset to start at.")
@click.option("--group", help="Start from this group's committed offsets and commit what was printed.")
@click.option("--max-messages", type=click.IntRange(min=1), help="Stop after this many records.")
@click.option("--timeout-ms", type=click.IntRange(min=0), help="Stop when no record came for this long.")
@click.option("--print-key", is_flag=True)
@click.option("--print-headers", is_flag=True)
@click.option("--print-timestamp", is_flag=True)
@click.option("--print-partition", is_flag=True)
@click.option("--print-offset", is_flag=True)
@click.option("--key-separator", "separator", default="\t", show_default="tab", help="Between printed fields.")
@one_line_errors
def console_consumer(bootstrap: str, timeout: float, topic: str, from_beginning: bool, partition: int | None,
                     offset: str | None, group: str | None, max_messages: int | None, timeout_ms: int | None,
                     **options: object) -> None:
    """Print the records of a topic, one line each, until --max-messages or --timeout-ms (or Ctrl-C).

    \b
    Examples:
      kbroker console-consumer --topic orders --from-beginning --max-messages 10
      kbroker console-consumer --topic orders --partition 0 --offset 42 --print-offset --print-key
      kbroker console-consumer --topic orders --group audit --timeout-ms 5000
    """
    if offset is not None and partition is None:
        raise click.UsageError("--offset needs --partition")
    if offset is not None and from_beginning:
        raise click.UsageError("--offset and --from-beginning exclude each other")
    shown = 0
    with connect(bootstrap, timeout) as client:
        leaders = client.partitions(topic)
        if partition is not None:
            if partition not in leaders:
                raise ToolError(f"topic {topic} has no partition {partition}")
            leaders = {partition: leaders[partition]}
        positions = start_positions(client, topic, leaders, from_beginning, offset, group)
        last_record = time.monotonic()
        try:
            while max_messages is None or shown < max_messages:
                progressed = False
                for leader in sorted(set(leaders.values())):
                    mine = {p: o for p, o in positions.items() if leaders[p] == leader}
                    for p, (error, data, aborted) in fetch(client, topic, leader, mine).items():
                        check(error, f"fetch from {topic}-{p}")
                        committed = ReadCommitted(aborted)
                        for batch in decode_batches(data):
                            kind = "LogAppendTime" if batch.header.log_append_time else "CreateTime"
                            visible = committed.shows(batch)
                            for record in batch.records:
                                if not visible or record.offset < positions[p]:
                                    continue
                                if max_messages is not None and shown >= max_messages:
                                    break
                                click.echo(format_record(record, p, kind, options))
                                shown += 1
                                positions[p] = record.offset + 1
                                progressed = True
                            if max_messages is None or shown < max_messages:
                                positions[p] = max(positions[p], batch.header.next_offset)
                if progressed:
                    last_record = time.monotonic()
                elif timeout_ms is not None and (time.monotonic() - last_record) * 1000 >= timeout_ms:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if group is not None:
                commit(client, group, topic, positions)
    click.echo(f"Processed a total of {shown} messages", err=True)


def start_positions(client: Client, topic: str, leaders: dict[int, int], from_beginning: bool,
                    offset: str | None, group: str | None) -> dict[int, int]:
    if offset is not None and offset not in ("earliest", "latest"):
        if not offset.isdigit():
            raise click.BadParameter(f"{offset!r}: expected earliest, latest or an offset", param_hint="--offset")
        return {p: int(offset) for p in leaders}
    start = EARLIEST if from_beginning or offset == "earliest" else LATEST
    positions = list_offsets(client, topic, leaders, start)
    if group is not None and offset is None:
        positions.update(committed(client, group, topic, sorted(leaders)))
    return positions
