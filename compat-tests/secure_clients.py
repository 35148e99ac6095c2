"""Stock clients over TLS and SASL: produce a few records and read them back, or fail to connect.

Each client gets the same settings (`Secure`) in its own words: librdkafka's `security.protocol`
and `sasl.*`, kafka-python's and aiokafka's `security_protocol` / `sasl_*` / TLS files, and
kafkajs's `ssl` / `sasl` (through kafkajs/client.js). Reads assign partition 0 from offset 0, so a
round trip needs no group.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka
import kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import TopicPartition as AioTopicPartition

SECURE_CLIENTS = ("confluent", "kafka-python", "aiokafka", "kafkajs")
KAFKAJS = Path(__file__).parent / "kafkajs" / "client.js"
DEADLINE = 30.0


@dataclass(frozen=True)
class Secure:
    protocol: str  # SASL_PLAINTEXT, SASL_SSL or SSL
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None  # the CA the client trusts
    certfile: str | None = None  # a client certificate and its key, for mutual TLS
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")


def round_trip(client: str, bootstrap: str, topic: str, secure: Secure, count: int = 3,
               value_size: int = 0) -> list[bytes]:
    """Produce `count` values to partition 0 of `topic`, then read them back; the values read.
    Each names the client and its number, padded with random bytes to `value_size`."""
    values = [f"{client}-{i}-{uuid.uuid4().hex[:6]}".encode() for i in range(count)]
    values = [v + os.urandom(value_size - len(v)) if value_size > len(v) else v for v in values]
    if client == "kafkajs":
        _kafkajs("produce", {"bootstrap": bootstrap, "topic": topic, "records": [
            {"key": None, "value": _b64(v), "headers": [], "partition": 0} for v in values]}, secure)
        got = _kafkajs("consume", {"bootstrap": bootstrap, "topic": topic, "groupId": f"g-{uuid.uuid4().hex[:8]}",
                                   "count": count, "timeoutMs": 20000}, secure)
        return [_unb64(r["value"]) for r in sorted(got, key=lambda r: r["offset"])]
    produce, consume = {"confluent": (_ck_produce, _ck_consume), "kafka-python": (_kp_produce, _kp_consume),
                        "aiokafka": (_aio_produce, _aio_consume)}[client]
    produce(bootstrap, topic, values, secure)
    return consume(bootstrap, topic, count, secure)


def connect_failure(client: str, bootstrap: str, secure: Secure) -> str:
    """Try to fetch metadata; the error the client reports (an AssertionError if it succeeds)."""
    if client == "confluent":
        errors: list[str] = []
        admin = confluent_kafka.admin.AdminClient({**_ck_config(bootstrap, secure), "error_cb": lambda e: errors.append(str(e))})
        try:
            admin.list_topics(timeout=5)
        except confluent_kafka.KafkaException as exc:
            admin.poll(1)  # serves the error callbacks, which carry the reason
            return " | ".join(errors) or str(exc)
        raise AssertionError("librdkafka connected")
    if client == "kafka-python":
        try:
            consumer = kafka.KafkaConsumer(**kafka_python_config(bootstrap, secure), request_timeout_ms=5000,
                                           bootstrap_timeout_ms=3000)
        except Exception as exc:  # noqa: BLE001 - whatever the client raises is what the test looks at
            return f"{type(exc).__name__}: {exc}"
        consumer.close()
        raise AssertionError("kafka-python connected")
    raise ValueError(client)


# -- librdkafka

def _ck_config(bootstrap: str, secure: Secure) -> dict:
    config = {"bootstrap.servers": bootstrap, "security.protocol": secure.protocol, "socket.timeout.ms": 10_000}
    if secure.mechanism:
        config |= {"sasl.mechanisms": secure.mechanism, "sasl.username": secure.username, "sasl.password": secure.password}
    if secure.cafile:
        config["ssl.ca.location"] = secure.cafile
    if secure.certfile:
        config |= {"ssl.certificate.location": secure.certfile, "ssl.key.location": secure.keyfile}
    return config


def _ck_produce(bootstrap: str, topic: str, values: list[bytes], secure: Secure) -> None:
    producer = confluent_kafka.Producer({**_ck_config(bootstrap, secure), "message.timeout.ms": int(DEADLINE * 1000)})
    failures = []
    for value in values:
        producer.produce(topic, value, partition=0, on_delivery=lambda err, _msg: err and failures.append(err))
    assert producer.flush(DEADLINE) == 0 and not failures, f"librdkafka produce failed: {failures}"


def _ck_consume(bootstrap: str, topic: str, count: int, secure: Secure) -> list[bytes]:
    consumer = confluent_kafka.Consumer({**_ck_config(bootstrap, secure), "group.id": f"g-{uuid.uuid4().hex[:8]}",
                                         "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    got, deadline = [], time.monotonic() + DEADLINE
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


# -- kafka-python

def kafka_python_config(bootstrap: str, secure: Secure) -> dict:
    """kafka-python's settings for `secure`."""
    config = {"bootstrap_servers": bootstrap, "security_protocol": secure.protocol}
    if secure.mechanism:
        config |= {"sasl_mechanism": secure.mechanism, "sasl_plain_username": secure.username,
                   "sasl_plain_password": secure.password}
    if secure.cafile:
        config["ssl_cafile"] = secure.cafile
    if secure.certfile:
        config |= {"ssl_certfile": secure.certfile, "ssl_keyfile": secure.keyfile}
    return config


def _kp_produce(bootstrap: str, topic: str, values: list[bytes], secure: Secure) -> None:
    producer = kafka.KafkaProducer(**kafka_python_config(bootstrap, secure), request_timeout_ms=10_000)
    try:
        for future in [producer.send(topic, value, partition=0) for value in values]:
            future.get(timeout=DEADLINE)
    finally:
        producer.close()


def _kp_consume(bootstrap: str, topic: str, count: int, secure: Secure) -> list[bytes]:
    consumer = kafka.KafkaConsumer(**kafka_python_config(bootstrap, secure), enable_auto_commit=False,
                                   request_timeout_ms=10_000, consumer_timeout_ms=int(DEADLINE * 1000))
    consumer.assign([kafka.TopicPartition(topic, 0)])
    consumer.seek(kafka.TopicPartition(topic, 0), 0)
    got = []
    try:
        for msg in consumer:
            got.append(msg.value)
            if len(got) >= count:
                break
    finally:
        consumer.close()
    return got


# -- aiokafka

def _aio_config(bootstrap: str, secure: Secure) -> dict:
    config = {"bootstrap_servers": bootstrap, "security_protocol": secure.protocol, "request_timeout_ms": 10_000}
    if secure.mechanism:
        config |= {"sasl_mechanism": secure.mechanism, "sasl_plain_username": secure.username,
                   "sasl_plain_password": secure.password}
    if secure.tls:
        config["ssl_context"] = create_ssl_context(cafile=secure.cafile, certfile=secure.certfile, keyfile=secure.keyfile)
    return config


def _aio_produce(bootstrap: str, topic: str, values: list[bytes], secure: Secure) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(**_aio_config(bootstrap, secure))
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value, partition=0)
        finally:
            await producer.stop()
    asyncio.run(asyncio.wait_for(run(), DEADLINE))


def _aio_consume(bootstrap: str, topic: str, count: int, secure: Secure) -> list[bytes]:
    async def run() -> list[bytes]:
        consumer = AIOKafkaConsumer(**_aio_config(bootstrap, secure), enable_auto_commit=False)
        await consumer.start()
        try:
            tp = AioTopicPartition(topic, 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got = []
            while len(got) < count:
                msg = await consumer.getone()
                got.append(msg.value)
            return got
        finally:
            await consumer.stop()
    return asyncio.run(asyncio.wait_for(run(), DEADLINE))


# -- kafkajs

def _kafkajs(command: str, request: dict, secure: Secure) -> object:
    request = dict(request)
    if secure.tls:
        request["ssl"] = {"ca": [Path(secure.cafile).read_text()]} if secure.cafile else True
        if secure.certfile:
            request["ssl"] |= {"cert": Path(secure.certfile).read_text(), "key": Path(secure.keyfile).read_text()}
    if secure.mechanism == "OAUTHBEARER":
        request["sasl"] = {"mechanism": "oauthbearer", "principal": secure.username}
    elif secure.mechanism:
        request["sasl"] = {"mechanism": secure.mechanism.lower(), "username": secure.username, "password": secure.password}
    done = subprocess.run(["node", str(KAFKAJS), command], input=json.dumps(request).encode(), capture_output=True,
                          timeout=DEADLINE + 30)
    assert done.returncode == 0, f"kafkajs {command} failed: {done.stderr.decode(errors='replace')}"
    return json.loads(done.stdout)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
