"""Listeners with TLS and SASL against stock clients: librdkafka, kafka-python, aiokafka and kafkajs
authenticate with PLAIN and SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL, and produce and consume;
a mutual-TLS client is known by its certificate's name; bad credentials, a plaintext client on a
TLS port and a client that distrusts the broker's CA fail cleanly while the broker keeps serving.

Certificates are made by `trustme` for each module run. One broker serves four listeners:
PLAINTEXT (the harness's port, used to create SCRAM users), SASL_PLAINTEXT, SASL_SSL with a PEM key
store file, and MTLS (an SSL listener requiring client certificates, its key store inline).
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import kafka
import pytest
import trustme

from kproto.messages import MetadataRequest, SaslHandshakeRequest

from brokerproc import BrokerProcess, free_port
from conftest import create_topic, unique_topic
from rawclient import RawClient
from kbroker.tools.client import Client, ToolError
from kbroker.tools.scram_users import alter_users
from quota_admin import set_quota, throttle_max
from secure_clients import SECURE_CLIENTS, Secure, connect_failure, kafka_python_config, round_trip

pytestmark = pytest.mark.timeout(180)

HOST = "127.0.0.1"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
USERS = {"PLAIN": ("alice", "alice-secret"), "SCRAM-SHA-512": ("bob", "bob-secret")}


class SecuredBroker:
    def __init__(self, workdir: Path) -> None:
        self.ca = trustme.CA()
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cafile = str(workdir / "ca.pem")
        self.ca.cert_pem.write_to_path(self.cafile)
        server = self.ca.issue_cert("localhost", HOST)
        server.private_key_and_cert_chain_pem.write_to_path(workdir / "server.pem")
        client = self.ca.issue_cert("client.example", common_name="alice", organization_unit_name="eng",
                                    organization_name="Example")
        self.client_cert, self.client_key = str(workdir / "client.pem"), str(workdir / "client.key")
        client.cert_chain_pems[0].write_to_path(self.client_cert)
        client.private_key_pem.write_to_path(self.client_key)
        self.ports = {name: free_port() for name in ("SASL_PLAINTEXT", "SASL_SSL", "MTLS")}
        chain = "".join(blob.bytes().decode() for blob in server.cert_chain_pems)
        self.config = {
            "listeners": "PLAINTEXT://127.0.0.1:{port}," + ",".join(f"{n}://{HOST}:{p}" for n, p in self.ports.items()),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512,OAUTHBEARER",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(workdir / "server.pem"),
            "listener.name.mtls.ssl.keystore.type": "PEM",
            "listener.name.mtls.ssl.keystore.key": server.private_key_pem.bytes().decode(),
            "listener.name.mtls.ssl.keystore.certificate.chain": chain,
            "listener.name.mtls.ssl.truststore.type": "PEM",
            "listener.name.mtls.ssl.truststore.location": self.cafile,
            "listener.name.mtls.ssl.client.auth": "required",
            "num.partitions": "1",
        }
        self.process = BrokerProcess(workdir / "broker", self.config)

    def start(self) -> SecuredBroker:
        self.process.start()
        with Client(self.process.bootstrap_server) as admin:
            user, password = USERS["SCRAM-SHA-512"]
            alter_users(admin, user, {"SCRAM-SHA-512": f"password={password}"}, [])
        return self

    def address(self, listener: str) -> str:
        return f"{HOST}:{self.ports[listener]}"

    def secure(self, protocol: str, mechanism: str | None = None, password: str | None = None,
               user: str | None = None) -> Secure:
        name, known = USERS.get(mechanism, (None, None)) if mechanism else (None, None)
        return Secure(protocol, mechanism, user or name, password or known, self.cafile if protocol.endswith("SSL") else None)

    def log_lines(self, pattern: str) -> list[str]:
        return [line for line in self.process.log_tail(2000).splitlines() if re.search(pattern, line)]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    broker = SecuredBroker(tmp_path_factory.mktemp("secured"))
    try:
        yield broker.start()
    finally:
        broker.process.stop()


def wait_for_log(secured: SecuredBroker, pattern: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while not (found := secured.log_lines(pattern)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
@pytest.mark.parametrize("client", SECURE_CLIENTS)
def test_client_authenticates_then_produces_and_consumes(secured, request, client, mechanism, protocol):
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    values = round_trip(client, secured.address(protocol), topic, secured.secure(protocol, mechanism))
    assert len(values) == 3 and all(v.startswith(client.encode()) for v in values)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_requests_of_a_megabyte_arrive_whole(secured, request, protocol):
    """librdkafka batches 2,000 records of 1 KiB into requests of up to a megabyte, which the broker
    receives into buffers of their own, through TLS as well; every record comes back intact."""
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    values = round_trip("confluent", secured.address(protocol), topic, secured.secure(protocol, "PLAIN"),
                        count=2000, value_size=1024)
    assert [v.split(b"-")[1] for v in values] == [str(i).encode() for i in range(2000)]
    assert {len(v) for v in values} == {1024}


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_librdkafka_default_oauthbearer_mode_with_kafkas_unsecured_validator(secured, request, protocol):
    """librdkafka's built-in unsecured JWT (alg none, sub = principal, an hour's exp) is what Kafka's
    unsecured validator accepts for development."""
    import confluent_kafka
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    config = {"bootstrap.servers": secured.address(protocol), "security.protocol": protocol,
              "sasl.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.config": "principal=carol scope=test",
              "enable.sasl.oauthbearer.unsecure.jwt": True}
    if protocol == "SASL_SSL":
        config["ssl.ca.location"] = secured.cafile
    producer = confluent_kafka.Producer(config)
    producer.produce(topic, b"token", partition=0)
    assert producer.flush(20) == 0
    assert wait_for_log(secured, f"client .* authenticated on listener {protocol} as User:carol with OAUTHBEARER")


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_kafkajs_oauthbearer_provider_with_an_unsecured_jwt(secured, request, protocol):
    """kafkajs's oauthBearerProvider handing out an unsigned JWT, as a kafkajs user developing
    against Kafka's unsecured validator writes one."""
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    secure = Secure(protocol, "OAUTHBEARER", "dana", None, secured.cafile if protocol == "SASL_SSL" else None)
    assert len(round_trip("kafkajs", secured.address(protocol), topic, secure)) == 3
    assert wait_for_log(secured, f"client .* authenticated on listener {protocol} as User:dana with OAUTHBEARER")


def test_metadata_gives_each_client_the_addresses_of_its_listener(secured):
    with Client(secured.process.bootstrap_server) as plain:
        assert [(b.host, b.port) for b in plain.metadata([]).brokers] == [(HOST, secured.process.port)]
    import confluent_kafka.admin
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": secured.address("SASL_SSL"), "security.protocol": "SASL_SSL",
                                               "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
                                               "sasl.password": "alice-secret", "ssl.ca.location": secured.cafile})
    brokers = admin.list_topics(timeout=10).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [(HOST, secured.ports["SASL_SSL"])]


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
@pytest.mark.parametrize("mechanism, user, password", [
    ("PLAIN", "alice", "wrong"), ("PLAIN", "mallory", "x"), ("SCRAM-SHA-512", "bob", "wrong"), ("SCRAM-SHA-512", "mallory", "x")])
def test_bad_credentials_fail_cleanly_and_the_broker_logs_one_line(secured, client, mechanism, user, password):
    error = connect_failure(client, secured.address("SASL_PLAINTEXT"),
                            Secure("SASL_PLAINTEXT", mechanism, user, password))
    expected = ("Invalid username or password" if mechanism == "PLAIN"
                else "invalid credentials with SASL mechanism SCRAM-SHA-512")
    if client == "confluent":
        assert expected in error
    assert wait_for_log(secured, f"failed authentication from {HOST}:\\d+ on listener SASL_PLAINTEXT with {mechanism}")
    assert not secured.log_lines(password if password != "x" else "password=x")  # no secret in the log
    assert round_trip("confluent", secured.address("SASL_PLAINTEXT"), create_topic(
        secured.process.bootstrap_server, f"after-bad-{mechanism}-{user}-{time.time_ns()}"),
        secured.secure("SASL_PLAINTEXT", "PLAIN"), count=1)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_plaintext_client_against_a_tls_port_fails_cleanly(secured, client):
    connect_failure(client, secured.address("SASL_SSL"), Secure("SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret"))
    assert wait_for_log(secured, "TLS handshake with .* on listener SASL_SSL failed")
    assert secured.process.running


def test_client_distrusting_the_ca_fails_cleanly(secured, tmp_path):
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(other)
    error = connect_failure("confluent", secured.address("SASL_SSL"),
                            Secure("SASL_SSL", "PLAIN", "alice", "alice-secret", cafile=str(other)))
    assert "certificate verify failed" in error
    assert wait_for_log(secured, "TLS handshake with .* on listener SASL_SSL failed")
    assert secured.process.running


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_mutual_tls_client_is_known_by_its_certificate_name(secured, request, client):
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    secure = Secure("SSL", cafile=secured.cafile, certfile=secured.client_cert, keyfile=secured.client_key)
    assert len(round_trip(client, secured.address("MTLS"), topic, secure, count=1)) == 1
    assert wait_for_log(secured, r"TLS client .* on listener MTLS is User:CN=alice,OU=eng,O=Example")


def test_a_quota_on_a_mutual_tls_principal_throttles_that_client(secured, request):
    """The quota user of a mutual-TLS client is its certificate's name."""
    topic = create_topic(secured.process.bootstrap_server, unique_topic(request))
    set_quota(secured.process.bootstrap_server, {"user": "CN=alice,OU=eng,O=Example", "client-id": "quota-probe"},
              "producer_byte_rate", 1000)
    secure = Secure("SSL", cafile=secured.cafile, certfile=secured.client_cert, keyfile=secured.client_key)
    producer = kafka.KafkaProducer(**kafka_python_config(secured.address("MTLS"), secure), client_id="quota-probe")
    try:  # 20 kB against 1 kB/s over Kafka's ten-second span: throttled for about ten seconds
        producer.send(topic, b"q" * 20_000, partition=0).get(timeout=30)
        assert throttle_max(producer) > 0
    finally:
        producer.close(timeout=30)


def test_mutual_tls_listener_refuses_a_client_without_certificate(secured):
    connect_failure("confluent", secured.address("MTLS"), Secure("SSL", cafile=secured.cafile))
    assert wait_for_log(secured, "TLS handshake with .* on listener MTLS failed")


def test_scram_users_survive_a_restart(tmp_path, request):
    broker = SecuredBroker(tmp_path).start()
    try:
        broker.process.restart()
        topic = create_topic(broker.process.bootstrap_server, unique_topic(request))
        assert round_trip("confluent", broker.address("SASL_PLAINTEXT"), topic,
                          broker.secure("SASL_PLAINTEXT", "SCRAM-SHA-512"), count=1)
    finally:
        broker.process.stop()


def test_a_bad_key_store_password_stops_the_broker_with_one_line_and_status_2(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    leaf = trustme.CA().issue_cert("localhost")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    store = tmp_path / "server.p12"
    store.write_bytes(pkcs12.serialize_key_and_certificates(b"k", key, cert, None,
                                                            serialization.BestAvailableEncryption(b"right-secret")))
    done = subprocess.run(
        [sys.executable, "-m", "kbroker", "serve", "--data-dir", str(tmp_path / "data"),
         "--set", f"listeners=SSL://127.0.0.1:{free_port()}", "--set", "ssl.keystore.type=PKCS12",
         "--set", f"ssl.keystore.location={store}", "--set", "ssl.keystore.password=wrong-secret"],
        capture_output=True, timeout=60)
    lines = [line for line in done.stderr.decode().splitlines() if not re.search(r" (INFO|WARNING) ", line)]
    assert done.returncode == 2
    assert lines == [f"kbroker: ssl.keystore.password: cannot open the key store {store}: wrong password, or not a PKCS12 file"]
    assert b"wrong-secret" not in done.stderr + done.stdout


def test_the_unframed_exchange_of_old_clients_and_an_expired_session(tmp_path):
    """After a v0 handshake the tokens come bare; a session past connections.max.reauth.ms is closed
    at the client's next request, since a v0 client cannot re-authenticate."""
    broker = BrokerProcess(tmp_path / "broker", {
        "listeners": "PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:" + str(free_port()),
        "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": PLAIN_JAAS, "connections.max.reauth.ms": "1000"})
    with broker:
        address = re.search(r"SASL_PLAINTEXT://(\S+):(\d+)", broker.config["listeners"])
        with RawClient(f"{address[1]}:{address[2]}") as raw:
            assert raw.request(SaslHandshakeRequest(mechanism="PLAIN"), 0).error_code == 0
            token = b"\0alice\0alice-secret"
            raw.send_bytes(struct.pack(">i", len(token)) + token)
            assert raw.read_exact(4) == b"\0\0\0\0"  # PLAIN's empty answer, size-prefixed
            assert raw.request(MetadataRequest(topics=[]), 1).brokers[0].port == int(address[2])
            time.sleep(1.2)
            with pytest.raises(ToolError, match="closed by the broker"):
                raw.request(MetadataRequest(topics=[]), 1)
        assert "expired (connections.max.reauth.ms)" in broker.log_tail()


def test_librdkafka_reauthenticates_before_its_session_expires(tmp_path, request):
    broker = BrokerProcess(tmp_path / "broker", {
        "listeners": "PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:" + str(free_port()),
        "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": PLAIN_JAAS, "connections.max.reauth.ms": "1500"})
    with broker:
        address = re.search(r"SASL_PLAINTEXT://(\S+:\d+)", broker.config["listeners"])[1]
        topic = create_topic(broker.bootstrap_server, unique_topic(request))
        import confluent_kafka
        producer = confluent_kafka.Producer({"bootstrap.servers": address, "security.protocol": "SASL_PLAINTEXT",
                                             "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
                                             "sasl.password": "alice-secret"})
        for _ in range(3):
            producer.produce(topic, b"x", partition=0)
            assert producer.flush(10) == 0
            time.sleep(1.0)
        assert "expired" not in broker.log_tail()
