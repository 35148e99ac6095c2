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
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kbroker.config import ConfigError

Getter = Callable[[str], Any]  # a key's value on the listener being set up

_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_JKS_MAGIC = b"\xfe\xed\xfe\xed"


def server_context(get: Getter, prefix: str = "") -> ssl.SSLContext:
    """The server-side context of one listener; `prefix` (listener.name.<l>.) names keys in errors."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = sorted((_VERSIONS[name] for name in get("ssl.enabled.protocols")), key=lambda v: v.value)
    if not versions:
        raise ConfigError(prefix + "ssl.enabled.protocols", "no TLS version enabled")
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    _set_ciphers(context, get("ssl.cipher.suites"), prefix)
    key_pem, chain_pem = _keystore(get, prefix)
    with tempfile.TemporaryDirectory(prefix="kbroker-tls-") as scratch:  # created 0700: the key stays private
        path = Path(scratch) / "key-and-chain.pem"
        path.write_bytes(key_pem + chain_pem)
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise ConfigError(prefix + "ssl.keystore.location", f"the key does not match the certificate chain ({exc.reason})") \
                from None
    context.verify_mode = _CLIENT_AUTH[get("ssl.client.auth")]
    if context.verify_mode != ssl.CERT_NONE:
        _load_trust(context, get, prefix)
    return context


def _secret(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", value)


def _keystore(get: Getter, prefix: str) -> tuple[bytes, bytes]:
    """(unencrypted PKCS8 key, certificate chain), both PEM."""
    key_password = _secret(get("ssl.key.password"))
    inline_key, inline_chain = _secret(get("ssl.keystore.key")), _secret(get("ssl.keystore.certificate.chain"))
    if inline_key or inline_chain:
        if not (inline_key and inline_chain):
            raise ConfigError(prefix + "ssl.keystore.key", "ssl.keystore.key and ssl.keystore.certificate.chain go together")
        return _pem_key(inline_key.encode(), key_password, prefix + "ssl.keystore.key"), \
            _pem_chain(inline_chain.encode(), prefix + "ssl.keystore.certificate.chain")
    location = get("ssl.keystore.location")
    if not location:
        raise ConfigError(prefix + "ssl.keystore.location", "a TLS listener needs a key store: set ssl.keystore.location "
                          "(or ssl.keystore.key and ssl.keystore.certificate.chain)")
    data = _read(location, prefix + "ssl.keystore.location")
    if get("ssl.keystore.type").upper() == "PEM":
        key_name = prefix + ("ssl.key.password" if key_password else "ssl.keystore.location")
        return _pem_key(data, key_password, key_name), _pem_chain(data, prefix + "ssl.keystore.location")
    return _pkcs12_keystore(data, location, _secret(get("ssl.keystore.password")) or key_password, prefix)


def _pkcs12_keystore(data: bytes, location: str, password: str | None, prefix: str) -> tuple[bytes, bytes]:
    _refuse_jks(data, location, prefix + "ssl.keystore.location")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError(prefix + "ssl.keystore.password",
                          f"cannot open the key store {location}: wrong password, or not a PKCS12 file") from None
    if key is None or cert is None:
        raise ConfigError(prefix + "ssl.keystore.location", f"the key store {location} holds no private key and certificate")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *extra))


def _pem_key(data: bytes, password: str | None, key: str) -> bytes:
    block = re.search(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", data, re.DOTALL)
    if block is None:
        raise ConfigError(key, "no PEM private key found")
    try:
        try:
            loaded = serialization.load_pem_private_key(block[0], password.encode() if password else None)
        except TypeError:  # a password given for a key that has none, or none for a key that needs one
            if password is None:
                raise ConfigError(key, "the private key is encrypted: set ssl.key.password") from None
            loaded = serialization.load_pem_private_key(block[0], None)
    except ValueError:
        raise ConfigError(key, "cannot read the private key: wrong ssl.key.password, or not a PEM key") from None
    return loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())


def _pem_chain(data: bytes, key: str) -> bytes:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(key, "no PEM certificate found") from None
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_trust(context: ssl.SSLContext, get: Getter, prefix: str) -> None:
    """CA certificates client certificates are checked against; the system's without a trust store."""
    inline = _secret(get("ssl.truststore.certificates"))
    location = get("ssl.truststore.location")
    if inline:
        context.load_verify_locations(cadata=_pem_chain(inline.encode(), prefix + "ssl.truststore.certificates").decode())
    elif location:
        data = _read(location, prefix + "ssl.truststore.location")
        if get("ssl.truststore.type").upper() == "PEM":
            pem = _pem_chain(data, prefix + "ssl.truststore.location")
        else:
            pem = _pkcs12_certificates(data, location, _secret(get("ssl.truststore.password")), prefix)
        context.load_verify_locations(cadata=pem.decode())
    else:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)


def _pkcs12_certificates(data: bytes, location: str, password: str | None, prefix: str) -> bytes:
    _refuse_jks(data, location, prefix + "ssl.truststore.location")
    try:
        store = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError(prefix + "ssl.truststore.password",
                          f"cannot open the trust store {location}: wrong password, or not a PKCS12 file") from None
    certs = [c.certificate for c in store.additional_certs] + ([store.cert.certificate] if store.cert else [])
    if not certs:
        raise ConfigError(prefix + "ssl.truststore.location", f"the trust store {location} holds no certificate")
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


def _set_ciphers(context: ssl.SSLContext, suites: tuple[str, ...], prefix: str) -> None:
    """Restrict TLS 1.2 suites, named as Java (IANA) or OpenSSL names them; OpenSSL's TLS 1.3 suites stay."""
    names = [openssl_cipher_name(s) for s in suites if not s.startswith("TLS_AES_") and not s.startswith("TLS_CHACHA20_")]
    if not names:
        return
    try:
        context.set_ciphers(":".join(names))
    except ssl.SSLError:
        raise ConfigError(prefix + "ssl.cipher.suites", f"no cipher suite of {', '.join(suites)} is available") from None


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
