"""Three brokers on a real ZooKeeper: Kafka's ZooKeeper layout, metadata from every broker,
replicated produce and consume with stock clients, byte-identical replicas."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions
from kproto import ErrorCode
from kproto.messages import ProduceRequest
from kproto.records.batch import build_batch
from kproto.records.record import Record

from kbroker.tools.client import Connection

from clusterclients import admin, controller_id, create_topic, partitions, wait_until, zookeeper
from zkcluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def read_all(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values = []
    try:
        wait_until(lambda: bool(values.extend(m.value() for m in consumer.consume(500, 1.0) if not m.error()))
                   or len(values) >= count, timeout, f"{count} records from {topic}")
    finally:
        consumer.close()
    return values


def test_kafka_zookeeper_layout(cluster: Cluster) -> None:
    topic = f"layout-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=2)
    with zookeeper(cluster) as zk:
        assert sorted(zk.get_children("/brokers/ids"), key=int) == ["1", "2", "3"]
        registration = json.loads(zk.get("/brokers/ids/2")[0])
        assert registration["endpoints"] == [f"PLAINTEXT://{cluster.brokers[2].bootstrap_server}"]
        controller = json.loads(zk.get("/controller")[0])
        assert controller["brokerid"] in (1, 2, 3)
        assert int(zk.get("/controller_epoch")[0]) >= 1
        assignment = json.loads(zk.get(f"/brokers/topics/{topic}")[0])
        assert sorted(assignment["partitions"]) == ["0", "1"]
        assert all(sorted(r) == [1, 2, 3] for r in assignment["partitions"].values())
        state = json.loads(zk.get(f"/brokers/topics/{topic}/partitions/0/state")[0])
        assert set(state) >= {"controller_epoch", "leader", "version", "leader_epoch", "isr"}
        assert state["leader"] == assignment["partitions"]["0"][0]  # the preferred replica leads
        assert json.loads(zk.get("/cluster/id")[0])["id"]
        assert json.loads(zk.get(f"/config/topics/{topic}")[0]) == {"version": 1, "config": {}}


def test_every_broker_answers_metadata_for_the_whole_cluster(cluster: Cluster) -> None:
    topic = f"meta-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=3)
    leaders = set()
    for broker in cluster.brokers.values():
        listing = subprocess.run(["kcat", "-b", broker.bootstrap_server, "-L", "-t", topic, "-J"],
                                 capture_output=True, text=True, timeout=30, check=True)
        doc = json.loads(listing.stdout)
        assert sorted(b["id"] for b in doc["brokers"]) == [1, 2, 3]
        assert doc["controllerid"] in (1, 2, 3)
        parts = doc["topics"][0]["partitions"]
        assert len(parts) == 3
        leaders |= {p["leader"] for p in parts}
    assert leaders == {1, 2, 3}  # Kafka's round-robin spread: one leader per broker


def test_acks_all_produce_is_replicated_byte_for_byte(cluster: Cluster) -> None:
    topic = f"repl-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i in range(3000):
        producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode(),
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []
    values = read_all(cluster.bootstrap_servers, topic, 3000)
    assert sorted(values) == sorted(f"v{i}".encode() for i in range(3000))

    def replicas_identical() -> bool:
        for index in range(3):
            logs = {b: (broker.data_dir / f"{topic}-{index}" / "00000000000000000000.log").read_bytes()
                    for b, broker in cluster.brokers.items()}
            if len(set(logs.values())) != 1:
                return False
        return True
    wait_until(replicas_identical, 15, "every replica's log to be byte-identical")


def test_flush_messages_appends_are_answered_and_read_with_one_replica_or_three(cluster: Cluster) -> None:
    """Each append reaches flush.messages=1: the leader's high watermark passes it only once its
    flush thread has fsynced it, and then moves, even with the leader alone in the ISR."""
    for replication_factor in (1, 3):
        topic = f"flush-{replication_factor}-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic, replication_factor=replication_factor, config={"flush.messages": "1"})
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "linger.ms": 0})
        errors = []
        for i in range(50):
            producer.produce(topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: err and errors.append(err))
        assert producer.flush(30) == 0
        assert errors == []
        assert sorted(read_all(cluster.bootstrap_servers, topic, 50)) == sorted(f"v{i}".encode() for i in range(50))


def test_a_follower_refuses_clients_with_not_leader(cluster: Cluster) -> None:
    topic = f"notleader-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic)
    leader, replicas, _ = partitions(cluster, topic)[0]
    follower = next(b for b in replicas if b != leader)
    # Stock clients go to the leader by themselves; the follower's own answer is read with kproto.
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(
            index=0, records=build_batch([Record(0, 0, b"k", b"v")]))])])
    host, port = cluster.brokers[follower].bootstrap_server.split(":")
    with Connection(host, int(port)) as connection:
        response = connection.request(request, 10)
    answer = response.responses[0].partition_responses[0]
    assert answer.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert answer.current_leader.leader_id == leader  # KIP-951: where to go instead
    assert answer.current_leader.leader_epoch == 0
    assert [(e.node_id, f"{e.host}:{e.port}") for e in response.node_endpoints] == [
        (leader, cluster.brokers[leader].bootstrap_server)]


def test_topics_grow_change_and_go_from_any_broker(cluster: Cluster) -> None:
    topic = f"admin-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=2)
    second = AdminClient({"bootstrap.servers": cluster.brokers[2].bootstrap_server})
    second.create_partitions([NewPartitions(topic, 5)])[topic].result(15)
    wait_until(lambda: len(partitions(cluster, topic)) == 5 and all(
        leader > 0 and len(isr) == 3 for leader, _, isr in partitions(cluster, topic).values()), 30,
        "the new partitions to have leaders and full ISRs")
    third = AdminClient({"bootstrap.servers": cluster.brokers[3].bootstrap_server})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    third.incremental_alter_configs([resource])[resource].result(15)

    def retention_everywhere() -> bool:
        for broker in cluster.brokers.values():
            client = AdminClient({"bootstrap.servers": broker.bootstrap_server})
            found = client.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
            configs = next(iter(found.values())).result(10)
            if configs["retention.ms"].value != "3600000":
                return False
        return True
    wait_until(retention_everywhere, 15, "every broker to describe the new retention.ms")
    second.delete_topics([topic])[topic].result(15)
    wait_until(lambda: topic not in admin(cluster).list_topics(timeout=10).topics, 30,
               "the topic to vanish from metadata")
    wait_until(lambda: not any((b.data_dir / f"{topic}-0").exists() for b in cluster.brokers.values()), 15,
               "every replica's data to be deleted")


def kbroker_tool(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbroker", *args, "--bootstrap-server", cluster.bootstrap_servers],
                          capture_output=True, text=True, timeout=60)


def test_reassign_partitions_and_leader_election_tools(cluster: Cluster, tmp_path: Path) -> None:
    topic = f"tools-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, replication_factor=2)
    original = partitions(cluster, topic)[0][1]
    spare = next(b for b in cluster.brokers if b not in original)
    moves = tmp_path / "topics.json"
    moves.write_text(json.dumps({"topics": [{"topic": topic}], "version": 1}))
    generated = kbroker_tool(cluster, "reassign-partitions", "--generate", "--topics-to-move-json-file", str(moves),
                             "--broker-list", "1,2,3")
    assert generated.returncode == 0, generated.stderr
    current, proposed = generated.stdout.split("\n\n")
    assert current.splitlines()[0] == "Current partition replica assignment"
    assert json.loads(current.splitlines()[1])["partitions"][0]["replicas"] == original
    assert len(json.loads(proposed.splitlines()[1])["partitions"][0]["replicas"]) == 2

    target = [spare, original[1]]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": target}]}))
    started = kbroker_tool(cluster, "reassign-partitions", "--execute", "--reassignment-json-file", str(plan))
    assert started.returncode == 0, started.stderr
    assert f"Successfully started partition reassignments for {topic}-0" in started.stdout
    wait_until(lambda: f"Reassignment of partition {topic}-0 is completed." in kbroker_tool(
        cluster, "reassign-partitions", "--verify", "--reassignment-json-file", str(plan)).stdout, 30,
        "the reassignment to complete")
    assert partitions(cluster, topic)[0][1] == target
    listed = kbroker_tool(cluster, "reassign-partitions", "--list")
    assert listed.stdout.strip() == "No partition reassignments found."

    elected = kbroker_tool(cluster, "leader-election", "--election-type", "PREFERRED", "--topic", topic,
                           "--partition", "0")
    assert elected.returncode == 0, elected.stderr
    assert elected.stdout.strip() in (f"Valid replica already elected for partitions {topic}-0",
                                      f"Successfully completed leader election (PREFERRED) for partitions {topic}-0")
    wait_until(lambda: partitions(cluster, topic)[0][0] == spare, 15, "the preferred replica to lead")


def test_cluster_metrics_on_the_prometheus_endpoint(tmp_path: Path) -> None:
    """Replication gauges with Kafka's exporter names: leaders, under-replicated partitions, the
    active controller, ISR shrinks."""
    with Cluster(tmp_path / "cluster", metrics=True) as cluster:
        url = cluster.brokers[1].metrics_url
        topic = f"metrics-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic, partitions_count=3)

        def scrape() -> dict[str, float]:
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                    if line.startswith(("kafka_server_replicamanager", "kafka_controller"))}
        wait_until(lambda: scrape()["kafka_server_replicamanager_leadercount"] >= 1, 15, "a partition led by broker 1")
        wait_until(lambda: scrape()["kafka_server_replicamanager_underreplicatedpartitions"] == 0, 15,
                   "every ISR to be full")
        metrics = scrape()
        assert metrics["kafka_server_replicamanager_partitioncount"] >= 3
        assert metrics["kafka_controller_kafkacontroller_activecontrollercount"] == (controller_id(cluster) == 1)
        cluster.brokers[2].stop(kill=True)

        def all_led_under_replicated() -> bool:  # broker 1 may also take over some of broker 2's partitions
            now = scrape()
            return now["kafka_server_replicamanager_underreplicatedpartitions"] == \
                now["kafka_server_replicamanager_leadercount"] >= metrics["kafka_server_replicamanager_leadercount"]
        wait_until(all_led_under_replicated, 30, "every partition led by broker 1 to be under-replicated")
