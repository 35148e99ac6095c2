"""SaslHandshake (key 17, v0-1) and SaslAuthenticate (key 36, v0-2) outside a SASL exchange.

On a SASL listener the connection's authenticator answers both (security/authenticator.py);
they reach these handlers only where there is no exchange to be in: on a listener without SASL,
or after authentication from a client that cannot re-authenticate. Kafka answers ILLEGAL_SASL_STATE
there; they are in the dispatch table so that ApiVersions advertises them.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36


@handles(SASL_HANDSHAKE, 0, 1)
def sasl_handshake(ctx: RequestContext, request: SaslHandshakeRequest) -> SaslHandshakeResponse:
    return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])


@handles(SASL_AUTHENTICATE, 0, 2)
def sasl_authenticate(ctx: RequestContext, request: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE,
                                    error_message="SaslAuthenticate request received after successful authentication",
                                    auth_bytes=b"")
