"""Consumer-group members as child processes (group_member.py), watched from the test.

Each member's output is read on a thread into its latest assignment and the records it saw, so a
test can wait for "every partition owned by exactly one live member" and check no record was lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from confluent_kafka import Producer

SCRIPT = Path(__file__).with_name("group_member.py")


class Member:
    def __init__(self, client: str, bootstrap: str, topic: str, group: str, assignor: str | None = None,
                 instance: str | None = None, session_ms: int = 6000, protocol: str = "classic") -> None:
        command = [sys.executable, str(SCRIPT), client, bootstrap, topic, group, "--session-ms", str(session_ms),
                   "--protocol", protocol]
        if assignor:
            command += ["--assignor", assignor]
        if instance:
            command += ["--instance", instance]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assignment: list[int] | None = None
        self.assignments: list[list[int]] = []
        self.rebalances: list[list[int]] = []  # librdkafka's on_assign calls
        self.seen: set[tuple[int, str]] = set()
        self.reads: list[tuple[int, str]] = []  # every record read, in order, repeats included
        self.uncommitted: set[tuple[int, str]] = set()  # read in a batch whose commit was refused
        self.held: dict[int, float] = {}  # partition -> since when (the shared monotonic clock)
        self.ownership: list[tuple[int, float, float]] = []  # (partition, from, until), closed ones
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            with self.lock:
                if "assigned" in event:
                    self.assignment = event["assigned"]
                    self.assignments.append(event["assigned"])
                elif "on_assign" in event:
                    self.rebalances.append(event["on_assign"])
                elif "p" in event:
                    self.seen.add((event["p"], event["v"]))
                    self.reads.append((event["p"], event["v"]))
                elif "uncommitted" in event:
                    self.uncommitted.update((p, v) for p, v in event["uncommitted"])
                if "gained" in event:
                    for p in event["gained"]:
                        self.held.setdefault(p, event["t"])
                elif "released" in event:
                    self._release(event["released"], event["t"])

    def _release(self, partitions: Iterable[int], at: float) -> None:
        for p in partitions:
            if p in self.held:
                self.ownership.append((p, self.held.pop(p), at))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM: the member closes its consumer, leaving the group."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)

    def kill(self) -> None:
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.reader.join(10)
        with self.lock:  # a killed member consumes nothing after its death
            self._release(list(self.held), time.monotonic())

    def stderr_tail(self) -> str:
        if self.alive:
            return ""
        return (self.proc.stderr.read() or "")[-2000:]


def stop_all(members: Iterable[Member]) -> None:
    for member in members:
        if member.alive:
            member.kill()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def owned_once(members: list[Member], partitions: int) -> bool:
    """Every partition owned by exactly one of these members, by their latest assignments."""
    owned: list[int] = []
    for member in members:
        with member.lock:
            owned += member.assignment or []
    return sorted(owned) == list(range(partitions))


def owned_twice_at_once(members: Iterable[Member]) -> list[tuple[int, float, float]]:
    """Overlaps in time between two members' ownership of one partition, from their rebalance
    callbacks (a partition still held counts as held until now)."""
    now = time.monotonic()
    spans: list[tuple[int, float, float, int]] = []
    for index, member in enumerate(members):
        with member.lock:
            spans += [(p, start, end, index) for p, start, end in member.ownership]
            spans += [(p, start, now, index) for p, start in member.held.items()]
    overlaps = []
    latest: dict[int, tuple[float, int]] = {}  # partition -> the latest end so far, and whose
    for p, start, end, who in sorted(spans):
        if p in latest and start < latest[p][0] and latest[p][1] != who:
            overlaps.append((p, start, latest[p][0]))
        if p not in latest or end > latest[p][0]:
            latest[p] = (end, who)
    return overlaps


def seen_by(members: Iterable[Member]) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for member in members:
        with member.lock:
            out |= member.seen
    return out


def read_twice(members: Iterable[Member]) -> set[tuple[int, str]]:
    """Records read more than once although their commit went through: a member started below a
    committed position. A record of a batch whose commit was refused may be read again."""
    reads: Counter[tuple[int, str]] = Counter()
    uncommitted: set[tuple[int, str]] = set()
    for member in members:
        with member.lock:
            reads.update(member.reads)
            uncommitted |= member.uncommitted
    return {record for record, n in reads.items() if n > 1} - uncommitted


def produce_round(bootstrap: str, topic: str, label: str, partitions: int, per_partition: int) -> set[tuple[int, str]]:
    """Send `per_partition` records to each partition; returns the (partition, value) pairs sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent = set()
    for p in range(partitions):
        for i in range(per_partition):
            value = f"{label}-{p}-{i}"
            producer.produce(topic, value=value.encode(), partition=p)
            sent.add((p, value))
    assert producer.flush(30) == 0, "records left unsent"
    return sent


def leave_then_crash(bootstrap: str, topic: str, members: list[Member], partitions: int, session_s: float,
                     first_wait: float) -> None:
    """The shared scenario: three members share every partition, one leaves, one is killed.

    After each step every partition is owned by exactly one live member (the killed member's
    within its session timeout plus slack), and every record produced so far has been consumed;
    at no time did two members hold one partition.
    """
    sent = produce_round(bootstrap, topic, "a", partitions, 20)
    try:
        wait_until(lambda: all(m.assignment for m in members) and owned_once(members, partitions), first_wait,
                   "three members sharing every partition")
        wait_until(lambda: sent <= seen_by(members), 30, "the first round consumed")

        leaving, crashing, staying = members
        leaving.stop()
        wait_until(lambda: owned_once([crashing, staying], partitions), 30, "two members after a leave")
        sent |= produce_round(bootstrap, topic, "b", partitions, 20)
        wait_until(lambda: sent <= seen_by(members), 30, "the second round consumed")

        crashing.kill()
        wait_until(lambda: owned_once([staying], partitions), session_s + 20,
                   "the survivor owning every partition after the crash")
        sent |= produce_round(bootstrap, topic, "c", partitions, 20)
        wait_until(lambda: sent <= seen_by(members), 30, "the last round consumed")
        assert all(m.ownership or m.held for m in members), "a member's rebalance callbacks went unreported"
        assert not owned_twice_at_once(members), owned_twice_at_once(members)
    except AssertionError:
        details = [(m.assignments, m.stderr_tail()) for m in members]
        raise AssertionError(f"member assignments and errors: {details}") from None
