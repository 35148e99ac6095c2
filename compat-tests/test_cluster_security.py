"""Security across a cluster: ACLs and SCRAM users live in ZooKeeper, where Kafka keeps them, so
that what is created through one broker holds on every broker; and brokers reach each other over
a secured inter-broker listener.

Each broker has a PLAINTEXT listener (its client port, where User:ANONYMOUS is a super user: the
fixture and the admin calls) and a SASL_PLAINTEXT one, where alice (PLAIN) and SCRAM users are
judged by the ACLs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest
import trustme
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType,
    ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion,
)

from brokerproc import HOST, free_port
from clusterclients import create_topic, leader_of, wait_until, zookeeper
from kproto.messages import DescribeClientQuotasRequest
from quota_admin import produce_request, set_quota
from rawclient import RawClient
from zkcluster import Cluster

pytestmark = pytest.mark.timeout(180)
PLAIN_JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'
BROKER_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" '
               'password="broker-secret" user_broker="broker-secret";')
TIMEOUT = 15


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    sasl_ports = {1: free_port(), 2: free_port()}
    per_broker = {i: {"listeners": f"PLAINTEXT://{HOST}:{{port}},SASL_PLAINTEXT://{HOST}:{port}"}
                  for i, port in sasl_ports.items()}
    config = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": "User:ANONYMOUS",
              "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512", "sasl.jaas.config": PLAIN_JAAS}
    with Cluster(tmp_path_factory.mktemp("cluster"), size=2, config=config, per_broker=per_broker) as running:
        running.sasl_ports = sasl_ports  # type: ignore[attr-defined]
        yield running


def admin(cluster: Cluster, broker_id: int) -> AdminClient:
    """An admin client of one broker alone (PLAINTEXT: a super user)."""
    return AdminClient({"bootstrap.servers": cluster.brokers[broker_id].bootstrap_server, "socket.timeout.ms": 5000})


def sasl(cluster: Cluster, broker_id: int, mechanism: str, user: str, password: str) -> dict[str, str]:
    return {"bootstrap.servers": f"{HOST}:{cluster.sasl_ports[broker_id]}", "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": mechanism, "sasl.username": user, "sasl.password": password}


def produce_error(settings: dict[str, str], topic: str) -> int | None:
    """The error code of one record's delivery through these settings, None when it was written."""
    errors: list[KafkaError | None] = []
    producer = Producer({**settings, "message.timeout.ms": 8000, "topic.metadata.refresh.interval.ms": 500})
    producer.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(TIMEOUT)
    assert errors, "no delivery report"
    return errors[0].code() if errors[0] is not None else None


def alice_on(cluster: Cluster, broker_id: int) -> dict[str, str]:
    return sasl(cluster, broker_id, "PLAIN", "alice", "alice-secret")


def acls(cluster: Cluster, broker_id: int, bindings: list[AclBinding], delete: bool = False) -> None:
    client = admin(cluster, broker_id)  # held until the answers are in
    if delete:
        futures = client.delete_acls([AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                                        b.operation, b.permission_type) for b in bindings],
                                     request_timeout=TIMEOUT)
    else:
        futures = client.create_acls(bindings, request_timeout=TIMEOUT)
    for future in futures.values():
        future.result(timeout=TIMEOUT)


def test_an_acl_created_through_one_broker_is_enforced_by_the_other(cluster: Cluster) -> None:
    topic = "acl-orders"
    create_topic(cluster, topic, replication_factor=2)
    assert produce_error(alice_on(cluster, 2), topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    write = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.WRITE,
                       AclPermissionType.ALLOW)
    acls(cluster, 1, [write])
    wait_until(lambda: produce_error(alice_on(cluster, 2), topic) is None, what="broker 2 to let alice write")
    with zookeeper(cluster) as zk:
        stored = json.loads(zk.get(f"/kafka-acl/Topic/{topic}")[0])
        changes = [zk.get(f"/kafka-acl-changes/{c}")[0] for c in zk.get_children("/kafka-acl-changes")]
    assert stored == {"version": 1, "acls": [{"principal": "User:alice", "host": "*", "operation": "Write",
                                              "permissionType": "Allow"}]}
    assert f"TOPIC:{topic}".encode() in changes

    deny = AclBinding(ResourceType.TOPIC, "acl-", ResourcePatternType.PREFIXED, "User:alice", "*",
                      AclOperation.WRITE, AclPermissionType.DENY)
    acls(cluster, 2, [deny])
    wait_until(lambda: produce_error(alice_on(cluster, 1), topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED,
               what="broker 1 to deny alice by a prefixed ACL made through broker 2")
    with zookeeper(cluster) as zk:
        assert json.loads(zk.get("/kafka-acl-extended/prefixed/Topic/acl-")[0])["acls"][0]["permissionType"] == "Deny"
        changes = [json.loads(zk.get(f"/kafka-acl-extended-changes/{c}")[0])
                   for c in zk.get_children("/kafka-acl-extended-changes")]
    assert {"version": 1, "resourceType": "TOPIC", "name": "acl-", "patternType": "PREFIXED"} in changes

    acls(cluster, 1, [deny], delete=True)
    wait_until(lambda: produce_error(alice_on(cluster, 2), topic) is None,
               what="broker 2 to forget the deny deleted through broker 1")
    with zookeeper(cluster) as zk:
        assert zk.exists("/kafka-acl-extended/prefixed/Topic/acl-") is None


def test_a_scram_user_created_through_one_broker_logs_in_on_the_other(cluster: Cluster) -> None:
    user, topic = "carol", "scram-orders"
    create_topic(cluster, topic, replication_factor=2)
    acls(cluster, 1, [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                                 AclOperation.WRITE, AclPermissionType.ALLOW)])
    carol_on_2 = sasl(cluster, 2, "SCRAM-SHA-512", user, "carol-secret")
    client = admin(cluster, 1)
    futures = client.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"carol-secret")])
    futures[user].result(timeout=TIMEOUT)
    wait_until(lambda: produce_error(carol_on_2, topic) is None, what="carol to log in on broker 2")
    with zookeeper(cluster) as zk:
        config = json.loads(zk.get(f"/config/users/{user}")[0])["config"]
        changes = [json.loads(zk.get(f"/config/changes/{c}")[0]) for c in zk.get_children("/config/changes")]
    assert config["SCRAM-SHA-512"].startswith("salt=") and config["SCRAM-SHA-512"].endswith(",iterations=4096")
    assert {"version": 2, "entity_path": f"users/{user}"} in changes
    assert produce_error(sasl(cluster, 2, "SCRAM-SHA-512", user, "wrong"), topic) is not None


def test_a_restarted_broker_reads_the_acls_and_users_from_zookeeper(cluster: Cluster) -> None:
    """Its data dir keeps no copy of them."""
    user, topic = "dave", "restart-orders"
    create_topic(cluster, topic, replication_factor=2)
    acls(cluster, 1, [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                                 AclOperation.WRITE, AclPermissionType.ALLOW)])
    client = admin(cluster, 1)
    client.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"dave-secret")])[user].result(timeout=TIMEOUT)
    cluster.restart(2)
    wait_until(lambda: produce_error(sasl(cluster, 2, "SCRAM-SHA-512", user, "dave-secret"), topic) is None,
               what="dave to write through the restarted broker 2")
    assert not (cluster.brokers[2].data_dir / "acls.json").exists()
    assert not (cluster.brokers[2].data_dir / "kbroker-scram-credentials.json").exists()


def throttle_on(cluster: Cluster, broker_id: int, client_id: str, topic: str) -> int:
    """The throttle time one 20 kB produce through the broker is told of."""
    with RawClient(cluster.brokers[broker_id].bootstrap_server) as raw:
        raw.client_id = client_id
        return raw.request(produce_request(topic, 20_000), 9).throttle_time_ms


def test_client_quotas_set_through_one_broker_hold_on_the_other(cluster: Cluster) -> None:
    """Quotas live in ZooKeeper's /config/clients and /config/users, beside a user's SCRAM credentials."""
    topic, client_id, user = "quota-orders", "quota-client", "erin"
    create_topic(cluster, topic, replication_factor=2)
    leader = leader_of(cluster, topic)
    other = next(i for i in cluster.brokers if i != leader)
    set_quota(cluster.brokers[other].bootstrap_server, {"client-id": client_id}, "producer_byte_rate", 4000)
    wait_until(lambda: throttle_on(cluster, leader, client_id, topic) > 0, what="the leader to throttle the client")

    acls(cluster, 1, [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                                 AclOperation.WRITE, AclPermissionType.ALLOW)])
    client = admin(cluster, 1)  # kept until the answer is in: its handle ends with it
    client.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"erin-secret")])[user].result(timeout=TIMEOUT)
    set_quota(cluster.brokers[1].bootstrap_server, {"user": user}, "consumer_byte_rate", 2048)
    with zookeeper(cluster) as zk:
        client_config = json.loads(zk.get(f"/config/clients/{client_id}")[0])["config"]
        user_config = json.loads(zk.get(f"/config/users/{user}")[0])["config"]
        changes = [json.loads(zk.get(f"/config/changes/{c}")[0]) for c in zk.get_children("/config/changes")]
    assert client_config == {"producer_byte_rate": "4000"}
    assert user_config["consumer_byte_rate"] == "2048" and user_config["SCRAM-SHA-512"].startswith("salt=")
    assert {"version": 2, "entity_path": f"clients/{client_id}"} in changes
    wait_until(lambda: produce_error(sasl(cluster, 2, "SCRAM-SHA-512", user, "erin-secret"), topic) is None,
               what="erin, whose node now holds a quota too, to log in on broker 2")

    wait_until(lambda: user_quotas(cluster, 2, user) == [("consumer_byte_rate", 2048.0)],
               what="broker 2 to describe erin's quota")
    set_quota(cluster.brokers[other].bootstrap_server, {"client-id": client_id}, "producer_byte_rate", None)
    wait_until(lambda: throttle_on(cluster, leader, client_id, topic) == 0, what="the leader to lift the throttle")


def user_quotas(cluster: Cluster, broker_id: int, user: str) -> list[tuple[str, float]]:
    """What DescribeClientQuotas through the broker says of the user's own quotas."""
    R = DescribeClientQuotasRequest
    with RawClient(cluster.brokers[broker_id].bootstrap_server) as raw:
        described = raw.request(R(components=[R.ComponentData(entity_type="user", match_type=0, match=user)],
                                  strict=True), 1)
    return [(v.key, v.value) for e in described.entries for v in e.values]


def test_brokers_replicate_over_a_sasl_ssl_inter_broker_listener(tmp_path: Path) -> None:
    """Followers fetch, and the controller sends its requests, over TLS with a PLAIN login as
    User:broker (a super user); clients use the PLAINTEXT listener."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    ca.issue_cert("localhost", HOST).private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    internal = {i: free_port() for i in (1, 2, 3)}
    per_broker = {i: {"listeners": f"PLAINTEXT://{HOST}:{{port}},INTERNAL://{HOST}:{port}"} for i, port in internal.items()}
    config = {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL", "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.internal.plain.sasl.jaas.config": BROKER_JAAS,
        "listener.name.internal.ssl.keystore.type": "PEM",
        "listener.name.internal.ssl.keystore.location": str(tmp_path / "server.pem"),
        "listener.name.internal.ssl.truststore.type": "PEM",
        "listener.name.internal.ssl.truststore.location": str(tmp_path / "ca.pem"),
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:ANONYMOUS;User:broker"}
    with Cluster(tmp_path / "cluster", size=3, config=config, per_broker=per_broker) as cluster:
        topic = "secured-replication"
        create_topic(cluster, topic, replication_factor=3, config={"min.insync.replicas": "2"})
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
        errors: list[KafkaError] = []
        for i in range(20):
            producer.produce(topic, b"%d" % i, on_delivery=lambda err, _msg: err and errors.append(err))
        assert producer.flush(TIMEOUT) == 0 and not errors
        leader = leader_of(cluster, topic)
        cluster.kill(leader)
        wait_until(lambda: leader_of(cluster, topic) not in (leader, -1), what="a follower to lead")
        assert sorted(read_values(cluster.bootstrap_servers, topic, 20)) == sorted(b"%d" % i for i in range(20))
        logs = "\n".join(broker.log_path.read_text() for broker in cluster.brokers.values())
    assert "authenticated on listener INTERNAL as User:broker" in logs
    assert "refused this broker" not in logs


def read_values(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + TIMEOUT * 2
        while len(values) < expected and time.monotonic() < deadline:
            values.extend(m.value() for m in consumer.consume(100, 0.5) if not m.error())
    finally:
        consumer.close()
    return values
