"""Where ACLs are kept: one JSON file in the data dir on a single node (ZooKeeper's nodes in a
cluster: `kbroker.cluster.acl_store`).

Each resource pattern's entries are written in the JSON Kafka's AclAuthorizer keeps in a ZooKeeper
node (`{"version": 1, "acls": [{"principal", "host", "operation", "permissionType"}]}`, with
PascalCase names such as `Read` and `Allow`), so the same functions serve a ZooKeeper store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Protocol

from kbroker.admin.store import load_json, save_json
from kbroker.security.acls import AccessControlEntry, AclOperation, PatternType, PermissionType, ResourcePattern, \
    ResourceType

AclMap = dict[ResourcePattern, frozenset[AccessControlEntry]]
# A pattern's change: the entries to add and the entries to remove.
AclChanges = dict[ResourcePattern, tuple[frozenset[AccessControlEntry], frozenset[AccessControlEntry]]]
FILE_NAME = "acls.json"


class StoreUnavailable(Exception):
    """The store cannot be reached now (ZooKeeper away): the change was not made."""


STORE_FAILURES = (OSError, StoreUnavailable)
VERSION = 1


class AclStore(Protocol):
    """What the authorizer asks of its storage."""

    def load(self) -> AclMap: ...

    def apply(self, acls: AclMap, changes: AclChanges) -> AclMap:
        """Make the changes durable; `acls` is what the authorizer holds now. Returns each changed
        pattern's entries as stored (which, in a cluster, include other brokers' changes to it)."""


def changed(acls: AclMap, changes: AclChanges) -> AclMap:
    """Each changed pattern's entries after its changes."""
    return {pattern: (acls.get(pattern, frozenset()) | added) - removed
            for pattern, (added, removed) in changes.items()}


def entries_json(entries: Iterable[AccessControlEntry]) -> dict[str, Any]:
    return {"version": VERSION, "acls": [
        {"principal": e.principal, "host": e.host, "operation": e.operation.pascal,
         "permissionType": e.permission.pascal}
        for e in sorted(entries, key=lambda e: (e.principal, e.host, e.operation, e.permission))]}


def entries_from_json(doc: dict[str, Any]) -> frozenset[AccessControlEntry]:
    if doc.get("version") != VERSION:
        raise ValueError(f"unsupported ACL document version {doc.get('version')!r}")
    return frozenset(AccessControlEntry(item["principal"], item["host"], AclOperation.parse(item["operation"]),
                                        PermissionType.parse(item["permissionType"]))
                     for item in doc["acls"])


class AclFile:
    """`acls.json` in the data dir, rewritten atomically on every change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME

    def load(self) -> AclMap:
        doc = load_json(self.path, {"version": VERSION, "resources": []})
        return {ResourcePattern(ResourceType.parse(item["resourceType"]), item["name"],
                                PatternType.parse(item["patternType"])): entries_from_json(item["entries"])
                for item in doc["resources"]}

    def apply(self, acls: AclMap, changes: AclChanges) -> AclMap:
        result = changed(acls, changes)
        whole = {pattern: entries for pattern, entries in {**acls, **result}.items() if entries}
        save_json(self.path, {"version": VERSION, "resources": [
            {"resourceType": p.resource_type.pascal, "patternType": p.pattern_type.name, "name": p.name,
             "entries": entries_json(entries)}
            for p, entries in sorted(whole.items(), key=lambda item: (item[0].resource_type, item[0].pattern_type,
                                                                      item[0].name))]})
        return result
