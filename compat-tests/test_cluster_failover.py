"""Brokers die under load: acknowledged records survive, leadership moves, ISRs shrink and grow
back, a divergent tail is cut, and min.insync.replicas refuses acks=all rather than lying."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaError, Producer, TopicPartition
from kafka import KafkaAdminClient
from kafka.structs import TopicPartition as KafkaPythonPartition
from kproto import ErrorCode
from kproto.messages import ProduceRequest
from kproto.records.batch import build_batch
from kproto.records.record import Record

from clusterclients import admin, controller_id, create_topic, leader_of, partitions, wait_until
from kbroker.testing.cluster import ClusterBroker
from kbroker.tools.client import Connection
from tcpproxy import TcpProxy
from zkcluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path / "cluster") as running:
        yield running


def read_partitions(bootstrap: str, topic: str, count: int, expected: int, timeout: float = 30.0) -> list[bytes]:
    """Every record of the topic's partitions from the start, without a group coordinator."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(count)])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(values) < expected and time.monotonic() < deadline:
            values.extend(m.value() for m in consumer.consume(1000, 0.5) if not m.error())
        values.extend(m.value() for m in consumer.consume(1000, 1.0) if not m.error())  # anything beyond
    finally:
        consumer.close()
    return values


class LoadProducer:
    """An idempotent acks=all librdkafka producer sending numbered records until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 2, "message.timeout.ms": 60000, "retry.backoff.ms": 50})
        self.topic = topic
        self.acked: list[bytes] = []
        self.failed: list[tuple[bytes, KafkaError]] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err: KafkaError | None, msg) -> None:
        (self.failed.append((msg.value(), err)) if err else self.acked.append(msg.value()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.producer.produce(self.topic, value=b"%d" % self.sent, on_delivery=self._delivered)
                self.sent += 1
            except BufferError:
                pass
            self.producer.poll(0.001 if self.sent % 50 == 0 else 0)

    def start(self) -> LoadProducer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        assert self.producer.flush(60) == 0


@pytest.mark.parametrize("victim", ["leader", "controller"])
def test_acknowledged_records_survive_a_killed_broker(cluster: Cluster, victim: str) -> None:
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=3)
    load = LoadProducer(cluster.bootstrap_servers, topic).start()
    wait_until(lambda: len(load.acked) > 3000, 30, "acknowledged records before the failure")
    dead = leader_of(cluster, topic, 0) if victim == "leader" else controller_id(cluster)
    cluster.brokers[dead].stop(kill=True)
    acked_at_kill = len(load.acked)
    wait_until(lambda: all(leader not in (dead, -1) for leader, _, _ in partitions(cluster, topic).values()),
               30, "new leaders for every partition")
    wait_until(lambda: len(load.acked) > acked_at_kill + 3000, 60, "acknowledged records after the failover")
    cluster.brokers[dead].start()
    wait_until(lambda: all(sorted(isr) == [1, 2, 3] for _, _, isr in partitions(cluster, topic).values()),
               30, "the returned broker to rejoin every ISR")
    load.stop()
    assert load.failed == []
    values = read_partitions(cluster.bootstrap_servers, topic, 3, len(load.acked))
    assert len(values) == len(set(values)), "the idempotent producer's records were duplicated"
    assert set(load.acked) <= set(values), f"{len(set(load.acked) - set(values))} acknowledged records were lost"


def raw_produce(cluster: Cluster, broker_id: int, topic: str, acks: int, value: bytes) -> int:
    request = ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(
            index=0, records=build_batch([Record(0, int(time.time() * 1000), None, value)]))])])
    host, port = cluster.brokers[broker_id].bootstrap_server.rsplit(":", 1)
    with Connection(host, int(port)) as connection:
        return connection.request(request, 9).responses[0].partition_responses[0].error_code


def test_min_insync_replicas_refuses_acks_all_and_keeps_acks_one(cluster: Cluster) -> None:
    topic = f"minisr-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, config={"min.insync.replicas": "2"})
    leader, replicas, _ = partitions(cluster, topic)[0]
    assert raw_produce(cluster, leader, topic, -1, b"before") == ErrorCode.NONE
    for follower in replicas:
        if follower != leader:
            cluster.brokers[follower].stop(kill=True)
    wait_until(lambda: partitions(cluster, topic)[0][2] == [leader], 30, "the ISR to shrink to the leader")
    assert raw_produce(cluster, leader, topic, -1, b"refused") == ErrorCode.NOT_ENOUGH_REPLICAS
    producer = Producer({"bootstrap.servers": cluster.brokers[leader].bootstrap_server, "acks": "all",
                         "message.timeout.ms": 3000, "enable.idempotence": False, "retries": 0})
    outcome: list[KafkaError | None] = []
    producer.produce(topic, value=b"refused-too", on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(10)
    assert outcome and outcome[0] is not None and outcome[0].code() == KafkaError.NOT_ENOUGH_REPLICAS
    assert raw_produce(cluster, leader, topic, 1, b"acks-one") == ErrorCode.NONE
    values = read_partitions(cluster.brokers[leader].bootstrap_server, topic, 1, 2)
    assert values == [b"before", b"acks-one"]  # nothing of a refused acks=all write was appended


def test_a_divergent_tail_is_truncated_to_the_new_leader(cluster: Cluster) -> None:
    """The old leader took writes (acks=1) no other replica has, died, and an unclean election
    made another replica leader, which took writes of its own: back, the old leader cuts its tail."""
    topic = f"diverge-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, config={"unclean.leader.election.enable": "true"})
    old, replicas, _ = partitions(cluster, topic)[0]
    others = [b for b in replicas if b != old]
    for i in range(100):
        assert raw_produce(cluster, old, topic, -1, b"shared-%d" % i) == ErrorCode.NONE
    for broker_id in others:
        cluster.brokers[broker_id].stop(kill=True)
    wait_until(lambda: partitions(cluster, topic)[0][2] == [old], 30, "the ISR to shrink to the old leader")
    for i in range(50):
        assert raw_produce(cluster, old, topic, 1, b"divergent-%d" % i) == ErrorCode.NONE
    cluster.brokers[old].stop(kill=True)
    for broker_id in others:
        cluster.brokers[broker_id].start()
    wait_until(lambda: partitions(cluster, topic)[0][0] in others, 30, "an unclean election among the others")
    new = partitions(cluster, topic)[0][0]
    for i in range(30):
        assert raw_produce(cluster, new, topic, -1, b"new-%d" % i) == ErrorCode.NONE
    cluster.brokers[old].start()
    wait_until(lambda: sorted(partitions(cluster, topic)[0][2]) == sorted(replicas), 30,
               "the old leader to rejoin the ISR")
    segment = f"{topic}-0/00000000000000000000.log"
    wait_until(lambda: (cluster.brokers[old].data_dir / segment).read_bytes()
               == (cluster.brokers[new].data_dir / segment).read_bytes(), 15,
               "the old leader's log to match the new leader's byte for byte")
    values = read_partitions(cluster.bootstrap_servers, topic, 1, 130)
    assert values == [b"shared-%d" % i for i in range(100)] + [b"new-%d" % i for i in range(30)]


def test_a_paused_controller_loses_its_session_and_comes_back_as_a_broker(cluster: Cluster) -> None:
    topic = f"paused-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=3)
    paused = controller_id(cluster)
    os.kill(cluster.brokers[paused].pid, signal.SIGSTOP)
    try:
        wait_until(lambda: controller_id(cluster) not in (paused, -1), 30, "another broker to become controller")
        wait_until(lambda: all(leader != paused for leader, _, _ in partitions(cluster, topic).values()), 30,
                   "leadership to move off the paused broker")
    finally:
        os.kill(cluster.brokers[paused].pid, signal.SIGCONT)
    cluster.wait_for_brokers([1, 2, 3])
    wait_until(lambda: all(sorted(isr) == [1, 2, 3] for _, _, isr in partitions(cluster, topic).values()), 30,
               "the resumed broker to rejoin every ISR")
    assert controller_id(cluster) != paused
    for i in range(20):
        assert raw_produce(cluster, leader_of(cluster, topic, 0), topic, -1, b"after-%d" % i) == ErrorCode.NONE


def test_a_rolling_restart_under_acks_all_load_is_invisible_to_the_producer(cluster: Cluster) -> None:
    """SIGTERM makes each broker hand its leadership over first (controlled shutdown), so the
    producer sees no error and nothing is lost or duplicated."""
    topic = f"rolling-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions_count=3, config={"min.insync.replicas": "2"})
    load = LoadProducer(cluster.bootstrap_servers, topic).start()
    wait_until(lambda: len(load.acked) > 2000, 30, "acknowledged records before the restarts")
    for broker_id in sorted(cluster.brokers):
        led = [p for p, (leader, _, _) in partitions(cluster, topic).items() if leader == broker_id]
        cluster.brokers[broker_id].stop()  # SIGTERM
        assert all(partitions(cluster, topic)[p][0] != broker_id for p in led)
        cluster.brokers[broker_id].start()
        wait_until(lambda: all(sorted(isr) == [1, 2, 3] for _, _, isr in partitions(cluster, topic).values()),
                   30, f"broker {broker_id} to rejoin every ISR")
        acked = len(load.acked)
        wait_until(lambda: len(load.acked) > acked + 1000, 30, "records acknowledged after the restart")
    load.stop()
    assert load.failed == []
    values = read_partitions(cluster.bootstrap_servers, topic, 3, len(load.acked))
    assert len(values) == len(set(values))
    assert set(load.acked) <= set(values)


def topic_with_a_restarted_preferred_leader(cluster: Cluster, topic: str) -> dict[int, int]:
    """A three-partition topic whose partition 0's preferred leader was restarted, so that it leads
    no longer; returns each partition's preferred replica."""
    create_topic(cluster, topic, partitions_count=3)
    preferred = {p: replicas[0] for p, (_, replicas, _) in partitions(cluster, topic).items()}
    cluster.brokers[preferred[0]].stop()
    cluster.brokers[preferred[0]].start()
    wait_until(lambda: sorted(partitions(cluster, topic)[0][2]) == [1, 2, 3], 30, "the ISR to be full again")
    return preferred


def test_preferred_leaders_come_back_by_election_and_by_themselves(tmp_path: Path) -> None:
    """A restarted broker leads nothing until ElectLeaders (or the controller's periodic
    imbalance check) gives it back the partitions it is the preferred replica of."""
    config = {"auto.leader.rebalance.enable": "true", "leader.imbalance.check.interval.seconds": "2",
              "leader.imbalance.per.broker.percentage": "0"}
    with Cluster(tmp_path / "cluster", config=config) as cluster:
        topic = f"preferred-{uuid.uuid4().hex[:8]}"
        preferred = topic_with_a_restarted_preferred_leader(cluster, topic)
        wait_until(lambda: all(partitions(cluster, topic)[p][0] == preferred[p] for p in preferred), 30,
                   "the periodic check to give every partition back to its preferred replica")


def test_elect_leaders_moves_leadership_to_the_preferred_replica(cluster: Cluster) -> None:
    topic = f"elect-{uuid.uuid4().hex[:8]}"
    preferred = topic_with_a_restarted_preferred_leader(cluster, topic)
    assert partitions(cluster, topic)[0][0] != preferred[0]
    client = admin(cluster)
    moved = [TopicPartition(topic, p) for p in preferred if partitions(cluster, topic)[p][0] != preferred[p]]
    results = client.elect_leaders(ElectionType.PREFERRED, moved).result(15)
    assert all(error is None for error in results.values())
    wait_until(lambda: all(partitions(cluster, topic)[p][0] == preferred[p] for p in preferred), 15,
               "every partition to be led by its preferred replica")
    again = client.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(15)
    assert again[TopicPartition(topic, 0)].code() == KafkaError.ELECTION_NOT_NEEDED


def test_a_reassignment_under_load_moves_the_replicas_and_keeps_every_record(tmp_path: Path) -> None:
    with Cluster(tmp_path / "cluster", size=4) as cluster:
        topic = f"move-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic)
        original = partitions(cluster, topic)[0][1]
        outside = next(b for b in cluster.brokers if b not in original)
        target = [outside] + original[1:]
        load = LoadProducer(cluster.bootstrap_servers, topic).start()
        wait_until(lambda: len(load.acked) > 3000, 30, "acknowledged records before the move")
        tools = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers.split(","))
        try:
            tools.alter_partition_reassignments({KafkaPythonPartition(topic, 0): target})
            wait_until(lambda: partitions(cluster, topic)[0][1] == target and sorted(
                partitions(cluster, topic)[0][2]) == sorted(target), 60, f"the replicas to move to {target}")
            assert tools.list_partition_reassignments() == {}
        finally:
            tools.close()
        acked = len(load.acked)
        wait_until(lambda: len(load.acked) > acked + 2000, 30, "records acknowledged after the move")
        load.stop()
        assert load.failed == []
        wait_until(lambda: not (cluster.brokers[original[0]].data_dir / f"{topic}-0").exists(), 15,
                   "the removed replica's files to be deleted")
        values = read_partitions(cluster.bootstrap_servers, topic, 1, len(load.acked))
        assert len(values) == len(set(values))
        assert set(load.acked) <= set(values)


def test_a_broker_keeps_serving_while_zookeeper_is_away_and_still_stops(tmp_path: Path) -> None:
    """ZooKeeper's absence holds up no client request, and SIGTERM still ends the broker."""
    with Cluster(tmp_path / "cluster", size=1) as cluster:
        topic = f"nozk-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic, replication_factor=1)
        cluster.zookeeper.stop()
        for i in range(5):
            assert raw_produce(cluster, 1, topic, 1, b"without-zookeeper-%d" % i) == ErrorCode.NONE
        broker = cluster.brokers[1]
        os.kill(broker.pid, signal.SIGTERM)
        wait_until(lambda: not broker.running, 40, "the broker to stop on SIGTERM")


class ProxiedCluster(Cluster):
    """A cluster whose brokers reach ZooKeeper through a proxy that can cut their connections."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.proxy = TcpProxy(lambda: self.zookeeper.connect)

    def _broker(self, broker_id: int) -> ClusterBroker:
        broker = super()._broker(broker_id)
        broker.launch.config["zookeeper.connect"] = self.proxy.address + self.chroot
        return broker

    def stop(self, broker_id: int | None = None) -> None:
        super().stop(broker_id)
        if broker_id is None:
            self.proxy.close()


def test_watches_outlive_a_dropped_zookeeper_connection(tmp_path: Path) -> None:
    """A dropped connection whose session lives on loses no watch: the controller still sees new
    topics and brokers leaving and coming back, and the other brokers still stand for controller."""
    with ProxiedCluster(tmp_path / "cluster") as cluster:
        assert cluster.proxy.cut() >= len(cluster.brokers)
        wait_until(lambda: cluster.proxy.connections >= len(cluster.brokers), 20, "the brokers to reconnect")
        topic = f"rewatch-{uuid.uuid4().hex[:8]}"
        create_topic(cluster, topic, partitions_count=3)
        controller = controller_id(cluster)
        other = next(i for i in cluster.brokers if i != controller)
        cluster.brokers[other].stop(kill=True)
        cluster.wait_for_brokers([i for i in cluster.brokers if i != other])
        cluster.start(other)
        cluster.brokers[controller].stop(kill=True)
        cluster.wait_for_brokers([i for i in cluster.brokers if i != controller])
