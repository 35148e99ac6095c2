"""Client quotas from the tests' side: set one over AlterClientQuotas, read the throttle a client was told of."""

from __future__ import annotations

import time

import kafka
from kafka.record.default_records import DefaultRecordBatchBuilder

from kproto import ErrorCode
from kproto.messages import AlterClientQuotasRequest, ProduceRequest

from rawclient import RawClient


def set_quota(bootstrap: str, entity: dict[str, str | None], key: str, value: float | None) -> None:
    """Set (or, with None, remove) one quota over AlterClientQuotas, as kafka-configs.sh does."""
    request = AlterClientQuotasRequest(entries=[AlterClientQuotasRequest.EntryData(
        entity=[AlterClientQuotasRequest.EntityData(entity_type=k, entity_name=v) for k, v in entity.items()],
        ops=[AlterClientQuotasRequest.OpData(key=key, value=value or 0.0, remove=value is None)])])
    with RawClient(bootstrap) as admin:
        assert admin.request(request, 1).entries[0].error_code == ErrorCode.NONE


def throttle_max(client: kafka.KafkaProducer | kafka.KafkaConsumer) -> float:
    """The longest throttle time the client was told of (kafka-python's `throttle-time-max`)."""
    found = [metric.value() for name, metric in client._metrics.metrics.items() if name.name == "throttle-time-max"]
    return max((v for v in found if v == v and v != float("-inf")), default=0.0)


def produce_request(topic: str, size: int) -> ProduceRequest:
    """One record of `size` bytes for partition 0, acks=1."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=2**30)
    builder.append(0, timestamp=int(time.time() * 1000), key=None, value=b"q" * size, headers=[])
    return ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=bytes(builder.build()))])])
