"""A coordinator lookup creates the coordinator's internal topic, as Kafka does.

Kafka creates `__consumer_offsets` and `__transaction_state` when a client first asks for a
group's or a transactional id's coordinator, so the group's first SyncGroup or the transaction's
first write does not stall on creating 50 partitions. Each case starts a broker of its own: on a
shared one another test may have created the topics already.
"""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition as KPTopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from brokerproc import BrokerProcess
from kproto import ErrorCode
from kproto.compression import Codec
from kproto.records import iter_batch_headers
from kproto.messages import DescribeConfigsRequest, FindCoordinatorRequest, MetadataRequest
from rawclient import RawClient


def described_configs(client: RawClient, topic: str) -> dict[str, str]:
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=topic)
    resource.configuration_keys = None  # null: every key (constructors turn a None list into [])
    response = client.request(DescribeConfigsRequest(resources=[resource]), 4)
    return {c.name: c.value for c in response.results[0].configs}


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
                                             "transaction.state.log.num.partitions": "3",
                                             "transaction.state.log.min.isr": "3"})
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
            configs = described_configs(client, topic)
            assert configs["cleanup.policy"] == "compact"
            # transaction.state.log.min.isr is __transaction_state's own; the offsets topic has none
            assert configs["min.insync.replicas"] == ("3" if topic == "__transaction_state" else "1")
            # and the codec Kafka gives each: the transaction log's own, the offsets topic the producer's
            assert configs["compression.type"] == ("uncompressed" if topic == "__transaction_state" else "producer")
    finally:
        broker.stop()


def test_offsets_topic_compression_codec_compresses_commits_that_survive_a_restart(tmp_path) -> None:
    """offsets.topic.compression.codec=4: the group coordinator writes zstd batches, and a restarted
    broker reads the commits back from them."""
    broker = BrokerProcess(tmp_path, config={"offsets.topic.num.partitions": "1", "offsets.topic.compression.codec": "4"})
    broker.start()
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_server)
        admin.create_topics([NewTopic("t", 1, 1)])
        admin.close()
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_server, group_id="zstd-commits",
                                 enable_auto_commit=False)
        consumer.commit({KPTopicPartition("t", 0): OffsetAndMetadata(42, "", -1)})
        consumer.close()
        broker.restart()
        with RawClient(broker.bootstrap_server) as client:
            assert client.committed("zstd-commits", "t") == (ErrorCode.NONE, 42)
        broker.stop()
        segment = (broker.data_dir / "__consumer_offsets-0" / f"{0:020d}.log").read_bytes()
        assert {Codec(header.compression) for _, header in iter_batch_headers(segment)} == {Codec.ZSTD}
    finally:
        broker.stop()
