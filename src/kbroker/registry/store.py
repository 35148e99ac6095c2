"""The `_schemas` topic as the registry's store, over the Kafka protocol (aiokafka), so the same
code serves from inside kbroker (over loopback) and standalone against any broker.

One reader task follows the topic's single partition from its start and hands every record to
the state; a write is acknowledged by the broker and then waited for until the reader has applied
it, so an answer always reflects the registry's own writes. Before deciding anything that others
may have changed (a new id, a new version), the writer first writes a NOOP and waits for it: by
then every record written before it, by any registry process, has been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from kbroker.registry import errors, records
from kbroker.registry.state import RegistryState

log = logging.getLogger("kbroker.registry")
TOPIC = "_schemas"
TOPIC_ALREADY_EXISTS = 36
# How long a write may take to be acknowledged and read back (Confluent's kafkastore.timeout.ms is
# 500 ms against a JVM broker; a broker in Python busy with other clients is given ten times that).
WRITE_TIMEOUT_S = 5.0
# Confluent's kafkastore.topic.replication.factor; fewer when the cluster has fewer brokers.
REPLICATION_FACTOR = 3
# A reader whose broker went away tries again after this long; the client reconnects by itself.
READ_RETRY_S = 1.0
# The reader's fetch long poll. Every write waits for the reader to see it, so a broker that misses
# waking a waiting fetch (kbroker can, when the append lands just as the fetch starts waiting)
# delays the answer by at most this; an idle registry sends ten small fetches a second.
FETCH_MAX_WAIT_MS = 100


class KafkaStore:
    """Reads `_schemas` into a RegistryState and writes records to it."""

    def __init__(self, bootstrap: str, topic: str = TOPIC, timeout: float = WRITE_TIMEOUT_S) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout
        self.state = RegistryState()
        self.lock = asyncio.Lock()  # one writer at a time in this process
        self._partition = TopicPartition(topic, 0)
        self._applied = 0  # offset of the next record the reader will apply
        self._progress = asyncio.Condition()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the topic if missing, then read it to its end before answering anything."""
        await self._ensure_topic()
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
                                    client_id="kbroker-schema-registry")
        await producer.start()
        self._producer = producer
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    client_id="kbroker-schema-registry", isolation_level="read_committed",
                                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await consumer.start()
        self._consumer = consumer
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_beginning(self._partition)
        self._reader = asyncio.create_task(self._read(), name="schema-registry-reader")
        await self.sync()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _ensure_topic(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="kbroker-schema-registry")
        await admin.start()
        try:
            if self.topic in await admin.list_topics():
                return
            brokers = len((await admin.describe_cluster())["brokers"])
            topic = NewTopic(self.topic, 1, min(REPLICATION_FACTOR, max(brokers, 1)),
                             topic_configs={"cleanup.policy": "compact"})
            response = await admin.create_topics([topic])
            for name, code, *message in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"cannot create {name}: error {code} {message}")
            log.info("created the %s topic", self.topic)
        finally:
            await admin.close()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(self._partition, timeout_ms=200)
            except KafkaError as exc:
                log.warning("reading %s failed, trying again: %s", self.topic, exc)
                await asyncio.sleep(READ_RETRY_S)
                continue
            for message in batches.get(self._partition, []):
                try:
                    key = records.decode(message.key)
                    if key is None:
                        raise ValueError("no key")
                    self.state.apply(key, records.decode(message.value))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("skipping %s offset %d: %s", self.topic, message.offset, exc)
                self._applied = message.offset + 1
            if batches:
                async with self._progress:
                    self._progress.notify_all()

    async def put(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        """Write one record and return once this registry's state has applied it."""
        assert self._producer is not None
        try:
            sent = await asyncio.wait_for(
                self._producer.send_and_wait(self.topic, records.encode(value), key=records.encode(key),
                                             partition=0), self.timeout)
            async with self._progress:
                await asyncio.wait_for(self._progress.wait_for(lambda: self._applied > sent.offset), self.timeout)
        except asyncio.TimeoutError:
            raise errors.RegistryError(500, 50002, f"Write to the {self.topic} topic timed out") from None
        except Exception as exc:  # the broker refused or went away: the registry's store error
            raise errors.store_error(str(exc) or type(exc).__name__) from exc

    async def sync(self) -> None:
        """Return once every record written to the topic before now has been applied."""
        await self.put(records.NOOP_KEY, None)
