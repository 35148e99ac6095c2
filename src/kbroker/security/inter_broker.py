"""How a broker connects to the others: the inter-broker listener's TLS and SASL, as a client.

Kafka's brokers reach each other on `inter.broker.listener.name` (or the first listener of
`security.inter.broker.protocol`) and log in there with `sasl.mechanism.inter.broker.protocol`,
taking their own credentials from that listener's JAAS line: the `username` and `password`
options (PLAIN, SCRAM), or `unsecuredLoginStringClaim_sub` for an unsecured OAUTHBEARER token.
Over TLS they check the other broker's certificate against the listener's trust store (and its
host name, unless `ssl.endpoint.identification.algorithm` is empty), and present the listener's
key store, which a listener with `ssl.client.auth=required` asks for.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generator

import scramp
from kproto import ErrorCode
from kproto.messages import SaslAuthenticateRequest, SaslHandshakeRequest

from kbroker.config import BrokerConfig, ConfigError
from kbroker.security.jaas import JaasError, parse_jaas
from kbroker.security.listener import ListenerKeyView
from kbroker.security.tls import client_context

SASL_HANDSHAKE_VERSION = 1  # SaslAuthenticate requests carry the tokens
SASL_AUTHENTICATE_VERSION = 2
TOKEN_LIFETIME_S = 3600  # an unsecured OAUTHBEARER token's, as Kafka's unsecured login makes it by default
Send = Callable[[Any, int], Awaitable[Any]]  # a request and its version -> the answer


class PeerAuthenticationError(Exception):
    """The other broker refused this broker's login."""


@dataclass(frozen=True)
class PeerSecurity:
    listener: str
    tls: ssl.SSLContext | None = None
    mechanism: str | None = None
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never the password
        return f"PeerSecurity({self.listener}, tls={self.tls is not None}, mechanism={self.mechanism})"

    async def authenticate(self, send: Send) -> int:
        """Log in on a new connection; returns the session lifetime in ms the broker gave (0: none)."""
        steps, answer = self.login(), None
        try:
            while True:
                answer = await send(*steps.send(answer))
        except StopIteration as done:
            return done.value

    def login(self) -> Generator[tuple[Any, int], Any, int]:
        """The login without I/O, for async and blocking callers alike: yields each request with its
        version, is sent the answer, and returns the session lifetime in ms (0: none)."""
        if self.mechanism is None:
            return 0
        handshake = yield SaslHandshakeRequest(mechanism=self.mechanism), SASL_HANDSHAKE_VERSION
        if handshake.error_code != ErrorCode.NONE:
            raise PeerAuthenticationError(f"{self.mechanism} is not enabled there (it offers "
                                          f"{', '.join(handshake.mechanisms)})")

        def exchange(token: bytes) -> Generator[tuple[Any, int], Any, tuple[bytes, int]]:
            answer = yield SaslAuthenticateRequest(auth_bytes=token), SASL_AUTHENTICATE_VERSION
            if answer.error_code != ErrorCode.NONE:
                raise PeerAuthenticationError(answer.error_message or f"error {answer.error_code}")
            return answer.auth_bytes, answer.session_lifetime_ms

        if self.mechanism == "PLAIN":
            return (yield from exchange(f"\0{self.username}\0{self.password}".encode()))[1]
        if self.mechanism == "OAUTHBEARER":
            return (yield from exchange(f"n,,\x01auth=Bearer {unsecured_token(self.username)}\x01\x01".encode()))[1]
        client = scramp.ScramClient([self.mechanism], self.username, self.password)
        server_first, _ = yield from exchange(client.get_client_first().encode())
        try:
            client.set_server_first(server_first.decode())
            server_final, lifetime = yield from exchange(client.get_client_final().encode())
            client.set_server_final(server_final.decode())
        except scramp.ScramException as exc:
            raise PeerAuthenticationError(f"SCRAM: {exc}") from None
        return lifetime


def unsecured_token(subject: str, now: float | None = None) -> str:
    """An unsigned JWT (`alg` none) for `subject`, as Kafka's unsecured OAUTHBEARER login makes one."""
    issued = time.time() if now is None else now

    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'iat': issued, 'exp': issued + TOKEN_LIFETIME_S})}."


def peer_security(config: BrokerConfig) -> PeerSecurity:
    """This broker's side of the inter-broker listener; a ConfigError for what is missing."""
    listener = config.inter_broker_listener or "PLAINTEXT"
    endpoint = next((e for e in config.endpoints if e.name == listener), None)
    if endpoint is None:
        return PeerSecurity(listener)
    keys = ListenerKeyView(config, listener)
    tls = client_context(keys) if endpoint.tls else None
    if not endpoint.sasl:
        return PeerSecurity(listener, tls)
    mechanism = config["sasl.mechanism.inter.broker.protocol"].upper()
    key = config.listener_key_name(listener, "sasl.jaas.config", mechanism)
    jaas = config.for_listener(listener, "sasl.jaas.config", mechanism)
    username, password = login_credentials(mechanism, jaas, key, "brokers log in to each other")
    return PeerSecurity(listener, tls, mechanism, username, password)


def login_credentials(mechanism: str, jaas: Any, key: str, who: str) -> tuple[str, str]:
    """(username, password) from a client's JAAS line: its `username` and `password` options, or an
    unsecured OAUTHBEARER token's `unsecuredLoginStringClaim_sub` (no password); a ConfigError
    naming `key` and saying `who` logs in when they are missing."""
    if jaas is None:
        raise ConfigError(key, f"{who} with {mechanism}: give its JAAS line the username and password")
    try:
        options = parse_jaas(getattr(jaas, "value", jaas))[0].options
    except JaasError as exc:
        raise ConfigError(key, str(exc)) from None
    if mechanism == "OAUTHBEARER":
        subject = options.get("unsecuredLoginStringClaim_sub")
        if not subject:
            raise ConfigError(key, f"{who} with OAUTHBEARER: set unsecuredLoginStringClaim_sub")
        return subject, ""
    if not options.get("username") or "password" not in options:
        raise ConfigError(key, f"{who} with {mechanism}: set the username and password options")
    return options["username"], options["password"]
