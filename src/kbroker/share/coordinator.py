"""The share coordinator (KIP-932): the persisted state of every share partition, in `__share_group_state`.

It answers the state APIs (InitializeShareGroupState, ReadShareGroupState, WriteShareGroupState,
DeleteShareGroupState, ReadShareGroupStateSummary), for other brokers and, in process, for this
broker's share partitions. Each change is appended to the topic before it takes effect in memory;
on start the topic is read back. A write becomes a ShareUpdate holding what it carries, and
after `share.coordinator.snapshot.update.records.per.snapshot` updates a ShareSnapshot holding
the combined state, so that compaction keeps a share partition's history short.

On a single node it serves every share partition and reads the whole topic at start-up. In a
cluster it serves the share partitions whose `__share_group_state` partition this broker leads,
reading a partition back when elected its leader and forgetting it on resigning, as the group and
transaction coordinators do; other keys are NOT_COORDINATOR.

The checks follow Kafka's coordinator shard: a negative partition is INVALID_REQUEST; a read or
write of a share partition never initialized is INVALID_REQUEST; a leader epoch older than the
stored one is FENCED_LEADER_EPOCH and a state epoch older than the stored one FENCED_STATE_EPOCH;
a topic or partition the broker does not know is UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from kproto import ErrorCode

from kbroker.share.state import (
    NO_DELIVERY_COMPLETE_COUNT, UNINITIALIZED_START_OFFSET, ShareState, StateBatch, combine, delivery_complete,
)
from kbroker.share.state_log import (
    SNAPSHOT, UPDATE, ShareStateLog, StateKey, apply, replay, state_records, tombstone_keys,
)

log = logging.getLogger("kbroker.share")

NEGATIVE_PARTITION = "The partition id cannot be a negative number."
READ_UNINITIALIZED = "Read operation on uninitialized share partition not allowed."
WRITE_UNINITIALIZED = "Write operation on uninitialized share partition not allowed."
MESSAGES = {
    ErrorCode.FENCED_LEADER_EPOCH: "The leader epoch in the request is older than the epoch on the broker.",
    ErrorCode.FENCED_STATE_EPOCH: "The coordinator rejected the request because the state epoch did not match.",
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: "This server does not host this topic-partition.",
    ErrorCode.NOT_COORDINATOR: "This is not the correct coordinator.",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None
    state: ShareState | None = None


def refused(error: ErrorCode, message: str | None = None) -> Outcome:
    return Outcome(error, message or MESSAGES[error])


class ShareCoordinator:
    def __init__(self, state_log: ShareStateLog, partition_count: Callable[[uuid.UUID], int | None],
                 updates_per_snapshot: int, clustered: bool = False) -> None:
        self.state_log = state_log
        self.partition_count = partition_count  # the partitions of a topic id, None for an unknown topic
        self.updates_per_snapshot = updates_per_snapshot
        self.states: dict[StateKey, ShareState] = {}
        self._updates: dict[StateKey, int] = {}  # ShareUpdate records since each key's last snapshot
        #: in a cluster, the `__share_group_state` partitions this broker leads; None: all of them
        self.served: set[int] | None = set() if clustered else None

    def load(self, partitions: list[int] | None = None) -> None:
        """Replay the records of the state partitions (all of them on a single node)."""
        before = len(self.states)
        for raw_key, raw_value in self.state_log.load(partitions):
            replay(self.states, self._updates, raw_key, raw_value)
        if len(self.states) > before:
            log.info("share coordinator loaded the state of %d share partitions", len(self.states) - before)

    def elected(self, partition: int) -> None:
        """This broker leads the state partition now: its share partitions come from the log."""
        if self.served is None or partition in self.served:
            return
        self.served.add(partition)
        self.load([partition])

    def resigned(self, partition: int) -> None:
        """Another broker leads the state partition now: its share partitions are its business."""
        if self.served is None or partition not in self.served:
            return
        self.served.discard(partition)
        for key in [k for k in self.states if self.state_log.partition_of(k) == partition]:
            del self.states[key]
            self._updates.pop(key, None)

    def keys_of(self, group_id: str) -> list[StateKey]:
        """The share partitions of the group that have state, loaded into memory or not."""
        return [key for key in self.states if key[0] == group_id]

    def _unknown(self, key: StateKey) -> bool:
        count = self.partition_count(key[1])
        return count is None or key[2] >= count

    def _refusal(self, key: StateKey, *, uninitialized: str | None = None, leader_epoch: int | None = None,
                 state_epoch: int | None = None, topic_known: bool = True) -> Outcome | None:
        """Kafka's checks, in its order: the coordinator, the partition, a state that must exist, the
        epochs, the topic."""
        if self.served is not None and self.state_log.partition_of(key) not in self.served:
            return refused(ErrorCode.NOT_COORDINATOR)
        if key[2] < 0:
            return refused(ErrorCode.INVALID_REQUEST, NEGATIVE_PARTITION)
        stored = self.states.get(key)
        if stored is None and uninitialized:
            return refused(ErrorCode.INVALID_REQUEST, uninitialized)
        if stored is not None and leader_epoch is not None and stored.leader_epoch > leader_epoch:
            return refused(ErrorCode.FENCED_LEADER_EPOCH)
        if stored is not None and state_epoch is not None and stored.state_epoch > state_epoch:
            return refused(ErrorCode.FENCED_STATE_EPOCH)
        if topic_known and self._unknown(key):
            return refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return None

    # -- the APIs

    def initialize(self, key: StateKey, state_epoch: int, start_offset: int) -> Outcome:
        """A fresh state at `start_offset` (a new share partition, or its offsets reset)."""
        refusal = self._refusal(key, state_epoch=state_epoch)
        if refusal is not None:
            return refusal
        stored = self.states.get(key)
        self._snapshot(key, ShareState(stored.snapshot_epoch + 1 if stored else 0, state_epoch, -1, start_offset))
        return Outcome()

    def read(self, key: StateKey, leader_epoch: int) -> Outcome:
        """The whole state, for the share partition's leader; a newer leader epoch is remembered."""
        refusal = self._refusal(key, uninitialized=READ_UNINITIALIZED, leader_epoch=leader_epoch)
        if refusal is not None:
            return refusal
        stored = self.states[key]
        if leader_epoch > stored.leader_epoch:
            self._update(key, ShareState(stored.snapshot_epoch, stored.state_epoch, leader_epoch,
                                         UNINITIALIZED_START_OFFSET))
        return Outcome(state=stored)

    def write(self, key: StateKey, state_epoch: int, leader_epoch: int, start_offset: int,
              batches: list[StateBatch], delivery_complete_count: int = NO_DELIVERY_COMPLETE_COUNT) -> Outcome:
        """A ShareUpdate of what the write carries, or every so often a ShareSnapshot of the whole."""
        refusal = self._refusal(key, uninitialized=WRITE_UNINITIALIZED, leader_epoch=leader_epoch,
                                state_epoch=state_epoch)
        if refusal is not None:
            return refusal
        stored = self.states[key]
        start = stored.start_offset if start_offset == -1 else start_offset
        if self._updates.get(key, 0) >= self.updates_per_snapshot:
            state = ShareState(stored.snapshot_epoch + 1, state_epoch, stored.leader_epoch if leader_epoch == -1
                               else leader_epoch, start, combine(stored.batches, batches, start))
            self._snapshot(key, state)
        else:
            self._update(key, ShareState(stored.snapshot_epoch, stored.state_epoch, leader_epoch, start_offset,
                                         combine((), batches, start)))
        stored = self.states[key]
        stored.delivery_complete_count = (delivery_complete(stored.batches)
                                          if delivery_complete_count == NO_DELIVERY_COMPLETE_COUNT and batches
                                          else delivery_complete_count)
        return Outcome()

    def delete(self, key: StateKey) -> Outcome:
        """Forget the share partition: tombstones for its records (its topic may be gone already)."""
        refusal = self._refusal(key, topic_known=False)
        if refusal is not None:
            return refusal
        if key in self.states:
            self.state_log.append(key, [(k, None) for k in tombstone_keys(key)])
            del self.states[key]
            self._updates.pop(key, None)
        return Outcome()

    def summary(self, key: StateKey) -> Outcome:
        """Start offset and epochs; a share partition never initialized answers its initial state."""
        refusal = self._refusal(key)
        if refusal is not None:
            return refusal
        return Outcome(state=self.states.get(key) or ShareState(0, 0, 0, UNINITIALIZED_START_OFFSET))

    # -- records

    def _snapshot(self, key: StateKey, state: ShareState) -> None:
        self.state_log.append(key, [state_records(key, state, SNAPSHOT)])
        self.states[key] = state
        self._updates[key] = 0

    def _update(self, key: StateKey, update: ShareState) -> None:
        """Append the ShareUpdate, then apply it as loading would."""
        self.state_log.append(key, [state_records(key, update, UPDATE)])
        apply(self.states, self._updates, key, UPDATE, update)
