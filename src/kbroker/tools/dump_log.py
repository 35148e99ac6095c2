"""`kbroker dump-log FILE...`: the batches and records of `.log` segments and the entries of
`.index` / `.timeindex` files, printed line for line as kafka-dump-log prints them.

It reads files only (no broker), so it works on any partition directory Apache Kafka or kbroker
wrote: a segment is a run of record batches; an offset index holds (relative offset, position)
pairs and a time index (timestamp, relative offset) pairs, both big-endian and preallocated with
zeros: as in kafka-dump-log, a later entry back at the base offset marks the end.
"""

from __future__ import annotations

import struct
from pathlib import Path

import click
from kproto import ProtocolError
from kproto.records import decode_batch, read_batch_header, read_control_type, read_end_txn_marker
from kproto.records.header import HEADER_SIZE, MAGIC_OFFSET, batch_crc_ok

from kbroker.tools.client import ToolError
from kbroker.tools.common import one_line_errors

OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CONTROL_NAMES = {0: "ABORT", 1: "COMMIT"}
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # bound on one batch's decompressed records


def base_offset_of(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise ToolError(f"{path.name}: a segment file is named by its 20-digit base offset") from None


def dump_index(path: Path) -> list[str]:
    base, data = base_offset_of(path), path.read_bytes()
    lines = []
    for position in range(0, len(data) - len(data) % OFFSET_ENTRY.size, OFFSET_ENTRY.size):
        relative, file_position = OFFSET_ENTRY.unpack_from(data, position)
        if position and relative == 0:
            break  # the zeroed, preallocated rest of the file, where kafka-dump-log stops too
        lines.append(f"offset: {base + relative} position: {file_position}")
    return lines


def dump_time_index(path: Path) -> list[str]:
    base, data = base_offset_of(path), path.read_bytes()
    lines = []
    for position in range(0, len(data) - len(data) % TIME_ENTRY.size, TIME_ENTRY.size):
        timestamp, relative = TIME_ENTRY.unpack_from(data, position)
        if position and relative == 0:
            break
        lines.append(f"timestamp: {timestamp} offset: {base + relative}")
    return lines


def dump_segment(path: Path, print_data: bool) -> list[str]:
    data = path.read_bytes()
    lines = [f"Log starting offset: {base_offset_of(path)}"]
    position = 0
    while position + HEADER_SIZE <= len(data):
        if data[position + MAGIC_OFFSET] != 2:
            lines.append(f"Batch at position {position} has magic {data[position + MAGIC_OFFSET]}; "
                         "only magic 2 record batches are shown")
            break
        header = read_batch_header(data, position)
        if header.size < HEADER_SIZE or position + header.size > len(data):
            break
        lines.append(batch_line(data, position, header))
        if print_data:
            lines += record_lines(data, position, header)
        position += header.size
    if position < len(data):
        lines.append(f"Found {len(data) - position} invalid bytes at the end of {path.name}")
    return lines


def batch_line(data: bytes, position: int, header) -> str:
    sequence_end = -1 if header.base_sequence < 0 else header.base_sequence + header.last_offset_delta
    kind = "LogAppendTime" if header.log_append_time else "CreateTime"
    codec = CODECS[header.compression] if header.compression < len(CODECS) else str(header.compression)
    return (f"baseOffset: {header.base_offset} lastOffset: {header.last_offset} count: {header.record_count} "
            f"baseSequence: {header.base_sequence} lastSequence: {sequence_end} producerId: {header.producer_id} "
            f"producerEpoch: {header.producer_epoch} partitionLeaderEpoch: {header.partition_leader_epoch} "
            f"isTransactional: {str(header.is_transactional).lower()} isControl: {str(header.is_control).lower()} "
            f"deleteHorizonMs: {delete_horizon(header)} position: {position} {kind}: {header.max_timestamp} "
            f"size: {header.size} magic: {header.magic} compresscodec: {codec} crc: {header.crc} "
            f"isvalid: {str(batch_crc_ok(data, position, header)).lower()}")


def delete_horizon(header) -> str:
    """Compaction marks a batch whose tombstones may go; the base timestamp then holds that time."""
    return f"OptionalLong[{header.base_timestamp}]" if header.attributes & 0x40 else "OptionalLong.empty"


def record_lines(data: bytes, position: int, header) -> list[str]:
    try:
        batch = decode_batch(data, position, max_size=MAX_PAYLOAD_BYTES)
    except ProtocolError as exc:
        return [f"| records not readable: {exc}"]
    kind = "LogAppendTime" if header.log_append_time else "CreateTime"
    lines = []
    for record in batch.records:
        delta = record.offset - header.base_offset
        sequence = -1 if header.base_sequence < 0 else header.base_sequence + delta
        line = (f"| offset: {record.offset} {kind}: {record.timestamp} keySize: {size(record.key)} "
                f"valueSize: {size(record.value)} sequence: {sequence} "
                f"headerKeys: [{','.join(name for name, _ in record.headers)}]")
        if header.is_control:
            line += control_text(record)
        else:
            if record.key is not None:
                line += f" key: {record.key.decode('utf-8', errors='replace')}"
            if record.value is not None:
                line += f" payload: {record.value.decode('utf-8', errors='replace')}"
        lines.append(line)
    return lines


def control_text(record) -> str:
    try:
        kind = read_control_type(record.key)
        if kind in CONTROL_NAMES:
            marker = read_end_txn_marker(record)
            return f" endTxnMarker: {CONTROL_NAMES[kind]} coordinatorEpoch: {marker.coordinator_epoch}"
        return f" controlType: {kind}"
    except ProtocolError as exc:
        return f" control record not readable: {exc}"


def size(data: bytes | None) -> int:
    return -1 if data is None else len(data)


@click.command("dump-log")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--print-data-log", is_flag=True, help="Also print every record, with its key and value.")
@one_line_errors
def dump_log(files: tuple[Path, ...], print_data_log: bool) -> None:
    """Print the batches of .log segments and the entries of .index / .timeindex files.

    \b
    Examples:
      kbroker dump-log data/orders-0/00000000000000000000.log
      kbroker dump-log --print-data-log data/orders-0/00000000000000000000.log
      kbroker dump-log data/orders-0/00000000000000000000.index data/orders-0/00000000000000000000.timeindex
    """
    readers = {".log": lambda p: dump_segment(p, print_data_log), ".index": dump_index, ".timeindex": dump_time_index}
    for path in files:
        reader = readers.get(path.suffix)
        if reader is None:
            raise ToolError(f"{path}: not a .log, .index or .timeindex file")
        click.echo(f"Dumping {path}")
        for line in reader(path):
            click.echo(line)
