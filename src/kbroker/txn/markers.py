"""A cluster's transaction markers: each partition's COMMIT or ABORT goes to that partition's leader.

On a single node the coordinator appends the markers itself. In a cluster the partitions of a
transaction may be led by other brokers, so, as Kafka's coordinator does, it sends them
WriteTxnMarkers (key 27) and writes locally only where it leads. A partition whose leader is
unknown, moving or unreachable is tried again after a short pause until its marker is written;
a partition deleted meanwhile needs none (as on a single node); an answer saying the producer or
this coordinator has been fenced ends the attempt, since a newer coordinator or producer epoch
owns the transaction now.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from kproto import ErrorCode
from kproto.messages import WriteTxnMarkersRequest

from kbroker.cluster.peer import PeerConnection, PeerError
from kbroker.security.inter_broker import PeerSecurity

log = logging.getLogger("kbroker.txn")
WRITE_TXN_MARKERS_VERSION = 1
RETRY_BACKOFF = 0.1  # seconds before partitions that got no marker are tried again
FENCED = frozenset({ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED,
                    ErrorCode.TRANSACTION_COORDINATOR_FENCED})

TopicPartition = tuple[str, int]
LeaderAddress = Callable[[str, int], "tuple[int, str, int] | None"]
# (topic, partition, producer id, epoch, commit?, coordinator epoch) -> the local append's error
LocalWriter = Callable[[str, int, int, int, bool, int], ErrorCode]


class MarkersFenced(Exception):
    """A partition's leader refused the marker: a newer producer epoch or coordinator owns the transaction."""


class MarkerSender:
    def __init__(self, node_id: int, leader_address: LeaderAddress, write_local: LocalWriter,
                 exists: Callable[[str, int], bool], security: PeerSecurity | None = None) -> None:
        self.node_id = node_id
        self.security = security
        self.leader_address = leader_address
        self.exists = exists
        self.write_local = write_local
        self._peers: dict[int, PeerConnection] = {}

    def send(self, partitions: Iterable[TopicPartition], producer_id: int, epoch: int, commit: bool,
             coordinator_epoch: int) -> asyncio.Future:
        """A task that ends once every partition has its marker; it fails with MarkersFenced."""
        return asyncio.get_running_loop().create_task(
            self._send_all(set(partitions), producer_id, epoch, commit, coordinator_epoch))

    async def _send_all(self, remaining: set[TopicPartition], producer_id: int, epoch: int, commit: bool,
                        coordinator_epoch: int) -> None:
        while True:
            remaining = {tp for tp in remaining if self.exists(*tp)}
            by_leader: dict[tuple[int, str, int], list[TopicPartition]] = {}
            for tp in sorted(remaining):
                found = self.leader_address(*tp)
                if found is not None:
                    by_leader.setdefault(found, []).append(tp)
            for leader, tps in by_leader.items():
                if leader[0] == self.node_id:
                    errors = {tp: self.write_local(*tp, producer_id, epoch, commit, coordinator_epoch) for tp in tps}
                else:
                    errors = await self._send_to(leader, tps, producer_id, epoch, commit, coordinator_epoch)
                fenced = {tp: e for tp, e in errors.items() if e in FENCED}
                if fenced:
                    raise MarkersFenced(f"markers of producer {producer_id} refused: {fenced}")
                remaining -= {tp for tp, e in errors.items()
                              if e in (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)}
            if not remaining:
                return
            await asyncio.sleep(RETRY_BACKOFF)

    async def _send_to(self, leader: tuple[int, str, int], partitions: list[TopicPartition], producer_id: int, epoch: int,
                       commit: bool, coordinator_epoch: int) -> dict[TopicPartition, ErrorCode]:
        """The leader's answer for each partition; a failed request leaves them all to be retried."""
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        request = WriteTxnMarkersRequest(markers=[WriteTxnMarkersRequest.WritableTxnMarker(
            producer_id=producer_id, producer_epoch=epoch, transaction_result=commit,
            coordinator_epoch=coordinator_epoch,
            topics=[WriteTxnMarkersRequest.WritableTxnMarkerTopic(name=t, partition_indexes=p)
                    for t, p in by_topic.items()])])
        try:
            response = await self._peer(leader).request(request, WRITE_TXN_MARKERS_VERSION)
        except PeerError as exc:
            log.info("transaction markers for producer %d not sent to broker %d: %s", producer_id, leader[0], exc)
            return {}
        return {(t.name, p.partition_index): ErrorCode(p.error_code)
                for marker in response.markers for t in marker.topics for p in t.partitions}

    def _peer(self, address: tuple[int, str, int]) -> PeerConnection:
        broker_id, host, port = address
        peer = self._peers.get(broker_id)
        if peer is None or (peer.host, peer.port) != (host, port):
            if peer is not None:
                peer.close()
            peer = self._peers[broker_id] = PeerConnection(host, port, f"txn-markers-{self.node_id}",
                                                               security=self.security)
        return peer

    def close(self) -> None:
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()
