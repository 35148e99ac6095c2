"""Where a cluster keeps ACLs and SCRAM users in ZooKeeper: Kafka's node names and notification data."""

from __future__ import annotations

import json

import pytest

from kbroker.cluster.acl_store import change_notification, extended_change, literal_change, node_path
from kbroker.cluster.entity_configs import desanitize, sanitize
from kbroker.security.acls import PatternType, ResourcePattern, ResourceType

LITERAL = ResourcePattern(ResourceType.TRANSACTIONAL_ID, "tx:1", PatternType.LITERAL)
PREFIXED = ResourcePattern(ResourceType.TOPIC, "pay-", PatternType.PREFIXED)


def test_acl_nodes_are_named_as_kafkas_acl_authorizer_names_them() -> None:
    assert node_path(LITERAL) == "/kafka-acl/TransactionalId/tx:1"
    assert node_path(PREFIXED) == "/kafka-acl-extended/prefixed/Topic/pay-"


def test_acl_change_notifications_round_trip_in_kafkas_two_forms() -> None:
    path, data = change_notification(LITERAL)
    assert (path, data) == ("/kafka-acl-changes", b"TRANSACTIONAL_ID:tx:1")
    assert literal_change(data) == LITERAL
    path, data = change_notification(PREFIXED)
    assert path == "/kafka-acl-extended-changes"
    assert json.loads(data) == {"version": 1, "resourceType": "TOPIC", "name": "pay-", "patternType": "PREFIXED"}
    assert extended_change(data) == PREFIXED


def test_a_newer_extended_change_version_is_refused() -> None:
    with pytest.raises(ValueError):
        extended_change(b'{"version": 2, "resourceType": "TOPIC", "name": "x", "patternType": "PREFIXED"}')


@pytest.mark.parametrize("user, node", [("alice", "alice"), ("a b", "a%20b"), ("*", "%2A"), ("CN=x,O=y", "CN%3Dx%2CO%3Dy"),
                                        ("a.b-c_d", "a.b-c_d"), ("~", "%7E")])
def test_user_names_are_sanitized_as_kafkas_sanitizer_does(user: str, node: str) -> None:
    assert sanitize(user) == node
    assert desanitize(node) == user
