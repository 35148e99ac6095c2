"""The authorizer's matching rules, as Kafka's StandardAuthorizer applies them, with principals
other than the anonymous one; and its ACLs kept across a restart."""

from __future__ import annotations

import json
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kproto import ErrorCode

from kbroker.security.acls import (
    IMPLIED_BY, WILDCARD, WILDCARD_PRINCIPAL, AccessControlEntry, AclBinding, AclBindingFilter, AclOperation,
    PatternType, PermissionType, ResourcePattern, ResourceType,
)
from kbroker.security.authorizer import Authorizer, parse_super_users
from kbroker.security.store import AclFile

Op, Perm, RT, PT = AclOperation, PermissionType, ResourceType, PatternType
ALICE, BOB = "User:alice", "User:bob"
HOST = "10.0.0.1"


def acl(name: str, principal: str, op: AclOperation, perm: PermissionType = Perm.ALLOW,
        pattern: PatternType = PT.LITERAL, host: str = WILDCARD, kind: ResourceType = RT.TOPIC) -> AclBinding:
    return AclBinding(ResourcePattern(kind, name, pattern), AccessControlEntry(principal, host, op, perm))


@pytest.fixture
def make(tmp_path_factory: pytest.TempPathFactory):
    """An authorizer with these ACLs, in a data dir of its own; `make.dir` is the last one's."""
    def build(*bindings: AclBinding, super_users: str = "", allow_if_no_acl: bool = False) -> Authorizer:
        build.dir = tmp_path_factory.mktemp("data")
        authorizer = Authorizer(AclFile(build.dir), parse_super_users(super_users), allow_if_no_acl)
        assert all(error == ErrorCode.NONE for error, _ in authorizer.create(list(bindings)))
        return authorizer
    return build


def may(authorizer: Authorizer, op: AclOperation, name: str = "orders", principal: str = ALICE,
        host: str = HOST, kind: ResourceType = RT.TOPIC) -> bool:
    return authorizer.authorize(principal, host, op, kind, name)


def test_a_resource_without_acls_is_denied_unless_everyone_is_allowed_then(make) -> None:
    assert not may(make(), Op.READ)
    assert may(make(allow_if_no_acl=True), Op.READ)


def test_acls_for_someone_else_deny_even_when_everyone_is_allowed_without_acls(make) -> None:
    authorizer = make(acl("orders", BOB, Op.READ), allow_if_no_acl=True)
    assert not may(authorizer, Op.READ) and may(authorizer, Op.READ, principal=BOB)
    assert may(authorizer, Op.READ, name="payments"), "another topic still has no ACLs"


def test_super_users_pass_even_a_deny(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.ALL, Perm.DENY), super_users=" User:alice ; User:ops;")
    assert authorizer.super_users == {"User:alice", "User:ops"}
    assert may(authorizer, Op.WRITE) and may(authorizer, Op.CLUSTER_ACTION, "kafka-cluster", kind=RT.CLUSTER)


def test_literal_wildcard_and_prefixed_patterns_apply(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.READ), acl(WILDCARD, ALICE, Op.WRITE),
                      acl("pay", ALICE, Op.DELETE, pattern=PT.PREFIXED))
    assert may(authorizer, Op.READ) and not may(authorizer, Op.READ, "orders2")
    assert may(authorizer, Op.WRITE, "anything")
    assert may(authorizer, Op.DELETE, "payments") and may(authorizer, Op.DELETE, "pay")
    assert not may(authorizer, Op.DELETE, "pa") and not may(authorizer, Op.DELETE, "orders")
    assert not may(authorizer, Op.READ, "orders", kind=RT.GROUP), "a topic's ACLs say nothing of a group"


def test_a_literal_star_is_no_wildcard_as_a_prefix(make) -> None:
    authorizer = make(acl("*", ALICE, Op.READ, pattern=PT.PREFIXED))
    assert may(authorizer, Op.READ, "*x") and not may(authorizer, Op.READ, "orders")


def test_principal_and_host_must_match_or_be_wildcards(make) -> None:
    authorizer = make(acl("orders", WILDCARD_PRINCIPAL, Op.READ, host="10.0.0.2"), acl("orders", ALICE, Op.WRITE))
    assert may(authorizer, Op.READ, principal=BOB, host="10.0.0.2")
    assert not may(authorizer, Op.READ, principal=BOB, host=HOST)
    assert may(authorizer, Op.WRITE) and not may(authorizer, Op.WRITE, principal=BOB)
    assert not may(make(acl("orders", "Group:x", Op.READ)), Op.READ, principal="User:x")


def test_deny_wins_over_allow_and_all_covers_every_operation(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.ALL), acl("orders", WILDCARD_PRINCIPAL, Op.WRITE, Perm.DENY))
    assert may(authorizer, Op.READ) and may(authorizer, Op.ALTER_CONFIGS)
    assert not may(authorizer, Op.WRITE)
    assert not may(make(acl("orders", ALICE, Op.READ), acl("or", ALICE, Op.ALL, Perm.DENY, PT.PREFIXED)), Op.READ)


@pytest.mark.parametrize("implying", sorted(IMPLIED_BY[Op.DESCRIBE] - {Op.DESCRIBE}))
def test_read_write_delete_alter_imply_describe_but_their_deny_does_not_deny_it(make, implying) -> None:
    assert may(make(acl("orders", ALICE, implying)), Op.DESCRIBE)
    denied = make(acl("orders", ALICE, Op.DESCRIBE), acl("orders", ALICE, implying, Perm.DENY))
    assert may(denied, Op.DESCRIBE) and not may(denied, implying)


def test_alter_configs_implies_describe_configs_and_nothing_else(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.ALTER_CONFIGS))
    assert may(authorizer, Op.DESCRIBE_CONFIGS)
    assert not may(authorizer, Op.DESCRIBE) and not may(authorizer, Op.ALTER)


def test_authorized_operations_are_a_bit_field_of_the_supported_ones(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.READ), acl("orders", ALICE, Op.IDEMPOTENT_WRITE))
    assert authorizer.authorized_operations(ALICE, HOST, RT.TOPIC, "orders") == (1 << Op.READ) | (1 << Op.DESCRIBE)
    assert authorizer.authorized_operations(BOB, HOST, RT.TOPIC, "orders") == 0


def test_a_decision_changes_with_the_acls(make) -> None:
    authorizer = make()
    assert not may(authorizer, Op.READ)
    authorizer.create([acl("orders", ALICE, Op.READ)])
    assert may(authorizer, Op.READ)
    [(error, _, deleted)] = authorizer.delete([AclBindingFilter(RT.TOPIC, "orders", PT.LITERAL)])
    assert (error, deleted) == (ErrorCode.NONE, [acl("orders", ALICE, Op.READ)])
    assert not may(authorizer, Op.READ)


def test_acls_survive_a_restart_in_kafkas_json(make) -> None:
    bindings = [acl("orders", ALICE, Op.READ), acl("tx-", BOB, Op.WRITE, Perm.DENY, PT.PREFIXED, "10.0.0.9",
                                                   RT.TRANSACTIONAL_ID)]
    make(*bindings)
    again = Authorizer(AclFile(make.dir))
    assert sorted(map(str, again.acls(AclBindingFilter()))) == sorted(map(str, bindings))
    stored = json.loads((make.dir / "acls.json").read_text())
    entry = next(r for r in stored["resources"] if r["resourceType"] == "TransactionalId")
    assert (entry["patternType"], entry["name"]) == ("PREFIXED", "tx-")
    assert entry["entries"] == {"version": 1, "acls": [
        {"principal": BOB, "host": "10.0.0.9", "operation": "Write", "permissionType": "Deny"}]}


def test_creation_refuses_what_kafka_refuses(make) -> None:
    authorizer = make()
    refused = [acl("orders", ALICE, Op.ANY), acl("orders", ALICE, Op.READ, Perm.ANY), acl("", ALICE, Op.READ),
               acl("orders", ALICE, Op.READ, pattern=PT.MATCH), acl("other", ALICE, Op.ALTER, kind=RT.CLUSTER),
               acl("orders", "alice", Op.READ), acl("orders", ALICE, Op.READ, kind=RT.ANY)]
    outcomes = authorizer.create(refused + [acl("orders", ALICE, Op.READ)])
    assert [error for error, _ in outcomes] == [ErrorCode.INVALID_REQUEST] * len(refused) + [ErrorCode.NONE]
    assert [message for _, message in outcomes[:6]] == [
        "Invalid operation ANY", "Invalid permissionType ANY", "Invalid empty resource name",
        "Invalid patternType MATCH", "The only valid name for the CLUSTER resource is kafka-cluster",
        "Could not parse principal from `alice` (no colon is present separating the principal type from the "
        "principal name)"]
    assert authorizer.count() == 1
    assert authorizer.create([acl("orders", ALICE, Op.READ)]) == [(ErrorCode.NONE, None)], "already there is fine"
    assert authorizer.count() == 1


def test_filters_match_as_kafkas(make) -> None:
    literal, star, prefixed = acl("orders", ALICE, Op.READ), acl("*", BOB, Op.WRITE), \
        acl("ord", ALICE, Op.DELETE, Perm.DENY, PT.PREFIXED)
    authorizer = make(literal, star, prefixed, acl("orders", ALICE, Op.READ, kind=RT.GROUP))

    def found(**wanted) -> set[AclBinding]:
        return set(authorizer.acls(AclBindingFilter(**wanted)))

    assert found(resource_type=RT.TOPIC, name="orders", pattern_type=PT.MATCH) == {literal, star, prefixed}
    assert found(resource_type=RT.TOPIC, name="orders", pattern_type=PT.ANY) == {literal}
    assert found(resource_type=RT.TOPIC, name="ord", pattern_type=PT.PREFIXED) == {prefixed}
    assert found(resource_type=RT.TOPIC, pattern_type=PT.LITERAL) == {literal, star}
    assert found(resource_type=RT.TOPIC, principal=ALICE, permission=Perm.DENY) == {prefixed}
    assert found(operation=Op.READ) == {literal, acl("orders", ALICE, Op.READ, kind=RT.GROUP)}
    assert found(host="10.0.0.1") == set()


def test_two_filters_report_the_same_acl_and_unknown_filters_are_refused(make) -> None:
    authorizer = make(acl("orders", ALICE, Op.READ))
    results = authorizer.delete([AclBindingFilter(), AclBindingFilter(principal=ALICE),
                                 AclBindingFilter(operation=Op.UNKNOWN)])
    assert [(e, deleted) for e, _, deleted in results[:2]] == [(ErrorCode.NONE, [acl("orders", ALICE, Op.READ)])] * 2
    assert results[2] == (ErrorCode.INVALID_REQUEST, "Unknown entryFilter.", [])
    assert authorizer.count() == 0


def test_some_topic_may_be_written_unless_a_deny_dominates_every_allow(make) -> None:
    def by_type(*bindings: AclBinding) -> bool:
        return make(*bindings).authorize_by_resource_type(ALICE, HOST, Op.WRITE, RT.TOPIC)

    assert not by_type()
    assert by_type(acl("orders", ALICE, Op.WRITE))
    assert by_type(acl("orders", ALICE, Op.ALL))
    assert not by_type(acl("orders", ALICE, Op.READ))
    assert not by_type(acl("orders", ALICE, Op.WRITE), acl("orders", ALICE, Op.WRITE, Perm.DENY))
    assert not by_type(acl("orders", ALICE, Op.WRITE), acl("or", ALICE, Op.WRITE, Perm.DENY, PT.PREFIXED))
    assert by_type(acl("orders", ALICE, Op.WRITE), acl("pay", ALICE, Op.WRITE, Perm.DENY, PT.PREFIXED))
    assert not by_type(acl("orders", ALICE, Op.WRITE), acl("*", ALICE, Op.WRITE, Perm.DENY))
    assert not by_type(acl("orders", BOB, Op.WRITE))
    assert make(super_users=ALICE).authorize_by_resource_type(ALICE, HOST, Op.WRITE, RT.TOPIC)


# -- the indexed, cached decision against the rules read straight off the ACL list

NAMES = st.sampled_from(["a", "ab", "abc", "b", "*"])
PRINCIPALS = st.sampled_from([ALICE, BOB, WILDCARD_PRINCIPAL])
CONCRETE_OPS = [op for op in AclOperation if op not in (Op.UNKNOWN, Op.ANY)]
BINDINGS = st.builds(
    lambda kind, name, pattern, principal, host, op, perm: acl(name, principal, op, perm, pattern, host, kind),
    st.sampled_from([RT.TOPIC, RT.GROUP]), NAMES, st.sampled_from([PT.LITERAL, PT.PREFIXED]), PRINCIPALS,
    st.sampled_from([WILDCARD, HOST]), st.sampled_from(CONCRETE_OPS), st.sampled_from([Perm.ALLOW, Perm.DENY]))


def reference(bindings: list[AclBinding], principal: str, host: str, op: AclOperation, kind: ResourceType, name: str,
              allow_if_no_acl: bool) -> bool:
    def applies(p: ResourcePattern) -> bool:
        if p.resource_type != kind:
            return False
        if p.pattern_type == PT.LITERAL:
            return p.name in (name, WILDCARD)
        return name.startswith(p.name)

    on_resource = [b.entry for b in bindings if applies(b.pattern)]
    if not on_resource:
        return allow_if_no_acl
    mine = [e for e in on_resource if e.principal in (principal, WILDCARD_PRINCIPAL) and e.host in (host, WILDCARD)]
    if any(e.permission == Perm.DENY and e.operation in (op, Op.ALL) for e in mine):
        return False
    return any(e.permission == Perm.ALLOW and (e.operation == Op.ALL or e.operation in IMPLIED_BY.get(op, {op}))
               for e in mine)


@settings(max_examples=200, deadline=None)
@given(st.lists(BINDINGS, max_size=12), PRINCIPALS.filter(lambda p: p != WILDCARD_PRINCIPAL),
       st.sampled_from([HOST, "10.0.0.2"]), st.sampled_from(CONCRETE_OPS[1:]), NAMES, st.booleans())
def test_decisions_follow_the_rules(tmp_path_factory, bindings, principal, host, op, name, allow_if_no_acl) -> None:
    authorizer = Authorizer(AclFile(tmp_path_factory.mktemp("acls")), frozenset(), allow_if_no_acl)
    authorizer.create(bindings)
    expected = reference(bindings, principal, host, op, RT.TOPIC, name, allow_if_no_acl)
    assert authorizer.authorize(principal, host, op, RT.TOPIC, name) == expected
    assert authorizer.authorize(principal, host, op, RT.TOPIC, name) == expected, "the cached decision"
