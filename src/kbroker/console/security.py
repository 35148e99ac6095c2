"""What the security page shows: every ACL the console's principal may see (DescribeAcls) and the
users with SCRAM credentials (DescribeUserScramCredentials)."""

from __future__ import annotations

from dataclasses import dataclass

from kproto import ErrorCode
from kproto.messages import DescribeAclsRequest, DescribeUserScramCredentialsRequest

from kbroker.tools.acls import describe_acls
from kbroker.tools.client import Client, ToolError
from kbroker.tools.scram_users import scram_credentials


@dataclass
class Security:
    acls: list[tuple[str, list[str]]] | None  # (resource pattern, entries); None: ACLs unavailable
    acls_note: str
    users: list[dict] | None
    users_note: str


def security(client: Client) -> Security:
    """ACLs and SCRAM users; each part says why it is missing (no authorizer, not served, not allowed)."""
    versions = client.bootstrap.api_versions()
    acls, acls_note = None, "the broker does not serve DescribeAcls"
    if DescribeAclsRequest.API_KEY in versions:
        try:
            found = describe_acls(client, [])
            acls = [(str(pattern), sorted(str(entry) for entry in found[pattern]))
                    for pattern in sorted(found, key=lambda p: (p.resource_type, p.name, p.pattern_type))]
            acls_note = ""
        except ToolError as exc:
            acls_note = explain(exc)
    users, users_note = None, "the broker does not serve DescribeUserScramCredentials"
    if DescribeUserScramCredentialsRequest.API_KEY in versions:
        try:
            users, users_note = scram_credentials(client, None), ""
        except ToolError as exc:
            users_note = explain(exc)
    return Security(acls, acls_note, users, users_note)


def explain(exc: ToolError) -> str:
    text = str(exc)
    if ErrorCode.SECURITY_DISABLED.name in text:
        return "no authorizer is configured on the broker (authorizer.class.name)"
    return text
