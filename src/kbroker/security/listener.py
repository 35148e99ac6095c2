"""What a listener's security protocol asks of its connections: a TLS context, SASL mechanisms.

Built once at start-up from the config, per listener (with its listener.name.<l>.* overrides), so
that a bad key store, password or JAAS line stops the broker before it accepts anyone.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from kbroker.config import BrokerConfig, ConfigError
from kbroker.config.settings import Endpoint
from kbroker.security.jaas import JaasError, LoginModule, parse_jaas
from kbroker.security.principal import Rule, parse_rules
from kbroker.security.tls import server_context

SERVED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


@dataclass
class ListenerSecurity:
    endpoint: Endpoint
    tls: ssl.SSLContext | None = None
    mechanisms: tuple[str, ...] = ()  # enabled SASL mechanisms, in the configured order
    login: dict[str, LoginModule] = field(default_factory=dict)  # mechanism -> its JAAS login module
    reauth_ms: dict[str, int] = field(default_factory=dict)  # mechanism -> connections.max.reauth.ms
    principal_rules: tuple[Rule, ...] = ()
    max_receive_size: int = 512 * 1024  # sasl.server.max.receive.size: frames before authentication


def listener_security(config: BrokerConfig) -> dict[str, ListenerSecurity]:
    """Each listener's security, by listener name; a ConfigError for the first thing wrong."""
    return {endpoint.name: _one(config, endpoint) for endpoint in config.endpoints}


@dataclass(frozen=True)
class ListenerKeyView:
    """The keys as one listener sees them, with the names its errors give (tls.ListenerKeys)."""

    config: BrokerConfig
    listener: str

    def get(self, key: str) -> Any:
        return self.config.for_listener(self.listener, key)

    def name(self, key: str) -> str:
        return self.config.listener_key_name(self.listener, key)


def _one(config: BrokerConfig, endpoint: Endpoint) -> ListenerSecurity:
    name = endpoint.name
    security = ListenerSecurity(endpoint, principal_rules=parse_rules(config.for_listener(name, "ssl.principal.mapping.rules")),
                                max_receive_size=config.for_listener(name, "sasl.server.max.receive.size"))
    if endpoint.tls:
        security.tls = server_context(ListenerKeyView(config, name))
    if not endpoint.sasl:
        return security
    security.mechanisms = tuple(m.strip().upper() for m in config.for_listener(name, "sasl.enabled.mechanisms"))
    unserved = [m for m in security.mechanisms if m not in SERVED_MECHANISMS]
    if unserved or not security.mechanisms:
        raise ConfigError(config.listener_key_name(name, "sasl.enabled.mechanisms"), f"kbroker serves {', '.join(SERVED_MECHANISMS)}; "
                          f"not {', '.join(unserved) or 'an empty list'}")
    for mechanism in security.mechanisms:
        security.reauth_ms[mechanism] = config.for_listener(name, "connections.max.reauth.ms", mechanism)
        jaas = config.for_listener(name, "sasl.jaas.config", mechanism)
        if jaas is not None:
            try:
                security.login[mechanism] = parse_jaas(getattr(jaas, "value", jaas))[0]
            except JaasError as exc:
                raise ConfigError(config.listener_key_name(name, "sasl.jaas.config", mechanism), str(exc)) from None
        elif mechanism == "PLAIN":
            raise ConfigError(f"listener.name.{name.lower()}.plain.sasl.jaas.config", "PLAIN needs a JAAS line with its users "
                              '(org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="..." ;)')
    return security
