"""Offset checkpoint files: `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
`replication-offset-checkpoint`.

Kafka's text layout, one item per line ending in '\\n':

    0                       format version
    2                       number of entries
    orders 0 1234           topic, partition, offset separated by single spaces
    orders 1 1180
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from kbroker.log.files import write_atomically

RECOVERY_POINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET = "log-start-offset-checkpoint"
REPLICATION_OFFSET = "replication-offset-checkpoint"
VERSION = 0

TopicPartition = tuple[str, int]


class CheckpointError(Exception):
    """A checkpoint file is malformed; Kafka refuses to start on one, and so do we."""


def format_checkpoint(offsets: Mapping[TopicPartition, int]) -> bytes:
    lines = [str(VERSION), str(len(offsets))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in offsets.items()]
    return ("\n".join(lines) + "\n").encode()


def write_checkpoint(path: Path, offsets: Mapping[TopicPartition, int]) -> None:
    """Replace the file whole (temporary file, fsync, rename, directory fsync)."""
    write_atomically(path, format_checkpoint(offsets))


def read_checkpoint(path: Path) -> dict[TopicPartition, int]:
    """The entries of a checkpoint file, or nothing when it does not exist yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    lines = text.splitlines()
    if len(lines) < 2 or lines[0].strip() != str(VERSION):
        raise CheckpointError(f"{path}: unknown version line {lines[0] if lines else ''!r}")
    try:
        expected = int(lines[1])
        entries = {}
        for line in lines[2:]:
            if not line.strip():
                continue
            topic, partition, offset = line.split()
            entries[(topic, int(partition))] = int(offset)
    except ValueError as exc:
        raise CheckpointError(f"{path}: malformed entry: {exc}") from None
    if len(entries) != expected:
        raise CheckpointError(f"{path}: says {expected} entries, holds {len(entries)}")
    return entries
