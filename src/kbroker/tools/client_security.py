"""How the tools and the console reach a secured listener: a client properties file, as Kafka's tools
take it with `--command-config`.

The keys are a Kafka client's: `security.protocol`, `sasl.mechanism` and `sasl.jaas.config` (the
`username` and `password` options, or `unsecuredLoginStringClaim_sub` for an unsecured OAUTHBEARER
token), and the `ssl.*` keys of the trust store, the key store (for mutual TLS) and
`ssl.endpoint.identification.algorithm`. The login itself and the TLS context are the broker's own
inter-broker client code (`PeerSecurity`, `client_context`), so both sides of kbroker log in alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from kbroker.config import ConfigError
from kbroker.config.broker import BROKER_CONFIGS, SASL_MECHANISMS, SECURITY_PROTOCOLS
from kbroker.config.properties import read_properties_file
from kbroker.security.inter_broker import PeerSecurity, login_credentials
from kbroker.security.listener import SERVED_MECHANISMS
from kbroker.security.tls import client_context

# Typed and defaulted as Kafka types a broker's; other client keys (retries, client.id) are ignored.
_SSL_KEYS = {d.name: d for d in BROKER_CONFIGS if d.name.startswith("ssl.")}


@dataclass(frozen=True)
class ClientKeys:
    """A client's ssl.* keys, typed and defaulted as a broker's (tls.ListenerKeys)."""

    values: Mapping[str, str]

    def get(self, key: str) -> Any:
        definition = _SSL_KEYS[key]
        return definition.parse(self.values[key]) if key in self.values else definition.default

    def name(self, key: str) -> str:
        return key


def client_security(properties: Mapping[str, str]) -> PeerSecurity:
    """The TLS context and login these client properties ask for; ConfigError for what is wrong."""
    protocol = properties.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError("security.protocol", f"expected one of {', '.join(SECURITY_PROTOCOLS)}, got {protocol!r}")
    keys = ClientKeys(properties)
    tls = client_context(keys) if protocol.endswith("SSL") else None
    if not protocol.startswith("SASL_"):
        return PeerSecurity(protocol, tls)
    mechanism = properties.get("sasl.mechanism", "GSSAPI").strip().upper()
    if mechanism not in SERVED_MECHANISMS:
        known = ", ".join(m for m in SASL_MECHANISMS if m in SERVED_MECHANISMS)
        raise ConfigError("sasl.mechanism", f"kbroker's tools log in with {known}; not {mechanism}")
    username, password = login_credentials(mechanism, properties.get("sasl.jaas.config"), "sasl.jaas.config",
                                           "the client logs in")
    return PeerSecurity(protocol, tls, mechanism, username, password)


def read_client_security(path: str | Path) -> PeerSecurity:
    """`client_security` of a properties file; ConfigError naming the file when it cannot be read."""
    try:
        properties = read_properties_file(path)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the client config: {exc.strerror}") from None
    return client_security(properties)
