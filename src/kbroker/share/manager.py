"""The share partitions of this broker, their acquisition-lock timers, and the share sessions.

A share partition comes into being the first time its group fetches it, starting where
`share.auto.offset.reset` says: the partition's high watermark (latest, the default; group
configs are not served yet, so no group can ask for another start). Each partition keeps one
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

from kbroker.groups.share_groups import ShareConfig
from kbroker.log import PartitionLog
from kbroker.share.partition import SharePartition
from kbroker.share.sessions import ShareSessions

ShareKey = tuple[str, str, int]  # (group id, topic, partition)


def now_ms() -> int:
    return int(time.time() * 1000)


class SharePartitions:
    def __init__(self, config: ShareConfig, clock: Callable[[], int] = now_ms) -> None:
        self.config = config
        self.clock = clock
        self.partitions: dict[ShareKey, SharePartition] = {}
        self.sessions = ShareSessions()
        self._timers: dict[ShareKey, asyncio.TimerHandle] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}

    def get(self, group_id: str, topic: str, index: int, log: PartitionLog) -> SharePartition:
        """The group's share partition of a topic partition, made on first use; records the log
        no longer holds leave it."""
        key = (group_id, topic, index)
        partition = self.partitions.get(key)
        if partition is None:
            partition = self.partitions[key] = SharePartition(
                log.high_watermark, lock_duration_ms=self.config.record_lock_duration_ms,
                delivery_limit=self.config.delivery_count_limit, max_locks=self.config.partition_max_record_locks)
        partition.move_log_start(log.log_start_offset)
        return partition

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
