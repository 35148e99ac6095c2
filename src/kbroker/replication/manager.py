"""The replica manager: this broker's leader and follower partitions, as the controller assigns them.

LeaderAndIsr makes this broker lead a partition (it stamps the controller's leader epoch on its
appends and tracks its followers) or follow one (its fetcher copies the leader's log after
truncating a divergent tail). The leader moves the high watermark to what every ISR member has;
`acks=all` produce answers wait for it. The ISR shrinks and grows through AlterPartition to the
controller, never by this broker alone, as in Kafka since 2.7.

The manager reaches the node through `ReplicaHost` (open and delete partition logs, wake fetches,
hear of leadership moves) and the controller through `ControllerLink`; it knows no sockets of
clients and no handlers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Callable, Protocol

from kproto import ErrorCode
from kproto.messages import (
    AlterPartitionRequest, AlterPartitionResponse, LeaderAndIsrRequest, LeaderAndIsrResponse, StopReplicaRequest,
)

from kbroker.cluster.link import ControllerLink
from kbroker.cluster.peer import PeerError
from kbroker.cluster.view import ClusterView
from kbroker.log import PartitionLog
from kbroker.replication.fetcher import FetcherManager
from kbroker.replication.replica import FollowerProgress, Replica
from kbroker.security.inter_broker import PeerSecurity

log = logging.getLogger("kbroker.replication")
ALTER_PARTITION_VERSION = 1  # topics by name, as ZooKeeper-era brokers sent AlterIsr
ISR_RETRY_BACKOFF = 0.2  # seconds before an AlterPartition that found no controller is tried again


class ReplicaHost(Protocol):
    node_id: int

    def open_replica_log(self, topic: str, partition: int, topic_id: uuid.UUID) -> PartitionLog: ...

    def delete_replica_logs(self, topic: str, partitions: list[int]) -> None: ...

    def wake(self, topic: str, partition: int) -> None: ...

    def leadership_changed(self, topic: str, partition: int, is_leader: bool) -> None: ...

    def replicated(self, plog: PartitionLog, records: memoryview) -> None: ...

    def truncated(self, plog: PartitionLog) -> None: ...


def now_ms() -> float:
    return time.time() * 1000


class ReplicaManager:
    def __init__(self, host: ReplicaHost, view: ClusterView, link: ControllerLink, *, lag_time_max_ms: int,
                 fetch_settings: dict[str, int], broker_epoch: Callable[[], int],
                 security: PeerSecurity | None = None) -> None:
        self.host = host
        self.node_id = host.node_id
        self.view = view
        self.link = link
        self.lag_time_max_ms = lag_time_max_ms
        self.broker_epoch = broker_epoch
        self.replicas: dict[tuple[str, int], Replica] = {}
        self.controller_epoch = 0
        self.isr_shrinks = 0  # ISR changes the controller accepted, for the metrics endpoint
        self.isr_expands = 0
        self._acks_waiters: dict[tuple[str, int], list[tuple[int, int, asyncio.Future]]] = {}
        self.fetchers = FetcherManager(self, view, fetch_settings, security)
        self._tasks: list[asyncio.Task] = []
        self.stopped = False

    def start(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._shrink_isr_periodically()))

    def stop(self) -> None:
        self.stopped = True  # a LeaderAndIsr arriving while the broker stops starts no fetcher
        for task in self._tasks:
            task.cancel()
        self.fetchers.stop()

    # -- what handlers ask

    def get(self, topic: str, partition: int) -> Replica | None:
        return self.replicas.get((topic, partition))

    def leader_error(self, topic: str, partition: int) -> ErrorCode:
        """NONE when this broker leads the partition; else Kafka's answer to a client that asked it."""
        replica = self.replicas.get((topic, partition))
        if replica is not None and replica.is_leader:
            return ErrorCode.NONE
        if replica is None and self.view.partition(topic, partition) is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return ErrorCode.NOT_LEADER_OR_FOLLOWER

    async def wait_until_not_leading(self, timeout: float) -> None:
        """After a controlled shutdown, until the controller's LeaderAndIsr has taken every
        replicated partition's leadership away (or `timeout` seconds)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(r.is_leader and len(r.replicas) > 1 for r in self.replicas.values()):
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.02)

    def in_sync_count(self, topic: str, partition: int) -> int:
        replica = self.replicas.get((topic, partition))
        return len(replica.isr) if replica else 0

    def wait_for_replication(self, topic: str, partition: int, offset: int, min_isr: int) -> asyncio.Future:
        """A future that becomes the acks=all answer for an append ending before `offset`."""
        future = asyncio.get_running_loop().create_future()
        self._acks_waiters.setdefault((topic, partition), []).append((offset, min_isr, future))
        replica = self.replicas.get((topic, partition))
        if replica is not None:
            self._complete_acks(replica)
        return future

    def forget_waiter(self, topic: str, partition: int, future: asyncio.Future) -> None:
        waiters = self._acks_waiters.get((topic, partition))
        if waiters:
            waiters[:] = [w for w in waiters if w[2] is not future]

    def appended(self, topic: str, partition: int) -> None:
        """The leader appended, or finished an append's `flush.messages` flush: with no other ISR
        member, the high watermark moves at once."""
        replica = self.replicas.get((topic, partition))
        if replica is not None and replica.is_leader:
            self._advance_high_watermark(replica)

    def follower_fetched(self, topic: str, partition: int, follower: int, fetch_offset: int) -> None:
        """A follower's fetch says how far its log reaches: maybe the ISR grows, the high watermark moves."""
        replica = self.replicas.get((topic, partition))
        if replica is None or not replica.is_leader or follower not in replica.replicas:
            return
        replica.followers.setdefault(follower, FollowerProgress()).fetched(
            fetch_offset, replica.log.log_end_offset, now_ms())
        if replica.caught_up(follower) and not replica.isr_change_in_flight:
            self._alter_isr(replica, replica.isr + [follower])
        self._advance_high_watermark(replica)

    # -- high watermark and acks=all

    def _advance_high_watermark(self, replica: Replica) -> None:
        candidate = replica.high_watermark_candidate()
        if candidate > replica.log.high_watermark:
            replica.log.high_watermark = candidate
            self.host.wake(replica.topic, replica.partition)
        self._complete_acks(replica)

    def _complete_acks(self, replica: Replica) -> None:
        waiters = self._acks_waiters.get(replica.key)
        if not waiters:
            return
        keep = []
        for offset, min_isr, future in waiters:
            if future.done():
                continue
            if not replica.is_leader:
                future.set_result(ErrorCode.NOT_LEADER_OR_FOLLOWER)
            elif replica.log.high_watermark >= offset:
                future.set_result(ErrorCode.NONE if len(replica.isr) >= min_isr
                                  else ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
            else:
                keep.append((offset, min_isr, future))
        if keep:
            self._acks_waiters[replica.key] = keep
        else:
            del self._acks_waiters[replica.key]

    # -- the ISR, through the controller

    async def _shrink_isr_periodically(self) -> None:
        interval = max(self.lag_time_max_ms / 2, 50) / 1000
        while True:
            await asyncio.sleep(interval)
            now = now_ms()
            for replica in list(self.replicas.values()):
                if replica.is_leader and not replica.isr_change_in_flight:
                    lagging = replica.lagging(now, self.lag_time_max_ms)
                    if lagging:
                        log.info("%s-%d: followers %s are behind for more than %d ms", replica.topic,
                                 replica.partition, lagging, self.lag_time_max_ms)
                        self._alter_isr(replica, [b for b in replica.isr if b not in lagging])

    def _alter_isr(self, replica: Replica, new_isr: list[int]) -> None:
        replica.isr_change_in_flight = True
        replica.pending_isr = list(new_isr)
        self._tasks.append(asyncio.get_running_loop().create_task(self._send_alter_isr(replica, new_isr)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _send_alter_isr(self, replica: Replica, new_isr: list[int]) -> None:
        """Ask the controller for the ISR change; while it is refused or unanswered, no other is
        asked for this partition until a pause has passed."""
        request = AlterPartitionRequest(broker_id=self.node_id, broker_epoch=self.broker_epoch(), topics=[
            AlterPartitionRequest.TopicData(topic_name=replica.topic, partitions=[
                AlterPartitionRequest.PartitionData(partition_index=replica.partition,
                                                    leader_epoch=replica.leader_epoch, new_isr=sorted(new_isr),
                                                    partition_epoch=replica.partition_epoch)])])
        try:
            if not self._applied(replica, await self.link.send(request, ALTER_PARTITION_VERSION)):
                await asyncio.sleep(ISR_RETRY_BACKOFF)
        except PeerError as exc:
            log.info("%s-%d: ISR change not sent: %s", replica.topic, replica.partition, exc)
            await asyncio.sleep(ISR_RETRY_BACKOFF)
        finally:
            replica.isr_change_in_flight = False
            replica.pending_isr = None

    def _applied(self, replica: Replica, response: AlterPartitionResponse) -> bool:
        """Take the controller's answer; False when it refused the change."""
        result = response.topics[0].partitions[0] if response.topics else None
        error = response.error_code or (result.error_code if result else ErrorCode.UNKNOWN_SERVER_ERROR)
        if result is not None and (self.replicas.get(replica.key) is not replica
                                   or replica.leader_epoch != result.leader_epoch):
            return True  # a LeaderAndIsr has moved the partition on meanwhile
        if error == ErrorCode.NONE:
            if len(result.isr) < len(replica.isr):
                self.isr_shrinks += 1
            elif len(result.isr) > len(replica.isr):
                self.isr_expands += 1
            replica.isr, replica.partition_epoch = list(result.isr), result.partition_epoch
            log.info("%s-%d: ISR is now %s", replica.topic, replica.partition, replica.isr)
            self._advance_high_watermark(replica)
            return True
        if error == ErrorCode.INVALID_UPDATE_VERSION and result.partition_epoch > replica.partition_epoch:
            replica.isr, replica.partition_epoch = list(result.isr), result.partition_epoch
        log.info("%s-%d: the controller refused the ISR change: %s", replica.topic, replica.partition,
                 ErrorCode(error).name)
        return False

    # -- orders from the controller

    def apply_leader_and_isr(self, request: LeaderAndIsrRequest) -> LeaderAndIsrResponse:
        if self.stopped:
            return LeaderAndIsrResponse(error_code=ErrorCode.BROKER_NOT_AVAILABLE)
        if request.controller_epoch < self.controller_epoch:
            return LeaderAndIsrResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
        self.controller_epoch = request.controller_epoch
        topics = []
        for topic in request.topic_states:
            errors = []
            for state in topic.partition_states:
                error = self._apply_partition_state(topic.topic_name, topic.topic_id, state)
                errors.append(LeaderAndIsrResponse.LeaderAndIsrPartitionError(
                    partition_index=state.partition_index, error_code=error))
            topics.append(LeaderAndIsrResponse.LeaderAndIsrTopicError(topic_id=topic.topic_id, partition_errors=errors))
        return LeaderAndIsrResponse(error_code=ErrorCode.NONE, topics=topics)

    def _apply_partition_state(self, topic: str, topic_id: uuid.UUID,
                               state: LeaderAndIsrRequest.LeaderAndIsrPartitionState) -> ErrorCode:
        key = (topic, state.partition_index)
        current = self.replicas.get(key)
        if current is not None and state.leader_epoch <= current.leader_epoch:
            return ErrorCode.STALE_CONTROLLER_EPOCH  # Kafka's answer to an epoch it has seen
        if self.node_id not in state.replicas:
            return ErrorCode.NONE
        plog = current.log if current is not None else self.host.open_replica_log(topic, state.partition_index, topic_id)
        plog.replicated = True
        leads = state.leader == self.node_id
        replica = Replica(topic, state.partition_index, plog, state.leader, state.leader_epoch, state.partition_epoch,
                          list(state.isr), list(state.replicas), leads)
        self.replicas[key] = replica
        if leads:
            self.fetchers.remove(key)
            plog.become_leader(state.leader_epoch)
            now = now_ms()
            replica.followers = {b: FollowerProgress(last_caught_up_ms=now) for b in state.replicas if b != self.node_id}
            log.info("%s-%d: leading in epoch %d with isr %s", topic, state.partition_index, state.leader_epoch, state.isr)
        else:
            plog.become_follower()
            self.fetchers.add(key, state.leader, state.leader_epoch)
            log.info("%s-%d: following broker %d in epoch %d", topic, state.partition_index, state.leader,
                     state.leader_epoch)
        self.host.leadership_changed(topic, state.partition_index, leads)
        if leads:
            self._advance_high_watermark(replica)
        else:
            self._complete_acks(replica)
        return ErrorCode.NONE

    def stop_replicas(self, request: StopReplicaRequest) -> list[tuple[str, int, ErrorCode]]:
        if request.controller_epoch < self.controller_epoch:
            return [(t.topic_name, p.partition_index, ErrorCode.STALE_CONTROLLER_EPOCH)
                    for t in request.topic_states for p in t.partition_states]
        results = []
        for topic in request.topic_states:
            doomed = []
            for state in topic.partition_states:
                key = (topic.topic_name, state.partition_index)
                self.fetchers.remove(key)
                replica = self.replicas.pop(key, None)
                if replica is not None:
                    replica.is_leader = False
                    self._complete_acks(replica)
                    self.host.leadership_changed(*key, False)
                if state.delete_partition:
                    doomed.append(state.partition_index)
                results.append((topic.topic_name, state.partition_index, ErrorCode.NONE))
            if doomed:
                self.host.delete_replica_logs(topic.topic_name, doomed)
        return results

    # -- the follower side, for the fetcher

    def follower_log(self, key: tuple[str, int], leader_epoch: int) -> PartitionLog | None:
        """The log to append fetched data to, while this broker still follows in `leader_epoch`."""
        replica = self.replicas.get(key)
        if replica is None or replica.is_leader or replica.leader_epoch != leader_epoch:
            return None
        return replica.log

    def follower_truncated(self, key: tuple[str, int]) -> None:
        replica = self.replicas.get(key)
        if replica is not None:
            self.host.truncated(replica.log)

    def follower_appended(self, key: tuple[str, int], leader_high_watermark: int, records: memoryview) -> None:
        replica = self.replicas.get(key)
        if replica is not None and records:
            self.host.replicated(replica.log, records)
        if replica is not None and not replica.is_leader:
            replica.log.high_watermark = max(replica.log.high_watermark,
                                             min(leader_high_watermark, replica.log.log_end_offset))

