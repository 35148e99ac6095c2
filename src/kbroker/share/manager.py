"""The share partitions of this broker, their acquisition-lock timers, and the share sessions.

A share partition comes into being the first time its group fetches it, starting where its
group's `share.auto.offset.reset` says: the partition's high watermark (latest, the default), its
log start (earliest), or the first record at or after now minus a duration (by_duration:, the
high watermark when there is none). Its acquisition locks last the group's
`share.record.lock.duration.ms`, read again at every fetch. Each partition keeps one
timer, for its earliest lock; when it fires, the records whose locks ran out go back to the group
and fetches of that group waiting for records are woken, as are they when a member releases
records or ends its share session.

The state lives in memory: a restart forgets the share partitions, so each starts again at the
latest offset (Kafka keeps it in `__share_group_state`; see docs/share-groups.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterator

from kbroker.groups.group_configs import BY_DURATION, EARLIEST, GroupSettings, duration_ms
from kbroker.groups.share_groups import ShareConfig
from kbroker.log import PartitionLog
from kbroker.share.partition import SharePartition
from kbroker.share.sessions import ShareSessions

ShareKey = tuple[str, str, int]  # (group id, topic, partition)


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
                 clock: Callable[[], int] = now_ms) -> None:
        self.config = config
        self.settings = settings
        self.clock = clock
        self.partitions: dict[ShareKey, SharePartition] = {}
        self.sessions = ShareSessions()
        self._timers: dict[ShareKey, asyncio.TimerHandle] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}

    def get(self, group_id: str, topic: str, index: int, log: PartitionLog) -> SharePartition:
        """The group's share partition of a topic partition, made on first use; records the log
        no longer holds leave it."""
        key = (group_id, topic, index)
        settings = self.settings(group_id)
        partition = self.partitions.get(key)
        if partition is None:
            partition = self.partitions[key] = SharePartition(
                start_offset(settings.share_auto_offset_reset, log, self.clock()),
                lock_duration_ms=settings.share_record_lock_duration_ms,
                delivery_limit=self.config.delivery_count_limit, max_locks=self.config.partition_max_record_locks)
        partition.lock_duration_ms = settings.share_record_lock_duration_ms
        partition.move_log_start(log.log_start_offset)
        return partition

    def reset(self, group_id: str, topic: str, index: int, offset: int) -> None:
        """AlterShareGroupOffsets: the share partition starts again at `offset`, nothing in flight."""
        self.drop(group_id, topic, index)
        settings = self.settings(group_id)
        self.partitions[(group_id, topic, index)] = SharePartition(
            offset, lock_duration_ms=settings.share_record_lock_duration_ms,
            delivery_limit=self.config.delivery_count_limit, max_locks=self.config.partition_max_record_locks)

    def drop_group(self, group_id: str) -> None:
        """The group was deleted: forget all its share partitions."""
        for topic, index, _ in list(self.of_group(group_id)):
            self.drop(group_id, topic, index)

    def drop(self, group_id: str, topic: str, index: int) -> None:
        """Forget the group's share partition; its next fetch starts it again as `share.auto.offset.reset` says."""
        self.partitions.pop((group_id, topic, index), None)
        handle = self._timers.pop((group_id, topic, index), None)
        if handle is not None:
            handle.cancel()

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
