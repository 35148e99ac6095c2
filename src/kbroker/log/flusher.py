"""Log flushes off the event loop: the fsyncs of a segment roll and of `flush.ms`, on a thread of their own.

When a segment rolls, Kafka schedules a one-off `flush-log` task that fsyncs the producer
snapshot written at the roll and the segments up to the new segment's base offset, and only then
moves the recovery point there; its log flusher thread likewise fsyncs the logs whose `flush.ms`
has passed. Done inline, fsyncing a rolled 256 MiB segment held the event loop for close to
100 ms, a pause every request in flight waited out. Here each log manager has one `log-flush`
thread that runs those jobs in order. The thread touches no state of the log: it fsyncs files by
path through descriptors of its own (the handle cache is per thread) and marks the job finished;
the partition log takes the result the next time its recovery point is read.

A produce append that reaches `flush.messages` is flushed here too. In Kafka it flushes on its request
thread before it is answered and before the high watermark moves past it; here its answer waits
for the job (the broker awaits it) and the partition's high watermark stays below it until the
job is done, while the event loop goes on serving everything else.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from kbroker.log.files import fsync_if_exists
from kbroker.log.handles import OUT_OF_DESCRIPTORS

log = logging.getLogger("kbroker.log")


class Outcome(enum.Enum):
    PENDING = "pending"
    DONE = "done"  # every file that still exists is on disk: the recovery point may move
    FAILED = "failed"  # an fsync failed: a storage error, the pages may be lost
    DEFERRED = "deferred"  # out of descriptors: nothing is known, the next flush covers it


class FlushJob:
    """The files to fsync (after a roll: the segments not yet known flushed and the snapshot written
    at the roll), then their dir, which holds any new segment and the snapshot's rename; once all
    are done, `recovery_point` (a roll's new base offset, or the log end when it was submitted) is good.

    An `awaited` job (`flush.messages`) has an append waiting on it: its owner, the partition log,
    is told on its own thread through the flusher's `notify` (the thread itself never touches it)."""

    __slots__ = ("awaited", "context", "directory", "error", "files", "outcome", "owner", "recovery_point")

    def __init__(self, files: Sequence[Path], directory: Path, recovery_point: int, context: str,
                 owner: object = None, awaited: bool = False) -> None:
        self.files = files
        self.directory = directory
        self.recovery_point = recovery_point
        self.context = context
        self.owner = owner
        self.awaited = awaited
        self.outcome = Outcome.PENDING
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            for path in self.files:
                fsync_if_exists(path)
            fsync_if_exists(self.directory)
        except OSError as exc:
            self.error = exc
            if exc.errno in OUT_OF_DESCRIPTORS:
                log.warning("%s: log flush deferred to the next one: %s", self.context, exc)
                self.outcome = Outcome.DEFERRED
            else:
                log.error("%s: log flush failed, the recovery point stays at the last flush and "
                          "appends are refused: %s", self.context, exc)
                self.outcome = Outcome.FAILED
            return
        self.outcome = Outcome.DONE


class LogFlusher:
    """One log manager's `log-flush` thread, started with its first job; jobs run in order."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[FlushJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        # Called on the flush thread with each awaited job once it has run: the broker hands it
        # to its event loop. Without it, a log takes its finished jobs when it next looks.
        self.notify: Callable[[FlushJob], None] | None = None

    def submit(self, job: FlushJob) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-flush", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def drain(self) -> None:
        """Return once every job submitted so far has run."""
        self._jobs.join()

    def close(self) -> None:
        """Run what is queued, then end the thread (a later job starts another)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job.run()
                if job.awaited and self.notify is not None:
                    self.notify(job)
            finally:
                self._jobs.task_done()
        self._jobs.task_done()
