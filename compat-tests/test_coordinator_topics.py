"""A coordinator lookup creates the coordinator's internal topic, as Kafka does.

Kafka creates `__consumer_offsets` and `__transaction_state` when a client first asks for a
group's or a transactional id's coordinator, so the group's first SyncGroup or the transaction's
first write does not stall on creating 50 partitions. Each case starts a broker of its own: on a
shared one another test may have created the topics already.
"""

from __future__ import annotations

import pytest

from brokerproc import BrokerProcess
from kproto import ErrorCode
from kproto.messages import FindCoordinatorRequest, MetadataRequest
from rawclient import RawClient


def topic_names(client: RawClient) -> set[str]:
    request = MetadataRequest()
    request.topics = None  # null: all topics (constructors turn a None list into [])
    return {t.name for t in client.request(request, 12).topics}


@pytest.mark.parametrize("key_type, topic, other", [
    (0, "__consumer_offsets", "__transaction_state"),
    (1, "__transaction_state", "__consumer_offsets"),
])
def test_find_coordinator_creates_the_internal_topic(tmp_path, key_type: int, topic: str, other: str) -> None:
    broker = BrokerProcess(tmp_path, config={"offsets.topic.num.partitions": "3",
                                             "transaction.state.log.num.partitions": "3"})
    broker.start()
    try:
        with RawClient(broker.bootstrap_server) as client:
            assert topic not in topic_names(client)
            found = client.request(FindCoordinatorRequest(key_type=key_type, coordinator_keys=["app"]), 4)
            assert found.coordinators[0].error_code == ErrorCode.NONE
            names = topic_names(client)
            assert topic in names and other not in names
            partitions = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                                        12).topics[0].partitions
            assert len(partitions) == 3
    finally:
        broker.stop()
