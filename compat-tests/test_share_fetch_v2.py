"""ShareFetch and ShareAcknowledge v2 (Kafka 4.2): the RENEW acknowledgement (KIP-1222), IsRenewAck,
and the record_limit acquire mode (KIP-1206), by hand."""

from __future__ import annotations

import time
import uuid

import pytest

from kproto import ErrorCode
from kproto.messages import ProduceRequest, ShareAcknowledgeRequest, ShareFetchRequest, ShareGroupHeartbeatRequest
from kproto.records import Record, build_batch

from rawclient import RawClient
from share_requests import topic_id

LOCK_MS = 1000
pytestmark = pytest.mark.broker_config({"group.share.min.record.lock.duration.ms": "1000",
                                        "group.share.record.lock.duration.ms": str(LOCK_MS)})
RENEW, ACCEPT = 4, 1
F, A = ShareFetchRequest, ShareAcknowledgeRequest


class Member:
    def __init__(self, client: RawClient, group: str, topic: str) -> None:
        self.client, self.group, self.topic_id = client, group, topic_id(client, topic)
        self.member_id, self.epoch = str(uuid.uuid4()), 0
        assert client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=self.member_id, member_epoch=0,
                                                         subscribed_topic_names=[topic]), 1).error_code == 0

    def fetch(self, acks=(), max_records: int = 100, mode: int = 0, renew_only: bool = False, version: int = 2):
        batches = [F.AcknowledgementBatch(first_offset=f, last_offset=l, acknowledge_types=[t]) for f, l, t in acks]
        answer = self.client.request(F(
            group_id=self.group, member_id=self.member_id, share_session_epoch=self.epoch, max_wait_ms=0, min_bytes=1,
            max_records=max_records, batch_size=max_records, share_acquire_mode=mode, is_renew_ack=renew_only,
            topics=[F.FetchTopic(topic_id=self.topic_id, partitions=[F.FetchPartition(
                partition_index=0, acknowledgement_batches=batches)])]), version)
        if answer.error_code == 0:
            self.epoch += 1
        return answer

    def acknowledge(self, acks, version: int = 2):
        answer = self.client.request(A(
            group_id=self.group, member_id=self.member_id, share_session_epoch=self.epoch, is_renew_ack=version >= 2,
            topics=[A.AcknowledgeTopic(topic_id=self.topic_id, partitions=[A.AcknowledgePartition(
                partition_index=0, acknowledgement_batches=[
                    A.AcknowledgementBatch(first_offset=f, last_offset=l, acknowledge_types=[t]) for f, l, t in acks])])]),
            version)
        if answer.error_code == 0:
            self.epoch += 1
        return answer


def acquired(answer) -> list[tuple[int, int, int]]:
    return [(a.first_offset, a.last_offset, a.delivery_count)
            for t in answer.responses for p in t.partitions for a in p.acquired_records]


def ack_errors(answer) -> list[int]:
    return [p.acknowledge_error_code if hasattr(p, "acknowledge_error_code") else p.error_code
            for t in answer.responses for p in t.partitions]


@pytest.fixture
def members(bootstrap: str, topic_factory):
    """Two members of a new group whose sessions are open; then 5 records in one batch."""
    topic, group = topic_factory(), f"share-v2-{uuid.uuid4().hex[:8]}"
    with RawClient(bootstrap) as client:
        a, b = Member(client, group, topic), Member(client, group, topic)
        for m in (a, b):
            assert m.fetch().error_code == 0
        batch = build_batch([Record(i, 0, None, b"v%d" % i) for i in range(5)])
        assert client.request(ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
            name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])]),
            9).responses[0].partition_responses[0].error_code == 0
        yield a, b


def test_record_limit_mode_splits_a_batch(members) -> None:
    a, b = members
    assert acquired(a.fetch(max_records=2, mode=1)) == [(0, 1, 1)]
    assert acquired(b.fetch(max_records=2, mode=0)) == [(2, 4, 1)]  # batch_optimized: the rest of the batch
    assert a.fetch(mode=2).error_code == ErrorCode.INVALID_REQUEST


def test_renew_keeps_records_past_their_first_lock(members) -> None:
    a, b = members
    assert acquired(a.fetch()) == [(0, 4, 1)]
    for _ in range(3):  # renewed every half lock, they are held past three lock durations
        time.sleep(LOCK_MS / 2000)
        answer = a.acknowledge([(0, 4, RENEW)])
        assert (answer.error_code, ack_errors(answer), answer.acquisition_lock_timeout_ms) == (0, [0], LOCK_MS)
    assert acquired(b.fetch()) == []
    renewed = a.fetch(acks=[(0, 4, RENEW)], renew_only=True)
    assert (renewed.error_code, ack_errors(renewed), acquired(renewed)) == (0, [0], [])
    assert ack_errors(a.fetch(acks=[(0, 4, ACCEPT)])) == [0]


def test_renew_is_refused_before_version_2(members) -> None:
    a, _ = members
    assert acquired(a.fetch()) == [(0, 4, 1)]
    assert ack_errors(a.acknowledge([(0, 4, RENEW)], version=1)) == [ErrorCode.INVALID_REQUEST]
