"""Kafka's checkpoint text files: the offset checkpoints of a log dir
(`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
`replication-offset-checkpoint`, `cleaner-offset-checkpoint`) and, through the same layer, a
partition's `leader-epoch-checkpoint`.

Kafka's text layout, one item per line ending in '\\n':

    0                       format version
    2                       number of entries
    orders 0 1234           one entry per line; here topic, partition, offset separated by single spaces
    orders 1 1180
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from kbroker.log.files import write_atomically

RECOVERY_POINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET = "log-start-offset-checkpoint"
REPLICATION_OFFSET = "replication-offset-checkpoint"
VERSION = 0

TopicPartition = tuple[str, int]


class CheckpointError(Exception):
    """A checkpoint file is malformed; Kafka refuses to start on one, and so do we."""


def format_lines(entries: Sequence[str]) -> bytes:
    """The file's bytes for entry lines already formatted."""
    return ("\n".join([str(VERSION), str(len(entries)), *entries]) + "\n").encode()


def read_lines(path: Path) -> list[list[str]] | None:
    """The entry lines split on whitespace, checked against the version and count lines; None when
    the file does not exist yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    if len(lines) < 2 or lines[0].strip() != str(VERSION):
        raise CheckpointError(f"{path}: unknown version line {lines[0] if lines else ''!r}")
    try:
        expected = int(lines[1])
    except ValueError:
        raise CheckpointError(f"{path}: malformed entry count {lines[1]!r}") from None
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != expected:
        raise CheckpointError(f"{path}: says {expected} entries, holds {len(entries)}")
    return entries


def format_checkpoint(offsets: Mapping[TopicPartition, int]) -> bytes:
    return format_lines([f"{topic} {partition} {offset}" for (topic, partition), offset in offsets.items()])


def write_checkpoint(path: Path, offsets: Mapping[TopicPartition, int]) -> None:
    """Replace the file whole (temporary file, fsync, rename, directory fsync)."""
    write_atomically(path, format_checkpoint(offsets))


def read_checkpoint(path: Path) -> dict[TopicPartition, int]:
    """The entries of an offset checkpoint file, or nothing when it does not exist yet."""
    entries = {}
    for fields in read_lines(path) or []:
        try:
            topic, partition, offset = fields
            entries[(topic, int(partition))] = int(offset)
        except ValueError:
            raise CheckpointError(f"{path}: malformed entry {' '.join(fields)!r}") from None
    return entries
