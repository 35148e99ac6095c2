"""TLS on a listener: an `ssl.SSLContext` built from Kafka's ssl.* keys, as that listener sees them.

Key stores are PEM (a file with the private key and the certificate chain, or the two inline in
`ssl.keystore.key` / `ssl.keystore.certificate.chain`) or PKCS12; a JKS type reads a PKCS12 file,
as Java's keystore compatibility mode does, and refuses Java's own JKS format with the keytool
command that converts it. Python's `ssl` loads keys from files only, so a key read through
`cryptography` goes to a private temporary file for the moment `load_cert_chain` takes.
Anything wrong with a store is a `ConfigError`: one line, naming the key, never the secret.
"""

from __future__ import annotations

import re
import ssl
import tempfile
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kbroker.config import ConfigError



class ListenerKeys(Protocol):
    """The ssl.* keys as one listener sees them: their values, and the names errors should give."""

    def get(self, key: str) -> Any: ...

    def name(self, key: str) -> str: ...

_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_JKS_MAGIC = b"\xfe\xed\xfe\xed"


def server_context(keys: ListenerKeys) -> ssl.SSLContext:
    """The server-side context of one listener."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, keys)
    _load_keystore(context, keys)
    context.verify_mode = _CLIENT_AUTH[keys.get("ssl.client.auth")]
    if context.verify_mode != ssl.CERT_NONE:
        _load_trust(context, keys, ssl.Purpose.CLIENT_AUTH)
    return context


def client_context(keys: ListenerKeys) -> ssl.SSLContext:
    """A broker's context as a client of another broker's listener: its trust store checks the
    other's certificate (and host name, with `ssl.endpoint.identification.algorithm`), and its key
    store, when it has one, is presented to a listener that asks for a client certificate."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, keys)
    context.check_hostname = bool(keys.get("ssl.endpoint.identification.algorithm"))
    _load_trust(context, keys, ssl.Purpose.SERVER_AUTH)
    if keys.get("ssl.keystore.location") or _secret(keys.get("ssl.keystore.key")):
        _load_keystore(context, keys)
    return context


def _context(protocol: int, keys: ListenerKeys) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    versions = sorted((_VERSIONS[name] for name in keys.get("ssl.enabled.protocols")), key=lambda v: v.value)
    if not versions:
        raise ConfigError(keys.name("ssl.enabled.protocols"), "no TLS version enabled")
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    _set_ciphers(context, keys)
    return context


def _load_keystore(context: ssl.SSLContext, keys: ListenerKeys) -> None:
    key_pem, chain_pem = _keystore(keys)
    with tempfile.TemporaryDirectory(prefix="kbroker-tls-") as scratch:  # created 0700: the key stays private
        path = Path(scratch) / "key-and-chain.pem"
        path.write_bytes(key_pem + chain_pem)
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise ConfigError(keys.name("ssl.keystore.location"), f"the key does not match the certificate chain ({exc.reason})") \
                from None


def _secret(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", value)


def _keystore(keys: ListenerKeys) -> tuple[bytes, bytes]:
    """(unencrypted PKCS8 key, certificate chain), both PEM."""
    key_password = _secret(keys.get("ssl.key.password"))
    inline_key, inline_chain = _secret(keys.get("ssl.keystore.key")), _secret(keys.get("ssl.keystore.certificate.chain"))
    if inline_key or inline_chain:
        if not (inline_key and inline_chain):
            raise ConfigError(keys.name("ssl.keystore.key"), "ssl.keystore.key and ssl.keystore.certificate.chain go together")
        return _pem_key(inline_key.encode(), key_password, keys.name("ssl.keystore.key")), \
            _pem_chain(inline_chain.encode(), keys.name("ssl.keystore.certificate.chain"))
    location = keys.get("ssl.keystore.location")
    if not location:
        raise ConfigError(keys.name("ssl.keystore.location"), "a TLS listener needs a key store: set ssl.keystore.location "
                          "(or ssl.keystore.key and ssl.keystore.certificate.chain)")
    data = _read(location, keys.name("ssl.keystore.location"))
    if keys.get("ssl.keystore.type").upper() == "PEM":
        key_name = keys.name("ssl.key.password" if key_password else "ssl.keystore.location")
        return _pem_key(data, key_password, key_name), _pem_chain(data, keys.name("ssl.keystore.location"))
    return _pkcs12_keystore(data, location, _secret(keys.get("ssl.keystore.password")) or key_password, keys)


def _pkcs12_keystore(data: bytes, location: str, password: str | None, keys: ListenerKeys) -> tuple[bytes, bytes]:
    _refuse_jks(data, location, keys.name("ssl.keystore.location"))
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError(keys.name("ssl.keystore.password"),
                          f"cannot open the key store {location}: wrong password, or not a PKCS12 file") from None
    if key is None or cert is None:
        raise ConfigError(keys.name("ssl.keystore.location"), f"the key store {location} holds no private key and certificate")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *extra))


def _pem_key(data: bytes, password: str | None, key: str) -> bytes:
    block = re.search(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", data, re.DOTALL)
    if block is None:
        raise ConfigError(key, "no PEM private key found")
    encrypted = b"ENCRYPTED" in block[0]
    if encrypted and not password:
        raise ConfigError(key, "the private key is encrypted: set ssl.key.password")
    try:  # a password given for a key that has none is not needed, and not used
        loaded = serialization.load_pem_private_key(block[0], password.encode() if encrypted and password else None)
    except (ValueError, TypeError):
        raise ConfigError(key, "cannot read the private key: wrong ssl.key.password, or not a PEM key") from None
    return loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())


def _pem_chain(data: bytes, key: str) -> bytes:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(key, "no PEM certificate found") from None
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_trust(context: ssl.SSLContext, keys: ListenerKeys, purpose: ssl.Purpose) -> None:
    """CA certificates the other side's certificate is checked against; the system's without a trust store."""
    inline = _secret(keys.get("ssl.truststore.certificates"))
    location = keys.get("ssl.truststore.location")
    if inline:
        context.load_verify_locations(cadata=_pem_chain(inline.encode(), keys.name("ssl.truststore.certificates")).decode())
    elif location:
        data = _read(location, keys.name("ssl.truststore.location"))
        if keys.get("ssl.truststore.type").upper() == "PEM":
            pem = _pem_chain(data, keys.name("ssl.truststore.location"))
        else:
            pem = _pkcs12_certificates(data, location, _secret(keys.get("ssl.truststore.password")), keys)
        context.load_verify_locations(cadata=pem.decode())
    else:
        context.load_default_certs(purpose)


def _pkcs12_certificates(data: bytes, location: str, password: str | None, keys: ListenerKeys) -> bytes:
    _refuse_jks(data, location, keys.name("ssl.truststore.location"))
    try:
        store = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError(keys.name("ssl.truststore.password"),
                          f"cannot open the trust store {location}: wrong password, or not a PKCS12 file") from None
    certs = [c.certificate for c in store.additional_certs] + ([store.cert.certificate] if store.cert else [])
    if not certs:
        raise ConfigError(keys.name("ssl.truststore.location"), f"the trust store {location} holds no certificate")
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _refuse_jks(data: bytes, location: str, key: str) -> None:
    if data.startswith(_JKS_MAGIC):
        raise ConfigError(key, f"{location} is a Java JKS store, which kbroker cannot read; convert it with "
                          f"keytool -importkeystore -srckeystore {location} -destkeystore store.p12 -deststoretype PKCS12")


def _read(location: str, key: str) -> bytes:
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"cannot read {location}: {exc.strerror}") from None


def _set_ciphers(context: ssl.SSLContext, keys: ListenerKeys) -> None:
    """Restrict TLS 1.2 suites, named as Java (IANA) or OpenSSL names them; OpenSSL's TLS 1.3 suites stay."""
    suites = keys.get("ssl.cipher.suites")
    names = [openssl_cipher_name(s) for s in suites if not s.startswith("TLS_AES_") and not s.startswith("TLS_CHACHA20_")]
    if not names:
        return
    try:
        context.set_ciphers(":".join(names))
    except ssl.SSLError:
        raise ConfigError(keys.name("ssl.cipher.suites"), f"no cipher suite of {', '.join(suites)} is available") from None


def openssl_cipher_name(name: str) -> str:
    """TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 -> ECDHE-RSA-AES128-GCM-SHA256; an OpenSSL name stays as it is."""
    match = re.fullmatch(r"TLS_(\w+?)_WITH_(AES_(\d+)_(GCM|CBC)|CHACHA20_POLY1305)_(SHA\d*)", name)
    if match is None:
        return name
    exchange = "" if match[1] == "RSA" else match[1].replace("_", "-") + "-"
    if match[2].startswith("CHACHA20"):
        return f"{exchange}CHACHA20-POLY1305"
    mode = "-GCM" if match[4] == "GCM" else ""
    return f"{exchange}AES{match[3]}{mode}-{match[5]}"
