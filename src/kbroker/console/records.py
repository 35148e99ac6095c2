"""A page of one partition's records, read by Fetch from an offset or from a time, and each value
shown as text, JSON or hex.

The console reads as a consumer without a group, with `read_committed`: records of open
transactions are not fetched and those of aborted ones are left out, as a Kafka consumer does. It
needs no state on the broker; a page is at most `limit` records, and the offset after the last one is where the next
page or the live tail goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kproto.messages import FetchRequest
from kproto.records import decode_batches

from kbroker.tools.admin import EARLIEST, LATEST, list_offsets
from kbroker.tools.client import Client, ToolError, check
from kbroker.tools.committed import ReadCommitted

FETCH_MAX_BYTES = 1024 * 1024  # one page of a browser table; a larger first batch still comes whole
MAX_LIMIT = 500
MAX_SHOWN_BYTES = 64 * 1024  # of one key or value in the page; the rest is cut, not hidden in the HTML
FORMATS = ("text", "json", "hex")


@dataclass
class Row:
    offset: int
    timestamp: int
    timestamp_type: str
    key: str | None
    headers: list[tuple[str, str | None]]
    value: str | None
    value_size: int
    raw_key: bytes | None = field(default=None, repr=False)  # as stored, for decoding through a schema
    raw_value: bytes | None = field(default=None, repr=False)
    key_schema: str | None = None  # what the key was decoded with (decode.py), or why it was not
    value_schema: str | None = None


@dataclass
class RecordPage:
    topic: str
    partition: int
    partitions: int
    start: int  # the log start offset
    end: int  # the high watermark
    rows: list[Row]
    next_offset: int


def show(data: bytes | None, fmt: str) -> str | None:
    """A key or value as the page shows it: UTF-8 text, indented JSON (text when it is not JSON), or hex."""
    if data is None:
        return None
    cut = data[:MAX_SHOWN_BYTES]
    if fmt == "hex":
        return cut.hex(" ")
    text = cut.decode("utf-8", errors="replace")
    if fmt == "json" and len(cut) == len(data):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


def start_offset(client: Client, topic: str, partition: int, leader: int, offset: int | None,
                 timestamp: int | None, limit: int) -> tuple[int, int, int]:
    """(log start, log end, where to read): the offset given, the first at or after the time given,
    or else the last `limit` records."""
    start = list_offsets(client, topic, {partition: leader}, EARLIEST)[partition]
    end = list_offsets(client, topic, {partition: leader}, LATEST)[partition]
    if timestamp is not None:
        found = list_offsets(client, topic, {partition: leader}, timestamp)[partition]
        return start, end, end if found < 0 else found
    if offset is not None:
        return start, end, min(max(offset, start), end)
    return start, end, max(start, end - limit)


def read_page(client: Client, topic: str, partition: int, offset: int | None = None, timestamp: int | None = None,
              limit: int = 50, fmt: str = "text") -> RecordPage:
    """Up to `limit` records of `topic`-`partition` from an offset, a time (ms) or the end."""
    limit = min(max(limit, 1), MAX_LIMIT)
    leaders = client.partitions(topic)
    if partition not in leaders:
        raise ToolError(f"topic {topic} has no partition {partition}")
    start, end, position = start_offset(client, topic, partition, leaders[partition], offset, timestamp, limit)
    rows = read_rows(client, topic, partition, leaders[partition], position, end, limit, fmt)
    return RecordPage(topic, partition, len(leaders), start, end, rows, rows[-1].offset + 1 if rows else position)


def read_rows(client: Client, topic: str, partition: int, leader: int, position: int, end: int, limit: int,
              fmt: str) -> list[Row]:
    """Records from `position` until `end` or `limit`, fetching on past batches of aborted or control
    records that show nothing."""
    rows: list[Row] = []
    while position < end and len(rows) < limit:
        request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=FETCH_MAX_BYTES, isolation_level=1,
                               topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                                   partition=partition, fetch_offset=position, partition_max_bytes=FETCH_MAX_BYTES)])])
        answer = client.send(request, node=leader, max_version=12, min_version=4)
        result = answer.responses[0].partitions[0]
        check(result.error_code, f"fetch from {topic}-{partition}")
        before, committed = position, ReadCommitted(result.aborted_transactions)
        for batch in decode_batches(result.records or b""):
            kind = "LogAppendTime" if batch.header.log_append_time else "CreateTime"
            shown = committed.shows(batch)
            for record in batch.records:
                if not shown or record.offset < position or len(rows) >= limit:
                    continue
                rows.append(Row(record.offset, record.timestamp, kind, show(record.key, fmt),
                                [(k, show(v, "text")) for k, v in record.headers], show(record.value, fmt),
                                len(record.value or b""), record.key, record.value))
            position = max(position, batch.header.next_offset) if len(rows) < limit else position
        if position == before:  # nothing readable there (e.g. a transaction still open)
            break
    return rows
