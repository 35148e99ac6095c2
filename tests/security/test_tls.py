"""TLS contexts from Kafka's ssl.* keys: PEM files, inline PEM, PKCS12, and one-line errors."""

from __future__ import annotations

import ssl

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kbroker.config import BrokerConfig, ConfigError
from kbroker.security.listener import listener_security
from kbroker.security.tls import openssl_cipher_name


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue_cert("localhost", "127.0.0.1")


def context(settings: dict[str, str], listener: str = "SSL://127.0.0.1:9093") -> ssl.SSLContext:
    config = BrokerConfig({"listeners": f"PLAINTEXT://127.0.0.1:9092,{listener}", **settings})
    return listener_security(config)[listener.split(":")[0]].tls


def handshake(server: ssl.SSLContext, ca: trustme.CA, client_cert=None) -> None:
    """A real TLS handshake in memory between `server` and a client trusting `ca`."""
    client = ssl.create_default_context()
    ca.configure_trust(client)
    if client_cert is not None:
        client_cert.configure_cert(client)
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    c.write(b"ping")
    s_in.write(c_out.read())
    assert s.read(4) == b"ping"


def test_pem_key_store_file(tmp_path, ca, leaf):
    leaf.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    handshake(context({"ssl.keystore.type": "PEM", "ssl.keystore.location": str(tmp_path / "server.pem")}), ca)


def test_inline_pem_key_store_with_an_encrypted_key(ca, leaf):
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"key-secret")).decode()
    chain = "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems)
    settings = {"ssl.keystore.type": "PEM", "ssl.keystore.key": encrypted, "ssl.keystore.certificate.chain": chain,
                "ssl.key.password": "key-secret"}
    handshake(context(settings), ca)
    with pytest.raises(ConfigError, match="ssl.key.password"):
        context({**settings, "ssl.key.password": "wrong"})
    with pytest.raises(ConfigError, match="encrypted: set ssl.key.password"):
        context({k: v for k, v in settings.items() if k != "ssl.key.password"})


@pytest.fixture
def pkcs12_store(tmp_path, leaf):
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    from cryptography import x509
    certs = [x509.load_pem_x509_certificate(blob.bytes()) for blob in leaf.cert_chain_pems]
    data = pkcs12.serialize_key_and_certificates(b"kbroker", key, certs[0], certs[1:] or None,
                                                 serialization.BestAvailableEncryption(b"store-secret"))
    path = tmp_path / "server.p12"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("store_type", ["PKCS12", "JKS"])  # a JKS type reads a PKCS12 file, as Java does
def test_pkcs12_key_store(pkcs12_store, ca, store_type):
    handshake(context({"ssl.keystore.type": store_type, "ssl.keystore.location": pkcs12_store,
                       "ssl.keystore.password": "store-secret"}), ca)


def test_a_wrong_key_store_password_is_one_line_naming_the_key_and_not_the_password(pkcs12_store):
    with pytest.raises(ConfigError) as info:
        context({"ssl.keystore.type": "PKCS12", "ssl.keystore.location": pkcs12_store,
                 "ssl.keystore.password": "wrong-secret"}, "SASL_SSL://127.0.0.1:9094")
    message = str(info.value)
    assert message.startswith("ssl.keystore.password: cannot open the key store")
    assert "\n" not in message and "wrong-secret" not in message


def test_an_error_names_the_key_as_it_was_set_for_the_listener(pkcs12_store):
    with pytest.raises(ConfigError, match="^listener.name.sasl_ssl.ssl.keystore.password: cannot open"):
        context({"ssl.keystore.type": "PKCS12", "listener.name.sasl_ssl.ssl.keystore.location": pkcs12_store,
                 "listener.name.sasl_ssl.ssl.keystore.password": "wrong"}, "SASL_SSL://127.0.0.1:9094")


def test_java_jks_stores_are_refused_with_the_conversion_command(tmp_path):
    path = tmp_path / "server.jks"
    path.write_bytes(b"\xfe\xed\xfe\xed" + b"\0" * 64)
    with pytest.raises(ConfigError, match="keytool -importkeystore"):
        context({"ssl.keystore.location": str(path), "ssl.keystore.password": "x"})


def test_a_tls_listener_without_key_store_is_refused():
    with pytest.raises(ConfigError, match="needs a key store"):
        context({})


def test_client_auth_and_trust_store(tmp_path, ca, leaf):
    leaf.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    server = context({"ssl.keystore.type": "PEM", "ssl.keystore.location": str(tmp_path / "server.pem"),
                      "ssl.truststore.type": "PEM", "ssl.truststore.location": str(tmp_path / "ca.pem"),
                      "ssl.client.auth": "required"})
    assert server.verify_mode == ssl.CERT_REQUIRED
    handshake(server, ca, client_cert=ca.issue_cert("client.example"))
    with pytest.raises(ssl.SSLError):
        handshake(server, ca)


def test_enabled_protocols_bound_the_versions(tmp_path, leaf):
    leaf.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    server = context({"ssl.keystore.type": "PEM", "ssl.keystore.location": str(tmp_path / "server.pem"),
                      "ssl.enabled.protocols": "TLSv1.3"})
    assert (server.minimum_version, server.maximum_version) == (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)


@pytest.mark.parametrize("java, openssl", [
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
])
def test_java_cipher_suite_names_become_openssl_names(java, openssl):
    assert openssl_cipher_name(java) == openssl
