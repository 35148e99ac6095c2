"""A broker's own login to another broker (security/inter_broker.py), against kbroker's SASL servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kproto import ErrorCode
from kproto.messages import (
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
)

from kbroker.config import BrokerConfig, ConfigError
from kbroker.security.inter_broker import PeerAuthenticationError, PeerSecurity, peer_security
from kbroker.security.jaas import LoginModule
from kbroker.security.sasl import AuthenticationFailed, make_server
from kbroker.security.scram import ScramCredential

CREDENTIALS = {("broker", "SCRAM-SHA-512"): ScramCredential.from_password("SCRAM-SHA-512", "broker-secret")}
PLAIN_USERS = LoginModule("PlainLoginModule", "required", {"user_broker": "broker-secret"})


def log_in(security: PeerSecurity, enabled: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-512", "OAUTHBEARER")) -> str:
    """Run the client's exchange against the server side; returns the principal it established."""
    servers: list[Any] = []

    async def send(message: Any, version: int) -> Any:
        if isinstance(message, SaslHandshakeRequest):
            if message.mechanism not in enabled:
                return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=list(enabled))
            servers.append(make_server(message.mechanism, PLAIN_USERS, lambda user, mech: CREDENTIALS.get((user, mech))))
            return SaslHandshakeResponse(error_code=ErrorCode.NONE, mechanisms=list(enabled))
        assert isinstance(message, SaslAuthenticateRequest)
        try:
            answer = servers[0].evaluate(message.auth_bytes)
        except AuthenticationFailed as exc:
            return SaslAuthenticateResponse(error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=str(exc),
                                            auth_bytes=b"")
        return SaslAuthenticateResponse(error_code=ErrorCode.NONE, error_message=None, auth_bytes=answer,
                                        session_lifetime_ms=0)

    asyncio.run(security.authenticate(send))
    assert servers[0].complete
    return servers[0].principal


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_broker_logs_in_with_its_jaas_username_and_password(mechanism: str) -> None:
    assert log_in(PeerSecurity("INTERNAL", mechanism=mechanism, username="broker", password="broker-secret")) \
        == "User:broker"


def test_a_broker_logs_in_with_an_unsecured_oauthbearer_token() -> None:
    assert log_in(PeerSecurity("INTERNAL", mechanism="OAUTHBEARER", username="broker")) == "User:broker"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_wrong_password_is_refused(mechanism: str) -> None:
    with pytest.raises(PeerAuthenticationError):
        log_in(PeerSecurity("INTERNAL", mechanism=mechanism, username="broker", password="wrong"))


def test_a_mechanism_the_other_broker_does_not_enable_is_refused() -> None:
    with pytest.raises(PeerAuthenticationError, match="SCRAM-SHA-512 is not enabled there"):
        log_in(PeerSecurity("INTERNAL", mechanism="SCRAM-SHA-512", username="broker", password="x"), ("PLAIN",))


CLUSTER = {"zookeeper.connect": "127.0.0.1:2181", "listeners": "PLAINTEXT://:9092,INTERNAL://:9093",
           "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
           "inter.broker.listener.name": "INTERNAL", "sasl.mechanism.inter.broker.protocol": "PLAIN",
           "sasl.enabled.mechanisms": "PLAIN"}


def test_the_login_comes_from_the_inter_broker_listeners_jaas_line() -> None:
    config = BrokerConfig({**CLUSTER, "listener.name.internal.plain.sasl.jaas.config":
                           'org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" '
                           'password="broker-secret" user_broker="broker-secret";'})
    security = peer_security(config)
    assert (security.listener, security.mechanism, security.username, security.password, security.tls) == \
        ("INTERNAL", "PLAIN", "broker", "broker-secret", None)
    assert "broker-secret" not in repr(security)


def test_a_jaas_line_without_the_brokers_own_login_is_refused_naming_its_key() -> None:
    config = BrokerConfig({**CLUSTER, "listener.name.internal.plain.sasl.jaas.config":
                           'org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="x";'})
    with pytest.raises(ConfigError, match="listener.name.internal.plain.sasl.jaas.config: brokers log in to each "
                                          "other with PLAIN: set the username and password options"):
        peer_security(config)


def test_a_plaintext_inter_broker_listener_needs_nothing() -> None:
    config = BrokerConfig({**CLUSTER, "inter.broker.listener.name": "PLAINTEXT"})
    security = peer_security(config)
    assert (security.listener, security.tls, security.mechanism) == ("PLAINTEXT", None, None)
