"""Brokers of a cluster with several listeners: each registers every endpoint in ZooKeeper, the
controller's UpdateMetadata carries them all with their listener names, and a client is told the
brokers' addresses on the listener it came in on. Brokers reach each other on the PLAINTEXT one."""

from __future__ import annotations

import json
from pathlib import Path

import confluent_kafka

from brokerproc import HOST, free_port
from clusterclients import create_topic, zookeeper
from zkcluster import Cluster

PLAIN_JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'


def test_every_listener_is_registered_and_advertised_to_its_own_clients(tmp_path: Path) -> None:
    sasl_ports = {1: free_port(), 2: free_port()}
    per_broker = {i: {"listeners": f"PLAINTEXT://{HOST}:{{port}},SASL_PLAINTEXT://{HOST}:{port}"}
                  for i, port in sasl_ports.items()}
    config = {"sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": PLAIN_JAAS, "offsets.topic.replication.factor": "2"}
    with Cluster(tmp_path, size=2, config=config, per_broker=per_broker) as cluster:
        with zookeeper(cluster) as zk:
            registration = json.loads(zk.get("/brokers/ids/2")[0])
        assert registration["endpoints"] == [f"PLAINTEXT://{cluster.brokers[2].bootstrap_server}",
                                             f"SASL_PLAINTEXT://{HOST}:{sasl_ports[2]}"]
        assert registration["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT"}
        topic = "listeners"
        create_topic(cluster, topic, partitions_count=2, replication_factor=2)
        admin = confluent_kafka.admin.AdminClient({
            "bootstrap.servers": f"{HOST}:{sasl_ports[1]}", "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret"})
        brokers = admin.list_topics(topic, timeout=15).brokers
        assert sorted((b.id, b.port) for b in brokers.values()) == sorted(sasl_ports.items())
        producer = confluent_kafka.Producer({"bootstrap.servers": f"{HOST}:{sasl_ports[2]}", "security.protocol": "SASL_PLAINTEXT",
                                             "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
                                             "sasl.password": "alice-secret", "acks": "all"})
        for partition in (0, 1):  # one partition is led by each broker: both SASL listeners serve it
            producer.produce(topic, b"x", partition=partition)
        assert producer.flush(20) == 0
