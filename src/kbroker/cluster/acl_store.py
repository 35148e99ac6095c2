"""ACLs in ZooKeeper, where Kafka's AclAuthorizer keeps them, so that every broker enforces them.

    /kafka-acl/<ResourceType>/<name>                     literal patterns' entries
    /kafka-acl-extended/prefixed/<ResourceType>/<name>   prefixed patterns' entries
    /kafka-acl-changes/acl_changes_<seq>                 `TOPIC:<name>`: a literal pattern changed
    /kafka-acl-extended-changes/acl_changes_<seq>        {"version":1,"resourceType","name","patternType"}

A node holds its pattern's entries as `{"version": 1, "acls": [...]}` (`kbroker.security.store`).
A change reads the node, adds or removes entries and writes it back only if nobody wrote it in
between (its ZooKeeper version), trying again otherwise, then announces the pattern; every broker
(this one too) reads an announced pattern's node again, on the notification listener's thread.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.handlers.threading import KazooTimeoutError

from kbroker.cluster.notifications import ChangeListener
from kbroker.cluster.zk import BoundedCalls
from kbroker.security.acls import AccessControlEntry, PatternType, ResourcePattern, ResourceType
from kbroker.security.store import AclChanges, AclMap, StoreUnavailable, changed, entries_from_json, entries_json

log = logging.getLogger("kbroker.authorizer")
LITERAL_ROOT = "/kafka-acl"
PREFIXED_ROOT = "/kafka-acl-extended/prefixed"
LITERAL_CHANGES = "/kafka-acl-changes"
EXTENDED_CHANGES = "/kafka-acl-extended-changes"
CHANGE_PREFIX = "acl_changes_"
ROOTS = {PatternType.LITERAL: LITERAL_ROOT, PatternType.PREFIXED: PREFIXED_ROOT}
# Concurrent writers to one pattern take turns; Kafka gives up after as many conflicts.
MAX_CONFLICTS = 10
CONCRETE_TYPES = [t for t in ResourceType if t not in (ResourceType.UNKNOWN, ResourceType.ANY)]


def node_path(pattern: ResourcePattern) -> str:
    return f"{ROOTS[pattern.pattern_type]}/{pattern.resource_type.pascal}/{pattern.name}"


def change_notification(pattern: ResourcePattern) -> tuple[str, bytes]:
    """Where and what to announce about a pattern, as Kafka's literal and extended change stores write it."""
    if pattern.pattern_type == PatternType.LITERAL:
        return LITERAL_CHANGES, f"{pattern.resource_type.name}:{pattern.name}".encode()
    return EXTENDED_CHANGES, json.dumps({"version": 1, "resourceType": pattern.resource_type.name,
                                         "name": pattern.name, "patternType": pattern.pattern_type.name}).encode()


def literal_change(data: bytes) -> ResourcePattern:
    kind, _, name = data.decode().partition(":")
    return ResourcePattern(ResourceType.parse(kind), name, PatternType.LITERAL)


def extended_change(data: bytes) -> ResourcePattern:
    doc = json.loads(data)
    if doc.get("version", 1) > 1:
        raise ValueError(f"unsupported ACL change event version {doc['version']}")
    return ResourcePattern(ResourceType.parse(doc["resourceType"]), doc["name"], PatternType.parse(doc["patternType"]))


class ZkAclStore:
    """The authorizer's store in a cluster, and the listeners that bring other brokers' changes."""

    def __init__(self, calls: BoundedCalls) -> None:
        self.calls = calls
        self.on_change: list[Callable[[AclMap], None]] = []  # on the event loop: patterns as stored now
        self.listeners = [ChangeListener(calls, LITERAL_CHANGES, CHANGE_PREFIX, self._announced(literal_change),
                                         "ACL changes"),
                          ChangeListener(calls, EXTENDED_CHANGES, CHANGE_PREFIX, self._announced(extended_change),
                                         "ACL changes")]
        self.seen_at_load: list[set[str]] = [set(), set()]

    def load(self) -> AclMap:
        """Every pattern's entries. The notifications already there are taken as read: the load
        is newer than they are."""
        for path in (*ROOTS.values(), LITERAL_CHANGES, EXTENDED_CHANGES):
            self.calls.ensure_path(path)
        self.seen_at_load = [listener.existing() for listener in self.listeners]
        acls: AclMap = {}
        for pattern_type, root in ROOTS.items():
            for kind in self.calls.get_children(root):
                resource_type = ResourceType.parse(kind)
                for name in self.calls.get_children(f"{root}/{kind}"):
                    pattern = ResourcePattern(resource_type, name, pattern_type)
                    entries, _ = self._read(pattern)
                    if entries:
                        acls[pattern] = entries
        return acls

    def apply(self, acls: AclMap, changes: AclChanges) -> AclMap:
        try:
            stored = {pattern: self._update(pattern, added, removed) for pattern, (added, removed) in changes.items()}
            for pattern in stored:
                path, data = change_notification(pattern)
                self.calls.create(f"{path}/{CHANGE_PREFIX}", data, sequence=True)
        except (KazooException, KazooTimeoutError) as exc:
            raise StoreUnavailable(f"ZooKeeper: {exc or type(exc).__name__}") from None
        return stored

    def _read(self, pattern: ResourcePattern) -> tuple[frozenset[AccessControlEntry], int]:
        """A pattern's entries and its node's version (-1: no node)."""
        try:
            data, stat = self.calls.get(node_path(pattern))
        except NoNodeError:
            return frozenset(), -1
        return (entries_from_json(json.loads(data)) if data else frozenset()), stat.version

    def _update(self, pattern: ResourcePattern, added: frozenset[AccessControlEntry],
                removed: frozenset[AccessControlEntry]) -> frozenset[AccessControlEntry]:
        """Read, change, write back if unchanged since the read; again on a conflict."""
        path = node_path(pattern)
        for _ in range(MAX_CONFLICTS):
            current, version = self._read(pattern)
            wanted = changed({pattern: current}, {pattern: (added, removed)})[pattern]
            if wanted == current:
                return current
            try:
                if version < 0:
                    self.calls.create(path, json.dumps(entries_json(wanted)).encode(), makepath=True)
                elif wanted:
                    self.calls.set(path, json.dumps(entries_json(wanted)).encode(), version=version)
                else:
                    self.calls.delete(path, version=version)
                return wanted
            except (BadVersionError, NodeExistsError, NoNodeError, NotEmptyError):
                continue
        raise StoreUnavailable(f"{path} kept changing under {MAX_CONFLICTS} attempts to update it")

    def _announced(self, decode: Callable[[bytes], ResourcePattern]) -> Callable[[bytes], Callable[[], None]]:
        """A listener's reader: the announced pattern's node read again, for the loop to install."""
        def read(data: bytes) -> Callable[[], None]:
            pattern = decode(data)
            entries, _ = self._read(pattern)
            stored = {pattern: entries}

            def install() -> None:
                for callback in self.on_change:
                    callback(stored)
            return install
        return read
