"""A leader's high watermark waits for its `flush.messages` flush, as on a single node.

Kafka fsyncs the append that reaches `flush.messages` before the leader's high watermark can pass
it, so consumers never read records the leader has not made durable. Here that flush runs on the
log-flush thread; replication must not move the high watermark past it in the meantime, even
with the leader alone in the ISR or followers that already have the records.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

from kproto.messages import LeaderAndIsrRequest
from kproto.records.batch import build_batch
from kproto.records.record import Record

from kbroker.cluster.view import ClusterView
from kbroker.log import flusher
from kbroker.log.manager import LogManager
from kbroker.replication.manager import ReplicaManager
from replicahost import Host

LEADER, FOLLOWER = 1, 2


def leader_and_isr(isr: list[int]) -> LeaderAndIsrRequest:
    state = LeaderAndIsrRequest.LeaderAndIsrPartitionState(
        topic_name="t", partition_index=0, controller_epoch=1, leader=LEADER, leader_epoch=1, isr=isr,
        partition_epoch=0, replicas=[LEADER, FOLLOWER])
    return LeaderAndIsrRequest(controller_id=LEADER, controller_epoch=1, topic_states=[
        LeaderAndIsrRequest.LeaderAndIsrTopicState(topic_name="t", topic_id=uuid.uuid4(), partition_states=[state])])


def held_fsyncs(monkeypatch) -> threading.Event:
    """fsyncs on the log-flush thread wait until the returned event is set."""
    gate = threading.Event()
    real = flusher.fsync_if_exists

    def fsync(path: Path) -> None:
        if threading.current_thread().name == "log-flush":
            gate.wait()
        real(path)

    monkeypatch.setattr(flusher, "fsync_if_exists", fsync)
    return gate


def test_the_leaders_high_watermark_waits_for_its_flush_messages_flush(tmp_path: Path, monkeypatch) -> None:
    gate = held_fsyncs(monkeypatch)
    logs = LogManager([tmp_path], node_id=LEADER)

    async def scenario() -> None:
        manager = ReplicaManager(Host(logs, LEADER, {"flush.messages": 1}), ClusterView(), None,
                                 lag_time_max_ms=30_000, fetch_settings={}, broker_epoch=lambda: 1)
        manager.apply_leader_and_isr(leader_and_isr([LEADER, FOLLOWER]))
        replica = manager.get("t", 0)
        plog = replica.log
        try:
            now = int(time.time() * 1000)
            plog.append(bytearray(build_batch([Record(i, now, None, b"v") for i in range(10)])), defer_flush=True)
            manager.appended("t", 0)
            manager.follower_fetched("t", 0, FOLLOWER, 10)  # the follower has them all
            assert plog.awaited_flush is not None
            assert plog.high_watermark == 0, "readable before the leader's flush.messages fsync"
            gate.set()
            logs.wait_for_flushes()
            plog.take_flush_jobs()  # as the broker does on the loop once the job is done
            manager.appended("t", 0)
            assert plog.high_watermark == 10
        finally:
            gate.set()
            manager.stop()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    logs.close()
