"""Follower fetchers: one loop per leader broker, copying its partitions' logs with Fetch.

A follower fetches exactly as Kafka's replica fetcher does: Fetch with its broker id as the
replica id, from its own log end, waiting up to `replica.fetch.wait.max.ms` for
`replica.fetch.min.bytes`. Before the first fetch in a new leader epoch it asks the leader where
its own latest epoch ends (OffsetForLeaderEpoch) and truncates what lies beyond: a tail written
by an old leader that never reached the new one is cut, never served. A fetch out of range
(the leader's log start passed this log's end) restarts the log at the leader's log start.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from kproto import ErrorCode
from kproto.messages import FetchRequest, FetchResponse, ListOffsetsRequest, OffsetForLeaderEpochRequest

from kbroker.cluster.peer import PeerConnection, PeerError
from kbroker.security.inter_broker import PeerSecurity
from kbroker.cluster.view import ClusterView
from kbroker.log import PartitionLog
from kbroker.log.leader_epochs import UNDEFINED_EPOCH

log = logging.getLogger("kbroker.replication")
FETCH_VERSION = 12  # topics by name, with the follower's replica id in the request body
OFFSET_FOR_LEADER_EPOCH_VERSION = 4
LIST_OFFSETS_VERSION = 7
EARLIEST = -2
LATEST = -1
TopicPartition = tuple[str, int]


class Follower(Protocol):
    """What a fetcher needs of the replica manager: where to append, and the leader's high watermark."""

    node_id: int

    def follower_log(self, key: TopicPartition, leader_epoch: int) -> PartitionLog | None: ...

    def follower_appended(self, key: TopicPartition, leader_high_watermark: int, records: memoryview) -> None: ...

    def follower_truncated(self, key: TopicPartition) -> None: ...


@dataclass
class Fetching:
    leader_epoch: int
    truncated: bool = False  # the divergence check of this epoch is done


class LeaderFetcher:
    """Fetches every partition this broker follows on one leader."""

    def __init__(self, manager: Follower, leader_id: int, view: ClusterView, settings: dict[str, int],
                 security: PeerSecurity | None = None) -> None:
        self.manager = manager
        self.security = security
        self.leader_id = leader_id
        self.view = view
        self.settings = settings
        self.partitions: dict[TopicPartition, Fetching] = {}
        self.changed = asyncio.Event()
        self.closed = False
        self.connection: PeerConnection | None = None
        self.task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        self.closed = True  # a cancelled request can surface as PeerError, not CancelledError
        self.task.cancel()
        if self.connection is not None:
            self.connection.close()

    def _connect(self) -> PeerConnection:
        node = self.view.brokers.get(self.leader_id)
        if node is None:
            raise PeerError(f"broker {self.leader_id} is not alive")
        if self.connection is None or (self.connection.host, self.connection.port) != (node.host, node.port):
            if self.connection is not None:
                self.connection.close()
            self.connection = PeerConnection(node.host, node.port, f"replica-{self.manager.node_id}",
                                             security=self.security)
        return self.connection

    async def _run(self) -> None:
        backoff = self.settings["replica.fetch.backoff.ms"] / 1000
        while not self.closed:
            if not self.partitions:
                self.changed.clear()
                await self.changed.wait()
                continue
            try:
                connection = self._connect()
                await self._truncate(connection)
                await self._fetch_once(connection)
            except PeerError as exc:
                log.debug("fetch from broker %d failed: %s", self.leader_id, exc)
                await asyncio.sleep(backoff)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetch from broker %d failed", self.leader_id)
                await asyncio.sleep(backoff)

    def _log(self, key: TopicPartition) -> PartitionLog | None:
        state = self.partitions.get(key)
        return self.manager.follower_log(key, state.leader_epoch) if state else None

    async def _truncate(self, connection: PeerConnection) -> None:
        """OffsetForLeaderEpoch for partitions new in their epoch; cut each log where it diverges."""
        pending = {key: state for key, state in self.partitions.items() if not state.truncated}
        if not pending:
            return
        by_topic: dict[str, list] = {}
        asked: dict[TopicPartition, int] = {}
        for key, state in pending.items():
            plog = self._log(key)
            if plog is None:
                continue
            asked[key] = plog.leader_epochs.latest_epoch
            by_topic.setdefault(key[0], []).append(OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=key[1], current_leader_epoch=state.leader_epoch, leader_epoch=asked[key]))
        if not by_topic:
            return
        response = await connection.request(OffsetForLeaderEpochRequest(replica_id=self.manager.node_id, topics=[
            OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=t, partitions=p) for t, p in by_topic.items()]),
            OFFSET_FOR_LEADER_EPOCH_VERSION)
        for topic in response.topics:
            for result in topic.partitions:
                key = (topic.topic, result.partition)
                plog = self._log(key)
                if plog is None or key not in asked or result.error_code != ErrorCode.NONE:
                    continue
                self.partitions[key].truncated = True
                target = self._truncation_offset(plog, asked[key], result.leader_epoch, result.end_offset)
                if target < plog.log_end_offset:
                    log.info("%s-%d: truncating from %d to %d to match leader %d", *key, plog.log_end_offset,
                             target, self.leader_id)
                    plog.truncate_to(target)
                    self.manager.follower_truncated(key)

    @staticmethod
    def _truncation_offset(plog: PartitionLog, asked_epoch: int, leader_epoch: int, leader_end: int) -> int:
        """Where this log stops agreeing with the leader's, by Kafka's leader-epoch rule."""
        if asked_epoch == UNDEFINED_EPOCH or leader_epoch == UNDEFINED_EPOCH or leader_end < 0:
            return min(plog.high_watermark, plog.log_end_offset)  # no epochs to compare: keep what was committed
        own_epoch, own_end = plog.leader_epochs.end_offset_for(leader_epoch, plog.log_end_offset)
        if own_epoch != leader_epoch:
            return min(plog.high_watermark, plog.log_end_offset)
        return min(leader_end, own_end, plog.log_end_offset)

    async def _fetch_once(self, connection: PeerConnection) -> None:
        by_topic: dict[str, list] = {}
        for key, state in self.partitions.items():
            plog = self._log(key)
            if plog is None or not state.truncated:
                continue
            by_topic.setdefault(key[0], []).append(FetchRequest.FetchPartition(
                partition=key[1], current_leader_epoch=state.leader_epoch, fetch_offset=plog.log_end_offset,
                last_fetched_epoch=plog.leader_epochs.latest_epoch, log_start_offset=plog.log_start_offset,
                partition_max_bytes=self.settings["replica.fetch.max.bytes"]))
        if not by_topic:  # every partition waits for its truncation or a new epoch
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), self.settings["replica.fetch.backoff.ms"] / 1000)
            except asyncio.TimeoutError:
                pass
            return
        request = FetchRequest(
            replica_id=self.manager.node_id, max_wait_ms=self.settings["replica.fetch.wait.max.ms"],
            min_bytes=self.settings["replica.fetch.min.bytes"],
            max_bytes=self.settings["replica.fetch.response.max.bytes"], isolation_level=0, session_id=0,
            session_epoch=-1, topics=[FetchRequest.FetchTopic(topic=t, partitions=p) for t, p in by_topic.items()])
        timeout = self.settings["replica.fetch.wait.max.ms"] / 1000 + self.settings["replica.socket.timeout.ms"] / 1000
        response = await connection.request(request, FETCH_VERSION, timeout=timeout)
        if response.error_code:
            raise PeerError(f"fetch refused: {ErrorCode(response.error_code).name}")
        for topic in response.responses:
            for data in topic.partitions:
                await self._apply(connection, (topic.topic, data.partition_index), data)

    async def _apply(self, connection: PeerConnection, key: TopicPartition, data: FetchResponse.PartitionData) -> None:
        plog = self._log(key)
        if plog is None:
            return
        if data.error_code == ErrorCode.NONE:
            appended = plog.append_replicated(data.records) if data.records else 0
            self.manager.fetchers.lag[key] = max(data.high_watermark - plog.log_end_offset, 0)
            if data.log_start_offset > plog.log_start_offset and data.log_start_offset <= plog.high_watermark:
                plog.delete_records_before(min(data.log_start_offset, plog.log_end_offset))
            self.manager.follower_appended(key, data.high_watermark, memoryview(data.records or b"")[:appended])
        elif data.error_code == ErrorCode.OFFSET_OUT_OF_RANGE:
            await self._reset_out_of_range(connection, key, plog)
        elif data.error_code in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.NOT_LEADER_OR_FOLLOWER,
                                 ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
            await asyncio.sleep(self.settings["replica.fetch.backoff.ms"] / 1000 / 10)  # until the controller's word

    async def _reset_out_of_range(self, connection: PeerConnection, key: TopicPartition, plog: PartitionLog) -> None:
        state = self.partitions[key]
        offsets = {}
        for timestamp in (EARLIEST, LATEST):
            response = await connection.request(ListOffsetsRequest(replica_id=self.manager.node_id, topics=[
                ListOffsetsRequest.ListOffsetsTopic(name=key[0], partitions=[ListOffsetsRequest.ListOffsetsPartition(
                    partition_index=key[1], current_leader_epoch=state.leader_epoch, timestamp=timestamp)])]),
                LIST_OFFSETS_VERSION)
            result = response.topics[0].partitions[0]
            if result.error_code:
                return
            offsets[timestamp] = result.offset
        if plog.log_end_offset > offsets[LATEST]:
            plog.truncate_to(offsets[LATEST])
            self.manager.follower_truncated(key)
        elif plog.log_end_offset < offsets[EARLIEST]:
            log.info("%s-%d: the leader's log starts at %d, past this log's end: starting again there", *key,
                     offsets[EARLIEST])
            plog.truncate_fully_and_start_at(offsets[EARLIEST])
            self.manager.follower_truncated(key)


class FetcherManager:
    def __init__(self, manager: Follower, view: ClusterView, settings: dict[str, int],
                 security: PeerSecurity | None = None) -> None:
        self.security = security
        self.manager = manager
        self.view = view
        self.settings = settings
        self.fetchers: dict[int, LeaderFetcher] = {}
        self.lag: dict[TopicPartition, int] = {}  # records behind the leader's high watermark, per partition

    def add(self, key: TopicPartition, leader_id: int, leader_epoch: int) -> None:
        self.remove(key)
        if leader_id < 0:
            return  # offline: nothing to fetch from until a leader is elected
        fetcher = self.fetchers.get(leader_id)
        if fetcher is None:
            fetcher = self.fetchers[leader_id] = LeaderFetcher(self.manager, leader_id, self.view, self.settings,
                                                                       self.security)
        fetcher.partitions[key] = Fetching(leader_epoch)
        fetcher.changed.set()

    def remove(self, key: TopicPartition) -> None:
        self.lag.pop(key, None)
        for fetcher in self.fetchers.values():
            fetcher.partitions.pop(key, None)

    def stop(self) -> None:
        for fetcher in self.fetchers.values():
            fetcher.close()
        self.fetchers.clear()
