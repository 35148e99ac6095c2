"""ApiVersions (key 18), v0-4: the versions of every API this broker serves, read off the dispatch table.

v3 added the client software name and version (flexible); the response header stays v0 in every
version so that a client can always read the answer.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import ApiVersionsRequest, ApiVersionsResponse

from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import HANDLERS, handles

API_VERSIONS = 18
_SOFTWARE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def supported_versions(clustered: bool = False) -> list[ApiVersionsResponse.ApiVersion]:
    return [
        ApiVersionsResponse.ApiVersion(api_key=h.api_key, min_version=h.min_version, max_version=h.max_version)
        for h in sorted(HANDLERS.values(), key=lambda h: h.api_key)
        if h.served(clustered)
    ]


def _valid_software_field(value: str) -> bool:
    """Kafka accepts client software names and versions of letters, digits, '.' and '-' only."""
    return bool(value) and value[0].isalnum() and value[-1].isalnum() and set(value) <= _SOFTWARE_NAME_CHARS


@handles(API_VERSIONS, 0, 4)
def api_versions(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    error = ErrorCode.NONE
    if ctx.api_version >= 3 and not (
        _valid_software_field(request.client_software_name) and _valid_software_field(request.client_software_version)
    ):
        error = ErrorCode.INVALID_REQUEST
    return ApiVersionsResponse(error_code=error, api_keys=supported_versions(ctx.broker.cluster is not None))
