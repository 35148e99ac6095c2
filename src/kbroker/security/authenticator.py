"""The SASL exchange of one connection on a SASL listener, as Kafka's server authenticator runs it.

Before a client has authenticated it may send ApiVersions (once, first) and SaslHandshake; then
SaslAuthenticate requests carry its tokens (handshake v1), or, after a v0 handshake, bare
size-prefixed tokens that are no Kafka requests at all (the unframed exchange of old clients).
Anything else closes the connection. Once authenticated the connection serves requests until its
session lifetime (`connections.max.reauth.ms`, or an OAUTHBEARER token's expiry, KIP-368) runs out;
a SaslHandshake on an authenticated connection starts a re-authentication, which must keep the
mechanism and the principal.

The authenticator takes requests and tokens and gives answers; the connection does the I/O.
"""

from __future__ import annotations

import enum
import time
from typing import Any

from kproto import ErrorCode
from kproto.messages import SaslAuthenticateResponse, SaslHandshakeResponse

from kbroker.security import ANONYMOUS
from kbroker.security.listener import ListenerSecurity
from kbroker.security.sasl import AuthenticationFailed, CredentialLookup, SaslServer, make_server

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36


class State(enum.Enum):
    INITIAL = "initial"  # ApiVersions or SaslHandshake may come
    HANDSHAKE = "handshake"  # ApiVersions has been answered: SaslHandshake must come
    AUTHENTICATE = "authenticate"  # tokens, in SaslAuthenticate requests or bare
    COMPLETE = "complete"


class SaslRefused(Exception):
    """Close the connection, after sending `response` (if any) to the request that failed."""

    def __init__(self, reason: str, response: Any = None, failed_auth: bool = False) -> None:
        super().__init__(reason)
        self.response = response
        self.failed_auth = failed_auth  # a failed authentication (logged as such) rather than a protocol error


class SaslAuthenticator:
    def __init__(self, security: ListenerSecurity, lookup: CredentialLookup) -> None:
        self.security = security
        self.lookup = lookup
        self.state = State.INITIAL
        self.framed = True  # False after a v0 handshake: tokens come bare
        self.server: SaslServer | None = None
        self.mechanism = ""
        self.principal = ANONYMOUS
        self.expires_at: float | None = None  # monotonic end of the session, if it has one
        self.supports_reauth = False  # the client used SaslAuthenticate v1+
        self.reauth_from: tuple[str, str] | None = None  # (mechanism, principal) being re-authenticated

    # -- what the connection asks

    @property
    def authenticated(self) -> bool:
        return self.state is State.COMPLETE

    @property
    def wants_bare_token(self) -> bool:
        return self.state is State.AUTHENTICATE and not self.framed

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.monotonic()) >= self.expires_at

    def intercepts(self, api_key: int) -> bool:
        """Whether this request belongs to the exchange (the authenticator answers it), rather than
        to the handlers. A request the exchange does not allow raises SaslRefused."""
        if self.state is State.COMPLETE:
            if api_key == SASL_HANDSHAKE and self.supports_reauth:
                self.reauth_from = (self.mechanism, self.principal)
                self.state = State.HANDSHAKE
                return True
            return False
        if api_key == API_VERSIONS and self.state is State.INITIAL:
            self.state = State.HANDSHAKE
            return False  # the ApiVersions handler answers it
        allowed = SASL_AUTHENTICATE if self.state is State.AUTHENTICATE else SASL_HANDSHAKE
        if api_key != allowed:
            during = "authentication" if self.state is State.AUTHENTICATE else "handshake"
            raise SaslRefused(f"unexpected request of api key {api_key} during SASL {during}")
        return True

    def answer(self, api_key: int, version: int, request: Any) -> Any:
        """The response to a SaslHandshake or SaslAuthenticate request that `intercepts` took."""
        if api_key == SASL_HANDSHAKE:
            return self._handshake(version, request.mechanism)
        self.supports_reauth = self.supports_reauth or version > 0
        try:
            token = self._evaluate(request.auth_bytes)
        except AuthenticationFailed as exc:
            message = self._failure_text(exc)
            raise SaslRefused(message, SaslAuthenticateResponse(
                error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=message), failed_auth=True) from None
        return SaslAuthenticateResponse(error_code=ErrorCode.NONE, auth_bytes=token,
                                        session_lifetime_ms=self._finish() if self.authenticated else 0)

    def bare_token(self, token: bytes) -> bytes:
        """The answer to a token of the unframed exchange; a failure closes without an answer."""
        try:
            answer = self._evaluate(token)
        except AuthenticationFailed as exc:
            raise SaslRefused(self._failure_text(exc), failed_auth=True) from None
        if self.authenticated:
            self._finish()
        return answer

    # -- the exchange

    def _handshake(self, version: int, mechanism: str) -> SaslHandshakeResponse:
        enabled = list(self.security.mechanisms)
        if mechanism not in enabled:
            raise SaslRefused(f"unsupported SASL mechanism {mechanism!r}", SaslHandshakeResponse(
                error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=enabled), failed_auth=True)
        self.framed = version >= 1
        self.mechanism = mechanism
        self.server = make_server(mechanism, self.security.login.get(mechanism), self.lookup)
        self.state = State.AUTHENTICATE
        return SaslHandshakeResponse(error_code=ErrorCode.NONE, mechanisms=enabled)

    def _evaluate(self, token: bytes) -> bytes:
        assert self.server is not None
        if self.reauth_from is not None and self.reauth_from[0] != self.mechanism:
            raise AuthenticationFailed(f"SASL mechanism '{self.mechanism}' requested by client is not supported "
                                       f"for re-authentication of mechanism '{self.reauth_from[0]}'")
        answer = self.server.evaluate(bytes(token))
        if self.server.complete:
            if self.reauth_from is not None and self.reauth_from[1] != self.server.principal:
                raise AuthenticationFailed(f"Cannot change principals during re-authentication from "
                                           f"{self.reauth_from[1].replace(':', '.', 1)}: {self.server.principal.replace(':', '.', 1)}")
            self.principal = self.server.principal
            self.state = State.COMPLETE
        return answer

    def _finish(self) -> int:
        """Start the session; its lifetime in ms (0: none), as SaslAuthenticate v1+ tells the client."""
        self.reauth_from = None
        now_ms = time.time() * 1000
        lifetimes = [ms for ms in (self.security.reauth_ms.get(self.mechanism, 0),) if ms > 0]
        if self.server is not None and self.server.expires_ms is not None:
            lifetimes.append(max(0, int(self.server.expires_ms - now_ms)))
        if not lifetimes:
            self.expires_at = None
            return 0
        lifetime = min(lifetimes)
        self.expires_at = time.monotonic() + lifetime / 1000
        return lifetime

    def _failure_text(self, exc: AuthenticationFailed) -> str:
        if exc.detailed is not None:
            return exc.detailed
        during = "re-authentication" if self.reauth_from is not None else "authentication"
        return f"Authentication failed during {during} due to invalid credentials with SASL mechanism {self.mechanism}"
