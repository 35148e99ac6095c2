"""A client properties file (--command-config) as the tools read it: what it turns into, and the
one-line errors for what is missing or wrong. The login itself is tested against a broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from kbroker.config import ConfigError
from kbroker.tools.client_security import client_security, read_client_security

SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s";'


def test_plaintext_by_default() -> None:
    security = client_security({})
    assert (security.listener, security.tls, security.mechanism) == ("PLAINTEXT", None, None)


def test_sasl_ssl_with_a_pem_trust_store(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(cafile)
    security = client_security({"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
                                "sasl.jaas.config": SCRAM_JAAS, "ssl.truststore.location": str(cafile),
                                "ssl.truststore.type": "PEM", "ssl.endpoint.identification.algorithm": ""})
    assert security.tls is not None and not security.tls.check_hostname
    assert (security.mechanism, security.username, security.password) == ("SCRAM-SHA-512", "alice", "s")


def test_unsecured_oauthbearer_takes_the_subject() -> None:
    security = client_security({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
                                "sasl.jaas.config": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
                                                    "required unsecuredLoginStringClaim_sub=\"carol\";"})
    assert (security.mechanism, security.username) == ("OAUTHBEARER", "carol")


@pytest.mark.parametrize("properties,key,reason", [
    ({"security.protocol": "TLS"}, "security.protocol", "expected one of"),
    ({"security.protocol": "SASL_PLAINTEXT"}, "sasl.mechanism", "not GSSAPI"),
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"}, "sasl.jaas.config", "username and password"),
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
      "sasl.jaas.config": "PlainLoginModule required password=\"x\";"}, "sasl.jaas.config", "set the username"),
    ({"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent/ca.pem", "ssl.truststore.type": "PEM"},
     "ssl.truststore.location", "cannot read"),
])
def test_what_is_wrong_is_named(properties: dict[str, str], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        client_security(properties)
    assert key in str(raised.value) and reason in str(raised.value)


def test_a_tool_refuses_a_bad_command_config_before_connecting(tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    config.write_text("security.protocol=SASL_SSL\nsasl.mechanism=KERBEROS\n")
    done = subprocess.run([sys.executable, "-m", "kbroker", "topics", "--list", "--bootstrap-server", "127.0.0.1:1",
                           "--command-config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "sasl.mechanism" in done.stderr and "KERBEROS" in done.stderr
    with pytest.raises(ConfigError):
        read_client_security(tmp_path / "missing.properties")
