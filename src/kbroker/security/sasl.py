"""SASL mechanisms on the broker's side: PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER (unsecured JWTs).

Each server takes the client's tokens one at a time and answers a token, until `complete`; then
`principal` names who authenticated. A refusal raises `AuthenticationFailed` with the message
Kafka sends the client: a mechanism's own text where Kafka's server raises its authentication
exception, and for SCRAM (whose failures Kafka reports without detail, so that nobody learns which
users exist) the generic text the authenticator builds.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from typing import Callable, Protocol

import scramp

from kbroker.security.jaas import LoginModule
from kbroker.security.scram import MECHANISMS as SCRAM_MECHANISMS, ScramCredential

CredentialLookup = Callable[[str, str], "ScramCredential | None"]  # (user, mechanism) -> credential


class AuthenticationFailed(Exception):
    """The client failed to authenticate; str() is what the client is told (`detailed`), or None when
    the authenticator's generic invalid-credentials message applies."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "invalid credentials")
        self.detailed = message


class SaslServer(Protocol):
    mechanism: str
    complete: bool
    principal: str
    expires_ms: int | None  # when the credential itself lapses (an OAUTHBEARER token's exp), if it does

    def evaluate(self, token: bytes) -> bytes: ...


class PlainServer:
    """RFC 4616: `[authzid] NUL authcid NUL passwd`, checked against JAAS user_<name> options."""

    mechanism = "PLAIN"

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.complete = False
        self.principal = ""
        self.expires_ms = None

    def evaluate(self, token: bytes) -> bytes:
        parts = token.decode("utf-8", errors="replace").split("\0")
        if len(parts) != 3:
            raise AuthenticationFailed(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        authzid, username, password = parts
        if not username:
            raise AuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        expected = self.users.get(username)
        # compare even for an unknown user, so that timing tells nothing about which users exist
        matches = hmac.compare_digest((expected or "\0" + password).encode(), password.encode())
        if expected is None or not matches:
            raise AuthenticationFailed("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id that is different from username")
        self.principal = f"User:{username}"
        self.complete = True
        return b""


class _UnknownUser(Exception):
    pass


class ScramServer:
    """RFC 5802 through `scramp`: client-first, server-first, client-final, server-final."""

    def __init__(self, mechanism: str, lookup: CredentialLookup) -> None:
        self.mechanism = mechanism
        self.lookup = lookup
        self.server = scramp.ScramMechanism(mechanism).make_server(self._auth_info)
        self.step = 0
        self.complete = False
        self.principal = ""
        self.expires_ms = None
        self.user = ""

    def _auth_info(self, username: str) -> tuple[bytes, bytes, bytes, int]:
        credential = self.lookup(username, self.mechanism)
        if credential is None:
            raise _UnknownUser()
        self.user = username
        return credential.salt, credential.stored_key, credential.server_key, credential.iterations

    def evaluate(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
            if self.step == 0:
                self.server.set_client_first(text)
                self.step = 1
                return self.server.get_server_first().encode()
            if self.step == 1:
                self.server.set_client_final(text)
                self.step = 2
                self.principal = f"User:{self.user}"
                self.complete = True
                return self.server.get_server_final().encode()
        except (scramp.ScramException, _UnknownUser, UnicodeDecodeError, ValueError):
            raise AuthenticationFailed() from None
        raise AuthenticationFailed()


class OAuthBearerServer:
    """RFC 7628 with Kafka's unsecured JWT validator: `alg` none, a principal claim (`sub` unless
    unsecuredValidatorPrincipalClaimName says otherwise), `exp` in the future and `iat` not after it,
    give or take unsecuredValidatorAllowableClockSkewMs. For development only, as in Kafka."""

    mechanism = "OAUTHBEARER"

    def __init__(self, options: dict[str, str], now: Callable[[], float] = time.time) -> None:
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName", "sub")
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName", "scope")
        self.required_scope = options.get("unsecuredValidatorRequiredScope", "").split()
        self.skew_ms = int(options.get("unsecuredValidatorAllowableClockSkewMs", "0") or 0)
        self.now = now
        self.complete = False
        self.principal = ""
        self.expires_ms: int | None = None
        self.error: str | None = None

    def evaluate(self, token: bytes) -> bytes:
        if token == b"\x01" and self.error is not None:  # the client's acknowledgement of our error
            raise AuthenticationFailed(self.error)
        fields = self._client_response(token)
        auth = fields.get("auth", "")
        scheme, _, jwt = auth.partition(" ")
        if scheme.lower() != "bearer" or not jwt:
            raise AuthenticationFailed("Invalid OAUTHBEARER client first message: no bearer token")
        problem = self._validate(jwt.strip())
        if problem is not None:
            self.error = json.dumps({"status": "invalid_token"}, separators=(",", ":"))
            return self.error.encode()
        self.complete = True
        return b""

    @staticmethod
    def _client_response(token: bytes) -> dict[str, str]:
        """`n,[a=authzid],` then key=value pairs each ended by ^A, and a final ^A."""
        text = token.decode("utf-8", errors="replace")
        header, sep, rest = text.partition("\x01")
        if not sep or not header.startswith(("n,", "y,")):
            raise AuthenticationFailed("Invalid OAUTHBEARER client first message")
        return dict(item.split("=", 1) for item in rest.split("\x01") if "=" in item)

    def _validate(self, jwt: str) -> str | None:
        parts = jwt.split(".")
        if len(parts) != 3:
            return "not a JWT"
        try:
            header, claims = (json.loads(_b64url(part)) for part in parts[:2])
        except (ValueError, binascii.Error):
            return "malformed JWT"
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "none":
            return "alg must be none"
        subject, expires, issued = claims.get(self.principal_claim), claims.get("exp"), claims.get("iat")
        now_ms = self.now() * 1000
        if not isinstance(subject, str) or not subject.strip():
            return "no principal claim"
        if not isinstance(expires, (int, float)) or expires * 1000 <= now_ms - self.skew_ms:
            return "expired or no exp claim"
        if isinstance(issued, (int, float)) and issued * 1000 > now_ms + self.skew_ms:
            return "issued in the future"
        scopes = claims.get(self.scope_claim, [])
        scopes = scopes.split() if isinstance(scopes, str) else scopes
        if any(scope not in scopes for scope in self.required_scope):
            return "a required scope is missing"
        self.principal = f"User:{subject}"
        self.expires_ms = int(expires * 1000)
        return None


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def make_server(mechanism: str, module: LoginModule | None, lookup: CredentialLookup) -> SaslServer:
    """A server for one authentication with `mechanism`, configured by its JAAS login module."""
    options = module.options if module else {}
    if mechanism == "PLAIN":
        return PlainServer(module.users() if module else {})
    if mechanism in SCRAM_MECHANISMS:
        return ScramServer(mechanism, lookup)
    if mechanism == "OAUTHBEARER":
        return OAuthBearerServer(options)
    raise ValueError(f"no SASL server for {mechanism}")
