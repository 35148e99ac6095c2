"""The share partitions of this broker, their acquisition-lock timers, and the share sessions.

A share partition comes into being the first time its group fetches it, starting where its
group's `share.auto.offset.reset` says: the partition's high watermark (latest, the default), its
log start (earliest), or the first record at or after now minus a duration (by_duration:, the
high watermark when there is none). Its acquisition locks last the group's
`share.record.lock.duration.ms`, read again at every fetch. Each partition keeps one
timer, for its earliest lock; when it fires, the records whose locks ran out go back to the group
and fetches of that group waiting for records are woken, as are they when a member releases
records or ends its share session.

With a share coordinator (a single node), each share partition takes up the state the
coordinator kept when it comes into being, and after every change (an acquisition, an
acknowledgement, a release, a lock running out) writes its window back, as Kafka's share-partition
leader does through its persister: a restart then delivers nothing acknowledged again, and what
was acquired is available again with its deliveries counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Callable, Iterator, Protocol

from kproto import ErrorCode

from kbroker.groups.group_configs import BY_DURATION, EARLIEST, GroupSettings, duration_ms
from kbroker.groups.share_groups import ShareConfig
from kbroker.log import PartitionLog
from kbroker.share.coordinator import ShareCoordinator
from kbroker.share.partition import SharePartition
from kbroker.share.sessions import ShareSessions
from kbroker.share.state import StateBatch
from kbroker.share.state_log import StateKey

log = logging.getLogger("kbroker.share")
ShareKey = tuple[str, str, int]  # (group id, topic, partition)
INITIAL_STATE_EPOCH = 0


class InitializedPartitions(Protocol):
    """The group coordinator's record of a group's share partitions with state, which Kafka keeps
    as ShareGroupStatePartitionMetadata."""

    def initialized(self, group_id: str, topic: str, index: int) -> None: ...

    def deleted(self, group_id: str, topic: str, index: int) -> None: ...


def now_ms() -> int:
    return int(time.time() * 1000)


def start_offset(reset: str, log: PartitionLog, now: int) -> int:
    """Where a new share partition starts under the group's `share.auto.offset.reset`."""
    if reset == EARLIEST:
        return log.log_start_offset
    kind, _, duration = reset.partition(":")
    if kind == BY_DURATION:
        found = log.offset_for_timestamp(now - (duration_ms(duration) or 0))
        if found is not None:
            return min(found[0], log.high_watermark)
    return log.high_watermark


class SharePartitions:
    def __init__(self, config: ShareConfig, settings: Callable[[str], GroupSettings],
                 coordinator: ShareCoordinator | None = None, clock: Callable[[], int] = now_ms,
                 groups: InitializedPartitions | None = None) -> None:
        self.config = config
        self.settings = settings
        self.coordinator = coordinator
        self.groups = groups
        self.clock = clock
        self.partitions: dict[ShareKey, SharePartition] = {}
        #: where each share partition's state is kept, at which state and leader epoch, and what was written last
        self._stored: dict[ShareKey, tuple[StateKey, int, int]] = {}
        self._written: dict[ShareKey, tuple] = {}
        self.sessions = ShareSessions()
        self._timers: dict[ShareKey, asyncio.TimerHandle] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}

    def get(self, group_id: str, topic: str, topic_id: uuid.UUID, index: int, plog: PartitionLog) -> SharePartition:
        """The group's share partition of a topic partition, made on first use from the state the
        coordinator kept; records the log no longer holds leave it."""
        key = (group_id, topic, index)
        settings = self.settings(group_id)
        partition = self.partitions.get(key)
        if partition is None:
            partition = self.partitions[key] = SharePartition(
                start_offset(settings.share_auto_offset_reset, plog, self.clock()),
                lock_duration_ms=settings.share_record_lock_duration_ms,
                delivery_limit=self.config.delivery_count_limit, max_locks=self.config.partition_max_record_locks)
            if self.coordinator is not None:
                self._take_up(key, (group_id, topic_id, index), partition, plog)
        partition.lock_duration_ms = settings.share_record_lock_duration_ms
        partition.move_log_start(plog.log_start_offset)
        return partition

    def reset(self, group_id: str, topic: str, topic_id: uuid.UUID, index: int, offset: int) -> None:
        """AlterShareGroupOffsets: the share partition starts again at `offset`, nothing in flight; its
        kept state starts again too, in a new state epoch."""
        key = (group_id, topic, index)
        self.drop(group_id, topic, index)
        settings = self.settings(group_id)
        partition = self.partitions[key] = SharePartition(
            offset, lock_duration_ms=settings.share_record_lock_duration_ms,
            delivery_limit=self.config.delivery_count_limit, max_locks=self.config.partition_max_record_locks)
        if self.coordinator is None:
            return
        state_key = (group_id, topic_id, index)
        kept = self.coordinator.summary(state_key).state
        epoch = kept.state_epoch + 1 if kept is not None else INITIAL_STATE_EPOCH
        outcome = self.coordinator.initialize(state_key, epoch, offset)
        if outcome.error != ErrorCode.NONE:
            log.warning("share state of %s not reset: %s %s", state_key, outcome.error.name, outcome.message)
            return
        self._stored[key] = (state_key, epoch, max(kept.leader_epoch, 0) if kept is not None else 0)
        self._written[key] = partition.persisted()
        self._initialized(key)

    def drop_group(self, group_id: str) -> None:
        """The group was deleted: forget all its share partitions and their kept state, whether
        fetched since the broker started or not."""
        for topic, index, _ in list(self.of_group(group_id)):
            self.drop(group_id, topic, index)
        for state_key in self.coordinator.keys_of(group_id) if self.coordinator is not None else ():
            self.coordinator.delete(state_key)

    def delete(self, group_id: str, topic: str, topic_id: uuid.UUID, index: int) -> None:
        """DeleteShareGroupOffsets: forget the share partition and its kept state, fetched since the
        broker started or not."""
        self.drop(group_id, topic, index)
        if self.coordinator is not None:
            self.coordinator.delete((group_id, topic_id, index))
        if self.groups is not None:
            self.groups.deleted(group_id, topic, index)

    def drop(self, group_id: str, topic: str, index: int) -> None:
        """Forget the group's share partition in memory; its next fetch takes it up again."""
        key = (group_id, topic, index)
        self.partitions.pop(key, None)
        self._stored.pop(key, None)
        self._written.pop(key, None)
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _take_up(self, key: ShareKey, state_key: StateKey, partition: SharePartition, plog: PartitionLog) -> None:
        """Restore the persisted state, or initialize it where the partition starts (share.auto.offset.reset)."""
        leader_epoch = max(plog.leader_epoch, 0)
        read = self.coordinator.read(state_key, leader_epoch)
        state = read.state
        if state is not None and state.start_offset >= 0:
            partition.restore(state.start_offset, state.batches)
            state_epoch = state.state_epoch
        elif state is not None or read.error == ErrorCode.INVALID_REQUEST:  # no start yet, or never initialized
            state_epoch = state.state_epoch if state is not None else INITIAL_STATE_EPOCH
            initialized = self.coordinator.initialize(state_key, state_epoch, partition.start_offset)
            if initialized.error != ErrorCode.NONE:
                log.warning("share state of %s not initialized: %s", key, initialized.error.name)
                return
        else:
            log.warning("share state of %s not read: %s %s", key, read.error.name, read.message)
            return
        self._stored[key] = (state_key, state_epoch, leader_epoch)
        self._written[key] = partition.persisted()
        self._initialized(key)

    def _initialized(self, key: ShareKey) -> None:
        if self.groups is not None:
            self.groups.initialized(*key)

    def _persist(self, key: ShareKey, partition: SharePartition) -> None:
        """Write the partition's window to the coordinator if it changed since the last write."""
        stored = self._stored.get(key)
        if stored is None:
            return
        state = partition.persisted()
        if state == self._written.get(key):
            return
        state_key, state_epoch, leader_epoch = stored
        outcome = self.coordinator.write(state_key, state_epoch, leader_epoch, state[0],
                                         [StateBatch(*b) for b in state[1]])
        if outcome.error != ErrorCode.NONE:
            log.warning("share state of %s not written: %s %s", key, outcome.error.name, outcome.message)
            return
        self._written[key] = state

    def find(self, group_id: str, topic: str, index: int) -> SharePartition | None:
        return self.partitions.get((group_id, topic, index))

    def of_group(self, group_id: str) -> Iterator[tuple[str, int, SharePartition]]:
        for (group, topic, index), partition in self.partitions.items():
            if group == group_id:
                yield topic, index, partition

    def changed(self, group_id: str, topic: str, index: int, released: bool) -> None:
        """After anything touched a partition's locks: re-arm its timer, and wake the group's
        waiting fetches when records became available."""
        key = (group_id, topic, index)
        self._persist(key, self.partitions[key])
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()
        deadline = self.partitions[key].next_deadline()
        if deadline is not None:
            delay = max(deadline - self.clock(), 0) / 1000
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._expire, key)
        if released:
            self.wake(group_id)

    def _expire(self, key: ShareKey) -> None:
        self._timers.pop(key, None)
        partition = self.partitions.get(key)
        if partition is not None:
            self.changed(*key, released=partition.expire(self.clock()))

    def release_member(self, group_id: str, member_id: str) -> None:
        """The member's share session ended (or began again): what it holds goes back to the group."""
        for topic, index, partition in list(self.of_group(group_id)):
            self.changed(group_id, topic, index, released=partition.release_member(member_id))

    # -- fetches waiting for records of their group to come back

    def wake(self, group_id: str) -> None:
        for future in self._waiters.pop(group_id, []):
            if not future.done():
                future.set_result(None)

    def released_future(self, group_id: str) -> asyncio.Future:
        """Done when records of the group become available again; `forget` it when done waiting."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(group_id, []).append(future)
        return future

    def forget(self, group_id: str, future: asyncio.Future) -> None:
        waiters = self._waiters.get(group_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[group_id]

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
