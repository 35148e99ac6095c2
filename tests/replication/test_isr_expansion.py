"""While an ISR expansion is in flight, the leader counts the joining follower as in sync.

Kafka computes the high watermark and acks=all over the "maximal" ISR: the committed one plus a
follower whose addition the leader has asked the controller for. Otherwise a batch that only the
old ISR has can be acknowledged in that window, the controller then commits an ISR holding a
replica without it, and an election of that replica loses the acknowledged batch. The fault soak
(`compat-tests/soak_cluster.py`) lost 11 acknowledged records that way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from kproto.messages import AlterPartitionRequest, AlterPartitionResponse, LeaderAndIsrRequest
from kproto.records.batch import build_batch
from kproto.records.record import Record

from kbroker.cluster.view import ClusterView
from kbroker.log.manager import LogManager
from kbroker.replication.manager import ReplicaManager
from replicahost import Host

LEADER, OLD_FOLLOWER, JOINING = 1, 2, 3


class HeldController:
    """A controller whose AlterPartition answers wait until `commit()`."""

    def __init__(self) -> None:
        self.pending: list[tuple[AlterPartitionRequest, asyncio.Future]] = []

    async def send(self, request: AlterPartitionRequest, version: int, timeout: float = 10.0) -> AlterPartitionResponse:
        answer = asyncio.get_running_loop().create_future()
        self.pending.append((request, answer))
        return await answer

    def commit(self) -> None:
        request, answer = self.pending.pop(0)
        asked = request.topics[0].partitions[0]
        answer.set_result(AlterPartitionResponse(error_code=0, topics=[AlterPartitionResponse.TopicData(
            topic_name=request.topics[0].topic_name, partitions=[AlterPartitionResponse.PartitionData(
                partition_index=asked.partition_index, error_code=0, leader_id=LEADER,
                leader_epoch=asked.leader_epoch, isr=asked.new_isr, partition_epoch=asked.partition_epoch + 1)])]))


def leader_and_isr(isr: list[int]) -> LeaderAndIsrRequest:
    state = LeaderAndIsrRequest.LeaderAndIsrPartitionState(
        topic_name="t", partition_index=0, controller_epoch=1, leader=LEADER, leader_epoch=1, isr=isr,
        partition_epoch=0, replicas=[JOINING, LEADER, OLD_FOLLOWER])
    return LeaderAndIsrRequest(controller_id=LEADER, controller_epoch=1, topic_states=[
        LeaderAndIsrRequest.LeaderAndIsrTopicState(topic_name="t", topic_id=uuid.uuid4(), partition_states=[state])])


def test_a_pending_isr_expansion_holds_back_the_high_watermark(tmp_path: Path) -> None:
    async def scenario() -> None:
        controller = HeldController()
        manager = ReplicaManager(Host(LogManager([tmp_path], node_id=LEADER), LEADER), ClusterView(), controller,
                                 lag_time_max_ms=30_000, fetch_settings={}, broker_epoch=lambda: 1)
        manager.apply_leader_and_isr(leader_and_isr([LEADER, OLD_FOLLOWER]))
        replica = manager.get("t", 0)

        def append(count: int) -> None:
            now = int(time.time() * 1000)
            replica.log.append(bytearray(build_batch([Record(i, now, None, b"v") for i in range(count)])))
            manager.appended("t", 0)

        append(10)
        manager.follower_fetched("t", 0, OLD_FOLLOWER, 10)
        manager.follower_fetched("t", 0, JOINING, 10)  # at the high watermark: the leader asks to add it
        await asyncio.sleep(0)
        assert [r.topics[0].partitions[0].new_isr for r, _ in controller.pending] == [[1, 2, 3]]
        acks_all = manager.wait_for_replication("t", 0, 15, 2)
        append(5)
        manager.follower_fetched("t", 0, OLD_FOLLOWER, 15)  # the joining follower has not fetched them
        controller.commit()
        await asyncio.sleep(0)
        try:
            assert replica.isr == [1, 2, 3]
            assert replica.log.high_watermark == 10, "acknowledged past the log end of an ISR member"
            assert not acks_all.done()
        finally:
            manager.stop()

    asyncio.run(asyncio.wait_for(scenario(), 10))
