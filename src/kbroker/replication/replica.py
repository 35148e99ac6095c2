"""This broker's part in one partition: leader or follower, in which epoch, with which ISR.

A leader keeps each follower's progress as its fetches report it (Kafka's `Replica` state):
the follower's log end offset, and when it was last caught up, that is, when it fetched from
the log end the leader had at its previous fetch. The ISR shrinks by followers not caught up for
`replica.lag.time.max.ms` and grows by followers that reach the high watermark.

While an expansion waits for the controller, the high watermark counts the joining follower as in
sync already (Kafka's "maximal ISR"): otherwise a batch only the old members have could be
acknowledged, and the controller then commit an ISR holding a replica without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kbroker.log import PartitionLog


@dataclass
class FollowerProgress:
    log_end_offset: int = -1  # unknown until its first fetch
    last_caught_up_ms: float = 0.0
    last_fetch_ms: float = 0.0
    leader_end_at_last_fetch: int = -1

    def fetched(self, fetch_offset: int, leader_end: int, now_ms: float) -> None:
        """A fetch from `fetch_offset` arrived while the leader's log ended at `leader_end`."""
        if fetch_offset >= leader_end:
            self.last_caught_up_ms = now_ms
        elif fetch_offset >= self.leader_end_at_last_fetch >= 0:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.leader_end_at_last_fetch = leader_end
        self.last_fetch_ms = now_ms


@dataclass
class Replica:
    topic: str
    partition: int
    log: PartitionLog
    leader: int
    leader_epoch: int
    partition_epoch: int
    isr: list[int]
    replicas: list[int]
    is_leader: bool
    followers: dict[int, FollowerProgress] = field(default_factory=dict)
    isr_change_in_flight: bool = False
    pending_isr: list[int] | None = None  # the ISR asked of the controller, until it answers

    @property
    def maximal_isr(self) -> list[int]:
        """The committed ISR and any member being added: who must have a batch before it counts."""
        if self.pending_isr is None:
            return self.isr
        return self.isr + [b for b in self.pending_isr if b not in self.isr]

    @property
    def key(self) -> tuple[str, int]:
        return self.topic, self.partition

    def high_watermark_candidate(self) -> int:
        """The smallest log end offset among the ISR (the leader's own included): what every
        in-sync replica has. The leader's counts only as far as its `flush.messages` flushes
        are done, as Kafka's leader flushes an append before its high watermark can pass it."""
        ends = [self.log.readable_end]
        for broker_id in self.maximal_isr:
            if broker_id != self.leader:
                ends.append(self.followers.get(broker_id, FollowerProgress()).log_end_offset)
        return min(ends)

    def lagging(self, now_ms: float, max_lag_ms: float) -> list[int]:
        """Followers in the ISR not caught up for longer than `max_lag_ms`."""
        return [b for b in self.isr if b != self.leader
                and now_ms - self.followers.setdefault(b, FollowerProgress(last_caught_up_ms=now_ms)).last_caught_up_ms
                > max_lag_ms]

    def caught_up(self, broker_id: int) -> bool:
        """A follower outside the ISR that has everything below the high watermark, and
        everything of the current leader epoch (Kafka's rule for joining the ISR)."""
        progress = self.followers.get(broker_id)
        if progress is None or broker_id in self.isr or broker_id not in self.replicas:
            return False
        epoch_start = self.log.leader_epochs.entries[-1].start_offset if self.log.leader_epochs.entries else 0
        return progress.log_end_offset >= max(self.log.high_watermark, epoch_start)
