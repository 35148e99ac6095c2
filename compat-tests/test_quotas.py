"""Client quotas enforced as Kafka enforces them, seen by stock clients and a raw client.

A producer over its producer_byte_rate and a consumer over its consumer_byte_rate are held near
their quota and told the throttle time; a throttled connection reads nothing more until that time
has passed; a quota on a SASL user holds that user and nobody else; removing a quota lifts it.

The broker keeps two one-second quota windows (Kafka keeps eleven), so that a client's first burst
allowance is one second's worth and a few seconds show the quota's effect. The assertions are on
the throttle's effect — bytes over elapsed time bounded by twice the quota, where an unthrottled
client on loopback moves many times that — never on how fast the broker is.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import uuid

import kafka
import pytest

from kproto import ErrorCode, decode_response, encode_request
from kproto.frames import frame
from kproto.messages import FetchRequest, MetadataRequest, RequestHeader

from brokerproc import BrokerProcess, free_port
from conftest import create_topic, unique_topic
from quota_admin import produce_request, set_quota, throttle_max
from rawclient import RawClient

pytestmark = [pytest.mark.timeout(120), pytest.mark.broker_config({"quota.window.num": "2",
                                                                   "quota.window.size.seconds": "1"})]

QUOTA = 50_000  # bytes a second
RUN = 4.0  # seconds each client runs
VALUE = b"x" * 1000
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" user_alice="alice-secret" user_bob="bob-secret";')


def produce_for(producer: kafka.KafkaProducer, topic: str, seconds: float) -> float:
    """Produce as fast as the producer is let for `seconds`; the bytes a second acknowledged."""
    acked = [0]
    outstanding = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        outstanding = [future for future in outstanding if not future.is_done]
        if len(outstanding) >= 64:
            time.sleep(0.005)
            continue
        future = producer.send(topic, VALUE, partition=0)
        future.add_callback(lambda _: acked.__setitem__(0, acked[0] + len(VALUE)))
        outstanding.append(future)
    elapsed = time.monotonic() - started
    return acked[0] / elapsed


def test_producer_is_held_near_its_producer_byte_rate(bootstrap: str, request: pytest.FixtureRequest) -> None:
    topic = create_topic(bootstrap, unique_topic(request))
    client_id = f"slow-producer-{uuid.uuid4().hex[:6]}"
    set_quota(bootstrap, {"client-id": client_id}, "producer_byte_rate", QUOTA)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, linger_ms=5,
                                   batch_size=16384, request_timeout_ms=30000)
    try:
        rate = produce_for(producer, topic, RUN)
        assert 0 < rate < 2 * QUOTA
        assert throttle_max(producer) > 0
    finally:
        producer.close(timeout=20)


def test_consumer_is_held_near_its_consumer_byte_rate(bootstrap: str, request: pytest.FixtureRequest) -> None:
    topic = create_topic(bootstrap, unique_topic(request))
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for _ in range(1000):  # 1 MB, more than the consumer may read in RUN seconds
        producer.send(topic, VALUE, partition=0)
    producer.flush(30)
    producer.close()
    client_id = f"slow-consumer-{uuid.uuid4().hex[:6]}"
    set_quota(bootstrap, {"client-id": client_id}, "consumer_byte_rate", QUOTA)
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, auto_offset_reset="earliest",
                                   enable_auto_commit=False, fetch_max_wait_ms=100)
    consumer.assign([kafka.TopicPartition(topic, 0)])
    try:
        consumed = 0
        started = time.monotonic()
        while time.monotonic() - started < RUN:
            for records in consumer.poll(timeout_ms=100).values():
                consumed += sum(len(r.value) for r in records)
        rate = consumed / (time.monotonic() - started)
        assert 0 < rate < 2 * QUOTA
        assert throttle_max(consumer) > 0
    finally:
        consumer.close()


def test_a_throttled_connection_is_answered_then_muted_and_removing_the_quota_lifts_it(
        bootstrap: str, request: pytest.FixtureRequest) -> None:
    topic = create_topic(bootstrap, unique_topic(request))
    client_id = f"muted-{uuid.uuid4().hex[:6]}"
    set_quota(bootstrap, {"client-id": client_id}, "producer_byte_rate", 4000)
    with RawClient(bootstrap) as raw:
        raw.client_id = client_id
        answer = raw.request(produce_request(topic, 20_000), 9)
        assert answer.responses[0].partition_responses[0].error_code == ErrorCode.NONE
        # 20 kB against 4 kB/s over one second: (20000 - 4000) / 4000 seconds, as Kafka counts it.
        assert 3_500 <= answer.throttle_time_ms <= 4_500
        header = RequestHeader(request_api_key=MetadataRequest.API_KEY, request_api_version=1,
                               correlation_id=99, client_id=client_id)
        raw.sock.sendall(frame(encode_request(header, MetadataRequest(topics=[]))))
        raw.sock.settimeout(1.0)
        with pytest.raises(socket.timeout):  # muted: the request waits for the throttle time
            raw.sock.recv(4)
        raw.sock.settimeout(15)
        size = struct.unpack(">i", raw.read_exact(4))[0]
        assert decode_response(raw.read_exact(size), MetadataRequest.API_KEY, 1)[0].correlation_id == 99

    set_quota(bootstrap, {"client-id": client_id}, "producer_byte_rate", None)
    with RawClient(bootstrap) as raw:
        raw.client_id = client_id
        assert raw.request(produce_request(topic, 20_000), 9).throttle_time_ms == 0


def test_quotas_survive_a_restart(kafka_broker: BrokerProcess, request: pytest.FixtureRequest) -> None:
    topic = create_topic(kafka_broker.bootstrap_server, unique_topic(request))
    set_quota(kafka_broker.bootstrap_server, {"user": None, "client-id": "kept"}, "producer_byte_rate", 4000)
    kafka_broker.restart()
    with RawClient(kafka_broker.bootstrap_server) as raw:
        raw.client_id = "kept"  # an anonymous client falls under the default user
        assert raw.request(produce_request(topic, 20_000), 9).throttle_time_ms > 0


def test_a_throttled_fetch_is_answered_empty_and_opens_no_session(bootstrap: str,
                                                                 request: pytest.FixtureRequest) -> None:
    topic = create_topic(bootstrap, unique_topic(request))
    with RawClient(bootstrap) as raw:
        raw.request(produce_request(topic, 20_000), 9)
    client_id = f"fetcher-{uuid.uuid4().hex[:6]}"
    set_quota(bootstrap, {"client-id": client_id}, "consumer_byte_rate", 1000)
    fetch = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                         session_id=0, session_epoch=0, topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                             FetchRequest.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    with RawClient(bootstrap) as raw:
        raw.client_id = client_id
        answer = raw.request(fetch, 12)
    # The first batch is always sent, so 20 kB go over 1 kB/s at once: Kafka answers nothing instead.
    assert answer.error_code == ErrorCode.NONE and answer.throttle_time_ms > 0
    assert (answer.session_id, answer.responses) == (0, [])


@pytest.mark.parametrize("quota_entity", [{"user": "alice"}, {"user": "alice", "client-id": None}])
def test_a_user_quota_holds_that_sasl_user_only(tmp_path, request: pytest.FixtureRequest,
                                                quota_entity: dict[str, str | None]) -> None:
    sasl_port = free_port()
    broker = BrokerProcess(tmp_path / "broker", {
        "listeners": f"PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": PLAIN_JAAS,
        "quota.window.num": "2", "quota.window.size.seconds": "1"})
    with broker:
        topic = create_topic(broker.bootstrap_server, unique_topic(request))
        set_quota(broker.bootstrap_server, quota_entity, "producer_byte_rate", QUOTA)
        rates, throttles = {}, {}
        for user in ("alice", "bob"):
            producer = kafka.KafkaProducer(
                bootstrap_servers=f"127.0.0.1:{sasl_port}", security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=user, sasl_plain_password=f"{user}-secret",
                client_id="same-app", linger_ms=5)
            try:
                rates[user] = produce_for(producer, topic, 2.0)
                throttles[user] = throttle_max(producer)
            finally:
                producer.close(timeout=20)
        assert rates["alice"] < 2 * QUOTA < rates["bob"]
        assert throttles["alice"] > 0 and throttles["bob"] == 0
        assert re.search(r"authenticated on listener SASL_PLAINTEXT as User:alice", broker.log_tail())


def test_request_percentage_throttles_any_request_for_at_most_one_window(bootstrap: str) -> None:
    client_id = f"busy-{uuid.uuid4().hex[:6]}"
    set_quota(bootstrap, {"client-id": client_id}, "request_percentage", 0.0001)
    with RawClient(bootstrap) as raw:
        raw.client_id = client_id
        answer = raw.request(MetadataRequest(topics=[]), 9)
    assert answer.throttle_time_ms == 1000  # quota.window.size.seconds caps a request-time throttle
    set_quota(bootstrap, {"client-id": client_id}, "request_percentage", None)
