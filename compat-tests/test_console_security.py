"""The console and the tools as a configured principal over SASL_SSL (`--command-config`, a Kafka
client properties file): with an authorizer on, the console shows only what its principal may
see, and `kbroker topics` lists topics over TLS with a SCRAM login.

Certificates are made by `trustme`. The broker's PLAINTEXT listener (the harness's) is the
super user ANONYMOUS, which makes the topics, users and ACLs; the SASL_SSL listener is where
alice (SCRAM-SHA-256, READ on one topic) and admin (PLAIN, or an unsecured OAUTHBEARER token; a
super user) log in; on the MTLS listener admin is known by its client certificate.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import trustme

from brokerproc import BrokerProcess, free_port
from conftest import create_topic
from consoleproc import ConsoleProcess, chromium, screenshot
from kbroker.tools.client import Client
from kbroker.tools.scram_users import alter_users

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" user_admin="admin-secret";')


class SecureConsoleBroker:
    """A broker with an ACL authorizer and a SASL_SSL listener; topics `shown` (alice may read it)
    and `hidden`."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        ca = trustme.CA()
        self.cafile = workdir / "ca.pem"
        ca.cert_pem.write_to_path(self.cafile)
        ca.issue_cert("localhost", HOST).private_key_and_cert_chain_pem.write_to_path(workdir / "server.pem")
        ca.issue_cert("admin.example", common_name="admin").private_key_and_cert_chain_pem.write_to_path(
            workdir / "admin-client.pem")
        self.port, self.mtls_port = free_port(), free_port()
        self.process = BrokerProcess(workdir / "broker", {
            "listeners": f"PLAINTEXT://{HOST}:{{port}},SASL_SSL://{HOST}:{self.port},MTLS://{HOST}:{self.mtls_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,OAUTHBEARER",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(workdir / "server.pem"),
            "listener.name.mtls.ssl.keystore.type": "PEM",
            "listener.name.mtls.ssl.keystore.location": str(workdir / "server.pem"),
            "listener.name.mtls.ssl.truststore.type": "PEM",
            "listener.name.mtls.ssl.truststore.location": str(self.cafile),
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.mtls.ssl.principal.mapping.rules": "RULE:^CN=([^,]*).*$/$1/,DEFAULT",
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:ANONYMOUS;User:admin",
        })
        suffix = uuid.uuid4().hex[:6]
        self.shown, self.hidden = f"shown-{suffix}", f"hidden-{suffix}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> SecureConsoleBroker:
        self.process.start()
        plaintext = self.process.bootstrap_server
        for topic in (self.shown, self.hidden):
            create_topic(plaintext, topic)
        with Client(plaintext) as admin:
            alter_users(admin, "alice", {"SCRAM-SHA-256": "password=alice-secret"}, [])
        added = kbroker("acls", "--bootstrap-server", plaintext, "--add", "--allow-principal", "User:alice",
                        "--operation", "Read", "--topic", self.shown)
        assert added.returncode == 0, added.stderr
        return self

    def client_config(self, name: str, mechanism: str, user: str, password: str = "") -> Path:
        """A SASL_SSL client properties file as a Kafka tool user writes one."""
        if mechanism == "OAUTHBEARER":
            login = f'oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="{user}";'
        else:
            module = {"PLAIN": "plain.PlainLoginModule", "SCRAM-SHA-256": "scram.ScramLoginModule"}[mechanism]
            login = f'{module} required username="{user}" password="{password}";'
        return self.properties(name, "security.protocol=SASL_SSL", f"sasl.mechanism={mechanism}",
                               f"sasl.jaas.config=org.apache.kafka.common.security.{login}")

    def properties(self, name: str, *lines: str) -> Path:
        """A client properties file with these lines and the trust store of the broker's CA."""
        path = self.dir / f"{name}.properties"
        path.write_text("\n".join([*lines, f"ssl.truststore.location={self.cafile}", "ssl.truststore.type=PEM", ""]))
        return path


def kbroker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbroker", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureConsoleBroker]:
    broker = SecureConsoleBroker(tmp_path_factory.mktemp("console-secure"))
    try:
        yield broker.start()
    finally:
        broker.process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from chromium()


def test_console_as_alice_shows_only_the_topic_she_may_read(secured: SecureConsoleBroker, browser,
                                                            tmp_path: Path) -> None:
    config = secured.client_config("alice", "SCRAM-SHA-256", "alice", "alice-secret")
    console = ConsoleProcess.for_broker(secured.address, tmp_path, "--command-config", str(config)).start()
    try:
        page = browser.new_page()
        response = page.goto(console.url + "topics")
        assert response is not None and response.status == 200
        screenshot(page, "secure-topics-as-alice")
        listed = page.locator("#topics tbody").inner_text()
        assert secured.shown in listed and secured.hidden not in listed
        status, body = console.get(f"/topic?name={secured.hidden}")
        assert status != 200 and "AUTHORIZATION_FAILED" in body, (status, body[-500:])
        page.goto(console.url + "security")
        assert "CLUSTER_AUTHORIZATION_FAILED" in page.locator("main").inner_text()
        assert page.locator("#users").count() == 0  # SCRAM users are for those who may describe the cluster
        page.close()
    finally:
        console.stop()


@pytest.mark.parametrize("login", ["PLAIN", "OAUTHBEARER", "mutual TLS"])
def test_topics_tool_lists_as_admin(secured: SecureConsoleBroker, login: str) -> None:
    if login == "mutual TLS":
        address, config = f"{HOST}:{secured.mtls_port}", secured.properties(
            "admin-mtls", "security.protocol=SSL", "ssl.keystore.type=PEM",
            f"ssl.keystore.location={secured.dir / 'admin-client.pem'}")
    else:
        address, config = secured.address, secured.client_config(f"admin-{login}", login, "admin", "admin-secret")
    admin = kbroker("topics", "--bootstrap-server", address, "--list", "--command-config", str(config))
    assert admin.returncode == 0, admin.stderr
    assert {secured.shown, secured.hidden} <= set(admin.stdout.split())


def test_topics_tool_lists_what_alice_may_see_over_sasl_ssl(secured: SecureConsoleBroker) -> None:
    alice = kbroker("topics", "--bootstrap-server", secured.address, "--list", "--command-config",
                    str(secured.client_config("alice", "SCRAM-SHA-256", "alice", "alice-secret")))
    assert alice.returncode == 0, alice.stderr
    assert secured.shown in alice.stdout.split() and secured.hidden not in alice.stdout


def test_scram_credentials_need_describe_and_alter_on_the_cluster(secured: SecureConsoleBroker) -> None:
    """As from Kafka: alice, who may not describe or alter the cluster, neither lists the SCRAM users
    nor changes anyone's password; admin (a super user) does both. (kafka-python: librdkafka 2.x aborts
    the process with an invalid free when it reads such a refusal.)"""
    from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion
    from kafka.errors import ClusterAuthorizationFailedError

    def client(user: str, password: str, mechanism: str) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=secured.address, security_protocol="SASL_SSL",
                                sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password,
                                ssl_cafile=str(secured.cafile), request_timeout_ms=10_000)

    alice = client("alice", "alice-secret", "SCRAM-SHA-256")
    try:
        with pytest.raises(ClusterAuthorizationFailedError):
            alice.describe_user_scram_credentials()
        with pytest.raises(ClusterAuthorizationFailedError):
            alice.describe_user_scram_credentials(["alice"])
        refused = alice.alter_user_scram_credentials([
            UserScramCredentialUpsertion("alice", ScramMechanism.SCRAM_SHA_256, "new-secret", iterations=8192)])
        assert refused == {"alice": "Cluster authorization failed."}
    finally:
        alice.close()
    admin = client("admin", "admin-secret", "PLAIN")
    try:
        described = admin.describe_user_scram_credentials(["alice"])["alice"]
        assert described["credential_infos"] == [{"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 4096}]
    finally:
        admin.close()


def test_a_wrong_password_is_one_line(secured: SecureConsoleBroker) -> None:
    wrong = kbroker("topics", "--bootstrap-server", secured.address, "--list", "--command-config",
                    str(secured.client_config("wrong", "SCRAM-SHA-256", "alice", "not-hers")))
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("kbroker topics: SCRAM-SHA-256 login to broker at") and "Traceback" not in wrong.stderr


def test_serve_console_over_a_sasl_ssl_listener_with_console_config(secured: SecureConsoleBroker,
                                                                    tmp_path: Path) -> None:
    """`serve --console-config` picks the broker's listener of the file's security protocol."""
    server = tmp_path / "server.pem"
    server.write_bytes((secured.dir / "server.pem").read_bytes())
    port = free_port()
    config = secured.client_config("serve-admin", "PLAIN", "admin", "admin-secret")
    serving = ConsoleProcess(["serve", "--data-dir", str(tmp_path / "data"), "--topic", "served",
                              "--set", f"listeners=PLAINTEXT://{HOST}:{free_port()},SASL_SSL://{HOST}:{port}",
                              "--set", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
                              "--set", "sasl.enabled.mechanisms=PLAIN",
                              "--set", f"listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}",
                              "--set", "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                              "--set", f"listener.name.sasl_ssl.ssl.keystore.location={server}",
                              "--console", "127.0.0.1:0", "--console-config", str(config)],
                             tmp_path / "serve.log").start()
    try:
        status, body = serving.get("/topic?name=served")
        assert status == 200 and 'id="topic-name">served<' in body
    finally:
        serving.stop()
    assert "authenticated on listener SASL_SSL as User:admin" in (tmp_path / "serve.log").read_text()
