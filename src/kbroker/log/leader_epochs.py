"""A partition's leader-epoch cache, kept in `leader-epoch-checkpoint` in the partition's dir.

Each entry says that a leader epoch began at an offset; entries rise in both epoch and offset.
This is what OffsetForLeaderEpoch answers from, and how a consumer or replica finds out whether
the log it read was later truncated. The file uses Kafka's checkpoint layout with
`<epoch> <start offset>` entry lines:

    0
    2
    0 0
    1 4711

As in Kafka's LeaderEpochFileCache, a new entry is written to disk (fsynced) before any batch of
its epoch is appended; removing entries (truncation, a moved log start) is written when it happens.
A leader's new entry may wait (`pending`) until its first batch or a clean stop: creating or
reopening thousands of partitions then costs no fsync each. A log that never held a batch gets
no file at all: a stop drops its pending entry (no position a client holds can be truncated).
An entry lost in a crash before then names an epoch no batch carries; the epoch number may then
be led again after the restart.
A new leader's entry replaces every entry at or past its start offset, which is how a truncated
log's epochs past its end go.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import NamedTuple

from kbroker.log.checkpoint import CheckpointError, format_lines, read_lines
from kbroker.log.files import write_atomically

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


def format_leader_epochs(entries: list[EpochEntry]) -> bytes:
    return format_lines([f"{e.epoch} {e.start_offset}" for e in entries])


def read_leader_epochs(path: Path) -> list[EpochEntry]:
    """The file's entries; none when it does not exist."""
    entries = []
    for fields in read_lines(path) or []:
        try:
            epoch, start = fields
            entries.append(EpochEntry(int(epoch), int(start)))
        except ValueError:
            raise CheckpointError(f"{path}: malformed entry {' '.join(fields)!r}") from None
    return entries


class LeaderEpochCache:
    """The (epoch, start offset) entries of one partition, oldest first, and their file."""

    def __init__(self, directory: Path, read: bool = True) -> None:
        """`read` false: a new partition's, with no file to look for."""
        self._directory = directory  # the partition's own; its file's Path is made when asked for
        self._entries = read_leader_epochs(self.path) if read else []
        self._saved = list(self._entries)
        self.pending = False  # entries were added that are not on disk yet

    @property
    def path(self) -> Path:
        return self._directory / LEADER_EPOCH_CHECKPOINT

    @property
    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch with an entry, or -1 when there is none."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that `epoch` begins at `start_offset`, unless the latest entry already says so;
        `save` writes it.

        Entries of a later-or-equal epoch, or starting at or past the offset, are dropped first, so
        the entries stay increasing in both (Kafka's rule for a leader taking over a log)."""
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset})")
        latest = self._entries[-1] if self._entries else None
        if latest is not None and latest.epoch == epoch and latest.start_offset <= start_offset:
            return
        while self._entries and (self._entries[-1].epoch >= epoch or self._entries[-1].start_offset >= start_offset):
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) as Kafka answers OffsetForLeaderEpoch.

        The latest epoch ends at the log end offset. Another known epoch ends where the next
        higher epoch starts, and so does an epoch between two known ones (answered with the epoch
        below it). An epoch below the first entry ends where the first entry starts (its data is
        gone); an unknown epoch above all, or -1, gives (-1, -1).
        """
        if epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if epoch == self.latest_epoch:
            return epoch, log_end_offset
        epochs = [e.epoch for e in self._entries]
        higher = bisect_right(epochs, epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if higher == 0:
            return epoch, self._entries[0].start_offset
        return self._entries[higher - 1].epoch, self._entries[higher].start_offset

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch the batch holding `offset` was appended in: that of the last entry starting at or
        before it; -1 below the first entry."""
        covering = bisect_right([e.start_offset for e in self._entries], offset)
        return self._entries[covering - 1].epoch if covering else UNDEFINED_EPOCH

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at `start_offset`: the entry covering it moves there, earlier ones go."""
        covering = bisect_right([e.start_offset for e in self._entries], start_offset)
        if covering:
            epoch = self._entries[covering - 1].epoch
            self._entries[:covering] = [EpochEntry(epoch, start_offset)]

    def unsaved(self) -> bytes | None:
        """The file's bytes when entries wait to be written, for a caller writing many files at
        once (then `mark_saved`)."""
        return format_leader_epochs(self._entries) if self._entries != self._saved else None

    def drop_pending(self) -> None:
        """Forget the entries added since the last save, for a log closing with no batch of theirs."""
        self._entries = list(self._saved)
        self.pending = False

    @property
    def saved_any(self) -> bool:
        return bool(self._saved)

    def mark_saved(self) -> None:
        self._saved = list(self._entries)
        self.pending = False

    def save(self, defer_additions: bool = False) -> None:
        """Write the file when the entries differ from what it holds; with `defer_additions`, entries
        only added after those on disk wait (`pending`) for a later save."""
        if self._entries == self._saved:
            self.pending = False
        elif defer_additions and self._entries[:len(self._saved)] == self._saved:
            self.pending = True
        else:
            write_atomically(self.path, format_leader_epochs(self._entries))
            self.mark_saved()
