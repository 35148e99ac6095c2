"""SASL mechanisms and the authenticator's exchange, as Kafka's server authenticator runs it."""

from __future__ import annotations

import base64
import json
import time

import pytest
import scramp
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kproto import ErrorCode
from kproto.messages import SaslAuthenticateRequest, SaslHandshakeRequest

from kbroker.config import BrokerConfig, ConfigError
from kbroker.config.settings import Endpoint
from kbroker.security.authenticator import API_VERSIONS, SASL_AUTHENTICATE, SASL_HANDSHAKE, SaslAuthenticator, SaslRefused
from kbroker.security.jaas import JaasError, parse_jaas
from kbroker.security.listener import ListenerSecurity, listener_security
from kbroker.security.principal import NoMatchingRule, certificate_dn, map_name, parse_rules
from kbroker.security.sasl import AuthenticationFailed, OAuthBearerServer, PlainServer
from kbroker.security.scram import ScramCredential

PLAIN_JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="b\\"ob";'
METADATA = 3


# -- JAAS, principals

def test_jaas_line_gives_plain_users_with_escapes():
    module = parse_jaas(PLAIN_JAAS)[0]
    assert module.name.endswith("PlainLoginModule") and module.flag == "required"
    assert module.users() == {"alice": "alice-secret", "bob": 'b"ob'}


@pytest.mark.parametrize("line", ["Module", "Module required user_a=", 'Module required user_a="x"'])
def test_broken_jaas_lines_are_refused_without_their_values(line):
    with pytest.raises(JaasError) as info:
        parse_jaas(line)
    assert '"x"' not in str(info.value)


def test_principal_mapping_rules_as_kafka_applies_them():
    rules = parse_rules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=([a-z]+)$/svc-$1/U, DEFAULT")
    assert map_name(rules, "CN=Alice,OU=ServiceUsers,O=Example") == "alice"
    assert map_name(rules, "CN=bob") == "SVC-BOB"
    assert map_name(rules, "CN=Zed,O=Example") == "CN=Zed,O=Example"
    with pytest.raises(NoMatchingRule):
        map_name(parse_rules("RULE:^CN=x$/y/"), "CN=z")
    with pytest.raises(ConfigError):
        parse_rules("RULE:broken")


def test_a_certificate_name_is_written_as_rfc_2253():
    cert = trustme.CA().issue_cert("client.example", common_name="alice", organization_unit_name="eng",
                                   organization_name="Example")
    der = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    assert certificate_dn(der) == "CN=alice,OU=eng,O=Example"


# -- mechanisms

@pytest.mark.parametrize("token, message", [
    (b"\0alice\0alice-secret", None),
    (b"alice\0alice\0alice-secret", None),
    (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
    (b"\0mallory\0alice-secret", "Authentication failed: Invalid username or password"),
    (b"\0\0x", "Authentication failed: username not specified"),
    (b"\0alice\0", "Authentication failed: password not specified"),
    (b"bob\0alice\0alice-secret", "Authentication failed: Client requested an authorization id that is different from username"),
    (b"alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
])
def test_plain_answers_with_kafkas_messages(token, message):
    server = PlainServer({"alice": "alice-secret"})
    if message is None:
        assert server.evaluate(token) == b"" and server.complete and server.principal == "User:alice"
    else:
        with pytest.raises(AuthenticationFailed) as info:
            server.evaluate(token)
        assert info.value.detailed == message


def jwt(claims: dict, alg: str = "none") -> str:
    part = lambda doc: base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': alg})}.{part(claims)}."


def oauth_token(token: str) -> bytes:
    return f"n,,\x01auth=Bearer {token}\x01\x01".encode()


def test_oauthbearer_unsecured_token_names_its_subject_and_lifetime():
    now = time.time()
    server = OAuthBearerServer({})
    assert server.evaluate(oauth_token(jwt({"sub": "alice", "exp": now + 60, "iat": now}))) == b""
    assert server.principal == "User:alice" and server.expires_ms == pytest.approx((now + 60) * 1000, abs=1)


@pytest.mark.parametrize("claims, alg", [({"sub": "alice", "exp": 1}, "none"), ({"exp": 2e9}, "none"),
                                          ({"sub": "alice", "exp": 2e9}, "HS256")])
def test_oauthbearer_refuses_expired_subjectless_or_signed_tokens_with_kafkas_error_exchange(claims, alg):
    server = OAuthBearerServer({})
    assert json.loads(server.evaluate(oauth_token(jwt(claims, alg)))) == {"status": "invalid_token"}
    with pytest.raises(AuthenticationFailed, match="invalid_token"):
        server.evaluate(b"\x01")


# -- the exchange

def security(**settings: str) -> ListenerSecurity:
    config = BrokerConfig({"listeners": "SASL_PLAINTEXT://127.0.0.1:9093", "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
                           "sasl.jaas.config": PLAIN_JAAS, **settings})
    return listener_security(config)["SASL_PLAINTEXT"]


CREDENTIALS = {("carol", "SCRAM-SHA-512"): ScramCredential.from_password("SCRAM-SHA-512", "carol-secret")}


def authenticator(**settings: str) -> SaslAuthenticator:
    return SaslAuthenticator(security(**settings), lambda user, mech: CREDENTIALS.get((user, mech)))


def plain(auth: SaslAuthenticator, password: str = "alice-secret", user: str = "alice", version: int = 2):
    return auth.answer(SASL_AUTHENTICATE, version, SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{password}".encode()))


def handshake(auth: SaslAuthenticator, mechanism: str = "PLAIN", version: int = 1):
    assert auth.intercepts(SASL_HANDSHAKE)
    return auth.answer(SASL_HANDSHAKE, version, SaslHandshakeRequest(mechanism=mechanism))


def test_api_versions_then_handshake_then_authenticate():
    auth = authenticator()
    assert not auth.intercepts(API_VERSIONS)  # the handler answers it
    answer = handshake(auth)
    assert answer.error_code == ErrorCode.NONE and answer.mechanisms == ["PLAIN", "SCRAM-SHA-512"]
    assert auth.intercepts(SASL_AUTHENTICATE)
    done = plain(auth)
    assert done.error_code == ErrorCode.NONE and done.session_lifetime_ms == 0
    assert auth.authenticated and auth.principal == "User:alice"
    assert not auth.intercepts(METADATA)


@pytest.mark.parametrize("api_key", [METADATA, SASL_AUTHENTICATE])
def test_requests_before_the_handshake_close_the_connection(api_key):
    with pytest.raises(SaslRefused):
        authenticator().intercepts(api_key)


def test_api_versions_only_once_and_first():
    auth = authenticator()
    auth.intercepts(API_VERSIONS)
    with pytest.raises(SaslRefused):
        auth.intercepts(API_VERSIONS)


def test_an_unknown_mechanism_answers_the_enabled_ones_and_closes():
    auth = authenticator()
    auth.intercepts(SASL_HANDSHAKE)
    with pytest.raises(SaslRefused) as info:
        auth.answer(SASL_HANDSHAKE, 1, SaslHandshakeRequest(mechanism="GSSAPI"))
    assert info.value.response.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
    assert info.value.response.mechanisms == ["PLAIN", "SCRAM-SHA-512"]


def test_a_failed_authentication_answers_sasl_authentication_failed():
    auth = authenticator()
    handshake(auth)
    with pytest.raises(SaslRefused) as info:
        plain(auth, "wrong")
    assert info.value.failed_auth
    assert info.value.response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert info.value.response.error_message == "Authentication failed: Invalid username or password"


def test_scram_through_the_exchange_and_its_generic_failure_message():
    for password, ok in (("carol-secret", True), ("wrong", False)):
        auth = authenticator()
        handshake(auth, "SCRAM-SHA-512")
        client = scramp.ScramClient(["SCRAM-SHA-512"], "carol", password)
        first = auth.answer(SASL_AUTHENTICATE, 2, SaslAuthenticateRequest(auth_bytes=client.get_client_first().encode()))
        client.set_server_first(first.auth_bytes.decode())
        final = SaslAuthenticateRequest(auth_bytes=client.get_client_final().encode())
        if ok:
            client.set_server_final(auth.answer(SASL_AUTHENTICATE, 2, final).auth_bytes.decode())
            assert auth.principal == "User:carol"
        else:
            with pytest.raises(SaslRefused) as info:
                auth.answer(SASL_AUTHENTICATE, 2, final)
            assert info.value.response.error_message == (
                "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")


def test_v0_handshake_starts_the_unframed_exchange():
    auth = authenticator()
    handshake(auth, version=0)
    assert auth.wants_bare_token
    assert auth.bare_token(b"\0alice\0alice-secret") == b""
    assert auth.authenticated and not auth.wants_bare_token
    auth = authenticator()
    handshake(auth, version=0)
    with pytest.raises(SaslRefused) as info:
        auth.bare_token(b"\0alice\0wrong")
    assert info.value.response is None  # nothing is sent: the old client only sees the connection close


def test_session_lifetime_and_expiry():
    auth = authenticator(**{"connections.max.reauth.ms": "60000"})
    handshake(auth)
    assert plain(auth).session_lifetime_ms == 60000
    assert not auth.expired() and auth.expired(time.monotonic() + 61)


def test_reauthentication_keeps_mechanism_and_principal():
    auth = authenticator(**{"connections.max.reauth.ms": "60000"})
    handshake(auth)
    plain(auth)
    handshake(auth)  # on an authenticated connection: a re-authentication
    assert plain(auth).session_lifetime_ms == 60000 and auth.authenticated
    handshake(auth)
    with pytest.raises(SaslRefused, match="Cannot change principals during re-authentication from User.alice: User.bob"):
        plain(auth, "b\"ob", "bob")


def test_reauthentication_with_another_mechanism_fails():
    auth = authenticator()
    handshake(auth)
    plain(auth)
    handshake(auth, "SCRAM-SHA-512")
    with pytest.raises(SaslRefused, match="not supported for re-authentication of mechanism 'PLAIN'"):
        auth.answer(SASL_AUTHENTICATE, 2, SaslAuthenticateRequest(auth_bytes=b"n,,n=carol,r=abc"))


def test_a_client_that_cannot_reauthenticate_gets_the_handshake_handler():
    auth = authenticator()
    handshake(auth)
    plain(auth, version=0)
    assert not auth.intercepts(SASL_HANDSHAKE)  # answered ILLEGAL_SASL_STATE by the handler


def test_plain_needs_a_jaas_line_and_gssapi_is_not_served():
    with pytest.raises(ConfigError, match="plain.sasl.jaas.config"):
        listener_security(BrokerConfig({"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "PLAIN"}))
    with pytest.raises(ConfigError, match="not GSSAPI"):
        listener_security(BrokerConfig({"listeners": "SASL_PLAINTEXT://:9093"}))
    assert Endpoint("X", "SASL_SSL", "", 1).tls
