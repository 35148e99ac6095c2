"""The ACL authorizer: Kafka's StandardAuthorizer (and ZooKeeper-era AclAuthorizer) rules.

A decision for (principal, host, operation, resource):

- a super user (`super.users`) may do anything;
- the ACLs that apply to the resource are those of its literal name, of the literal `*`, and of
  every prefixed pattern its name starts with;
- none at all: `allow.everyone.if.no.acl.found` decides (false by default: denied);
- an entry counts when its principal is the caller's or `User:*`, and its host the caller's or `*`;
- a DENY of the operation (or ALL) wins; otherwise an ALLOW of it (or ALL) allows, and an ALLOW of
  READ, WRITE, DELETE or ALTER also allows DESCRIBE, one of ALTER_CONFIGS also DESCRIBE_CONFIGS;
- anything else is denied.

Decisions are cached per (principal, host, operation, resource type, name) and the cache is
dropped on every ACL change, so a produce to an allowed topic costs one dictionary lookup.
The authorizer knows nothing of requests or handlers: it answers questions about names.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable

from kproto import ErrorCode

from kbroker.security.acls import (
    IMPLIED_BY, SUPPORTED_OPERATIONS, WILDCARD, WILDCARD_PRINCIPAL, AccessControlEntry, AclBinding, AclBindingFilter,
    AclOperation, PatternType, PermissionType, ResourcePattern, ResourceType, binding_problem, bit_field,
)
from kbroker.security.store import STORE_FAILURES, AclChanges, AclMap, AclStore

log = logging.getLogger("kbroker.authorizer")
# Decisions kept before the cache starts afresh: enough for every client of a busy broker, bounded
# so that clients from ever new addresses cannot grow it without end.
CACHE_LIMIT = 100_000
ALL, DENY = AclOperation.ALL, PermissionType.DENY
# The name Kafka asks about first when authorizing by resource type: it lets a super user, or
# allow.everyone.if.no.acl.found, through before the ACLs are looked at.
PROBE_NAME = "hardcode"

Outcome = tuple[ErrorCode, str | None]


def parse_super_users(text: str | None) -> frozenset[str]:
    """`super.users` is a semicolon-separated list of principals, as Kafka reads it."""
    return frozenset(part.strip() for part in (text or "").split(";") if part.strip())


class Authorizer:
    def __init__(self, store: AclStore, super_users: frozenset[str] = frozenset(),
                 allow_if_no_acl: bool = False) -> None:
        self.store = store
        self.super_users = super_users
        self.allow_if_no_acl = allow_if_no_acl
        self._acls: AclMap = {}
        self._prefix_lengths: dict[ResourceType, frozenset[int]] = {}
        self._decisions: dict[tuple[str, str, AclOperation, ResourceType, str], bool] = {}
        self._install(store.load())
        log.info("authorizer loaded %d ACL(s) on %d resource pattern(s)", self.count(), len(self._acls))

    # -- questions

    def authorize(self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType,
                  name: str) -> bool:
        key = (principal, host, operation, resource_type, name)
        decided = self._decisions.get(key)
        if decided is None:
            decided = self._decide(principal, host, operation, resource_type, name)
            if len(self._decisions) >= CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decided
        return decided

    def authorized_operations(self, principal: str, host: str, resource_type: ResourceType, name: str) -> int:
        """The bit field of the supported operations the principal may perform on the resource."""
        return bit_field({op for op in SUPPORTED_OPERATIONS[resource_type]
                          if self.authorize(principal, host, op, resource_type, name)})

    def authorize_by_resource_type(self, principal: str, host: str, operation: AclOperation,
                                   resource_type: ResourceType) -> bool:
        """Whether the principal may perform the operation on some resource of the type (KIP-679:
        an idempotent producer needs WRITE on any topic): an ALLOW not dominated by a DENY, as
        Kafka's default Authorizer.authorizeByResourceType decides."""
        if self.authorize(principal, host, operation, resource_type, PROBE_NAME):
            return True
        allowed: dict[PatternType, set[str]] = {PatternType.LITERAL: set(), PatternType.PREFIXED: set()}
        denied: dict[PatternType, set[str]] = {PatternType.LITERAL: set(), PatternType.PREFIXED: set()}
        for pattern, entries in self._acls.items():
            if pattern.resource_type != resource_type:
                continue
            for entry in entries:
                if not self._applies(entry, principal, host) or entry.operation not in (operation, ALL):
                    continue
                if entry.permission == DENY:
                    if pattern.pattern_type == PatternType.LITERAL and pattern.name == WILDCARD:
                        return False
                    denied[pattern.pattern_type].add(pattern.name)
                elif pattern.pattern_type == PatternType.LITERAL and pattern.name == WILDCARD:
                    return True
                else:
                    allowed[pattern.pattern_type].add(pattern.name)
        for kind, names in allowed.items():
            for name in names:
                if kind == PatternType.LITERAL and name in denied[PatternType.LITERAL]:
                    continue
                if not any(name[:i] in denied[PatternType.PREFIXED] for i in range(1, len(name) + 1)):
                    return True
        return False

    def acls(self, wanted: AclBindingFilter) -> list[AclBinding]:
        return [binding for binding in self._bindings() if wanted.matches(binding)]

    def count(self) -> int:
        return sum(len(entries) for entries in self._acls.values())

    # -- changes

    def create(self, bindings: list[AclBinding]) -> list[Outcome]:
        """Add ACLs; one (error, message) per binding. An ACL already there is no error."""
        outcomes: list[Outcome] = []
        added: dict[ResourcePattern, set[AccessControlEntry]] = {}
        for binding in bindings:
            problem = binding_problem(binding)
            if problem:
                outcomes.append((ErrorCode.INVALID_REQUEST, problem))
            else:
                added.setdefault(binding.pattern, set()).add(binding.entry)
                outcomes.append((ErrorCode.NONE, None))
        if added:
            failure = self._commit({pattern: (frozenset(entries), frozenset()) for pattern, entries in added.items()})
            if failure:
                return [failure if error == ErrorCode.NONE else (error, message) for error, message in outcomes]
        return outcomes

    def delete(self, filters: list[AclBindingFilter]) -> list[tuple[ErrorCode, str | None, list[AclBinding]]]:
        """Remove what each filter matches; an ACL two filters match is reported under both, as Kafka's
        StandardAuthorizer reports it."""
        results: list[tuple[ErrorCode, str | None, list[AclBinding]]] = []
        doomed: dict[ResourcePattern, set[AccessControlEntry]] = {}
        for wanted in filters:
            problem = wanted.problem()
            if problem:
                results.append((ErrorCode.INVALID_REQUEST, problem, []))
                continue
            matched = self.acls(wanted)
            for binding in matched:
                doomed.setdefault(binding.pattern, set()).add(binding.entry)
            results.append((ErrorCode.NONE, None, matched))
        if doomed:
            failure = self._commit({pattern: (frozenset(), frozenset(entries)) for pattern, entries in doomed.items()})
            if failure:
                return [(*failure, []) if error == ErrorCode.NONE else (error, message, found)
                        for error, message, found in results]
        return results

    def resources_changed(self, stored: AclMap) -> None:
        """Patterns' ACLs as stored now (a pattern with no entries left has none): another broker
        changed them, in a cluster, or this one did."""
        acls = dict(self._acls)
        for pattern, entries in stored.items():
            if entries:
                acls[pattern] = entries
            else:
                acls.pop(pattern, None)
        self._install(acls)

    # -- inside

    def _commit(self, changes: AclChanges) -> Outcome | None:
        try:
            stored = self.store.apply(self._acls, changes)
        except STORE_FAILURES as exc:
            log.error("could not store ACLs: %s", exc or type(exc).__name__)
            return ErrorCode.UNKNOWN_SERVER_ERROR, f"Could not store ACLs: {exc or type(exc).__name__}"
        self.resources_changed(stored)
        return None

    def _install(self, acls: AclMap) -> None:
        lengths: dict[ResourceType, set[int]] = {}
        for pattern in acls:
            if pattern.pattern_type == PatternType.PREFIXED:
                lengths.setdefault(pattern.resource_type, set()).add(len(pattern.name))
        self._acls = acls
        self._prefix_lengths = {kind: frozenset(found) for kind, found in lengths.items()}
        self._decisions = {}

    def _bindings(self) -> Iterable[AclBinding]:
        for pattern, entries in self._acls.items():
            for entry in entries:
                yield AclBinding(pattern, entry)

    def _matching(self, resource_type: ResourceType, name: str) -> list[AccessControlEntry]:
        """Every entry of the patterns that apply to the resource: its name, `*`, its prefixes."""
        acls = self._acls
        found: list[AccessControlEntry] = []
        for pattern in (ResourcePattern(resource_type, name, PatternType.LITERAL),
                        ResourcePattern(resource_type, WILDCARD, PatternType.LITERAL)):
            found.extend(acls.get(pattern, ()))
        prefixed = ResourcePattern(resource_type, name, PatternType.PREFIXED)
        for length in self._prefix_lengths.get(resource_type, ()):
            if length <= len(name):
                found.extend(acls.get(replace(prefixed, name=name[:length]), ()))
        return found

    @staticmethod
    def _applies(entry: AccessControlEntry, principal: str, host: str) -> bool:
        return entry.principal in (principal, WILDCARD_PRINCIPAL) and entry.host in (host, WILDCARD)

    def _decide(self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType,
                name: str) -> bool:
        if principal in self.super_users:
            return True
        entries = self._matching(resource_type, name)
        if not entries:
            return self.allow_if_no_acl
        implied = IMPLIED_BY.get(operation, (operation,))
        allowed = False
        for entry in entries:
            if not self._applies(entry, principal, host):
                continue
            if entry.permission == DENY:
                if entry.operation in (operation, ALL):
                    return False
            elif entry.operation == ALL or entry.operation in implied:
                allowed = True
        return allowed
