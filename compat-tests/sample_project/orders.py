"""The code under test: an order service that publishes orders and a report that totals them.

It publishes with confluent-kafka and reads with kafka-python, as projects that mix the two do.
"""

from __future__ import annotations

import json
import time

from confluent_kafka import Producer
from kafka import KafkaConsumer


def publish_orders(bootstrap: str, topic: str, orders: list[dict]) -> None:
    """Key each order by customer, so one customer's orders stay in order on one partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for order in orders:
        producer.produce(topic, key=order["customer"].encode(), value=json.dumps(order).encode())
    if producer.flush(15):
        raise RuntimeError("orders not delivered")


def totals_by_customer(bootstrap: str, topic: str, expected: int, group_id: str, timeout: float = 20.0) -> dict:
    """Read `expected` orders as consumer group `group_id` and sum the amounts per customer."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group_id, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    totals: dict[str, int] = {}
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    order = json.loads(record.value)
                    totals[order["customer"]] = totals.get(order["customer"], 0) + order["amount"]
                    seen += 1
        consumer.commit()
    finally:
        consumer.close()
    return totals
