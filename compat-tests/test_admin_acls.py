"""ACL administration through kafka-python's, librdkafka's and the raw protocol's eyes on a broker
with no authorizer configured: as Apache Kafka without one, every ACL request is answered
SECURITY_DISABLED ("No Authorizer is configured.", "... on the broker" for DescribeAcls) rather
than refused as an unknown API.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType,
)
from kafka.admin import (
    ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient, ResourcePattern,
)
from kafka.admin import ResourcePatternFilter, ResourceType as KPResourceType
from kafka.errors import SecurityDisabledError
from kproto import ErrorCode
from kproto.messages import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from rawclient import RawClient

TIMEOUT = 15
NO_AUTHORIZER = "No Authorizer is configured."


def ck_admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def test_librdkafka_create_and_delete_acls_say_security_is_disabled(bootstrap: str) -> None:
    """librdkafka reports DescribeAcls's top-level error as no ACLs at all; the others raise it."""
    admin = ck_admin(bootstrap)
    binding = AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    pattern = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)
    assert admin.describe_acls(pattern, request_timeout=TIMEOUT).result(timeout=TIMEOUT) == []
    for future in (admin.create_acls([binding], request_timeout=TIMEOUT)[binding],
                   admin.delete_acls([pattern], request_timeout=TIMEOUT)[pattern]):
        with pytest.raises(KafkaException) as raised:
            future.result(timeout=TIMEOUT)
        assert (raised.value.args[0].code(), raised.value.args[0].str()) == (KafkaError.SECURITY_DISABLED, NO_AUTHORIZER)


def test_kafka_python_describe_acls_raises_security_disabled(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT * 1000)
    try:
        with pytest.raises(SecurityDisabledError):
            admin.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                          permission_type=ACLPermissionType.ANY,
                                          resource_pattern=ResourcePatternFilter(KPResourceType.TOPIC, None, ACLResourcePatternType.MATCH)))
        acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ, permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(KPResourceType.TOPIC, "orders"))
        result = admin.create_acls([acl])
        assert result == {"succeeded": [], "failed": [SecurityDisabledError]}
    finally:
        admin.close()


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_version_answers_with_kafkas_error_and_message(version: int, bootstrap: str) -> None:
    pattern = 3  # MATCH; v0 has no pattern type field, and leaves it out
    with RawClient(bootstrap) as raw:
        described = raw.request(DescribeAclsRequest(resource_type_filter=1, resource_name_filter=None,
                                                    pattern_type_filter=pattern, principal_filter=None,
                                                    host_filter=None, operation=1, permission_type=1), version)
        created = raw.request(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
            resource_type=2, resource_name="orders", resource_pattern_type=3, principal="User:alice", host="*",
            operation=3, permission_type=3)] * 2), version)
        deleted = raw.request(DeleteAclsRequest(filters=[DeleteAclsRequest.DeleteAclsFilter(
            resource_type_filter=1, resource_name_filter=None, pattern_type_filter=pattern, principal_filter=None,
            host_filter=None, operation=1, permission_type=1)]), version)
    assert (described.error_code, described.error_message, described.resources) == (
        ErrorCode.SECURITY_DISABLED, "No Authorizer is configured on the broker", [])
    assert [(r.error_code, r.error_message) for r in created.results] == [(ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER)] * 2
    assert [(r.error_code, r.error_message, r.matching_acls) for r in deleted.filter_results] == [
        (ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER, [])]
