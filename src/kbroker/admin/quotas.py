"""Client quotas: stored and described as Kafka does, kept in `kbroker-client-quotas.json` on a
single node (`QuotaStore`) and in ZooKeeper in a cluster (`kbroker.cluster.quota_store`).

`kbroker.security.quotas` applies them: the store tells it of every change, which takes effect at
once. An entity is a set of (type, name) pairs — `user`, `client-id`, or `ip` alone — where a None name is the default
entity of that type.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from kproto import ErrorCode

from kbroker.admin.configs import Refused
from kbroker.admin.store import load_json, save_json

QUOTA_FILE = "kbroker-client-quotas.json"
USER, CLIENT_ID, IP = "user", "client-id", "ip"
# Kafka's QuotaConfig keys and whether each takes whole numbers only.
CLIENT_KEYS = {"producer_byte_rate": True, "consumer_byte_rate": True, "request_percentage": False,
               "controller_mutation_rate": False}
IP_KEYS = {"connection_creation_rate": True}
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2

Entity = frozenset[tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class QuotaOp:
    key: str
    value: float
    remove: bool


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a DescribeClientQuotas filter."""

    entity_type: str
    match_type: int
    match: str | None


def check_entity(pairs: Iterable[tuple[str, str | None]]) -> Entity:
    pairs = list(pairs)
    types = [kind for kind, _ in pairs]
    if not pairs:
        raise Refused(ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity")
    if len(set(types)) != len(types):
        raise Refused(ErrorCode.INVALID_REQUEST, "Invalid quota entity: an entity type is given twice")
    unknown = [kind for kind in types if kind not in (USER, CLIENT_ID, IP)]
    if unknown:
        raise Refused(ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {unknown[0]}")
    if IP in types and len(types) > 1:
        raise Refused(ErrorCode.INVALID_REQUEST,
                      "Invalid quota entity combination, IP entity should not be combined with User or ClientId")
    for kind, name in pairs:
        if kind == IP and name is not None:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                raise Refused(ErrorCode.INVALID_REQUEST, f"{name} is not a valid IP or resolvable host.") from None
    return frozenset(pairs)


Listener = Callable[[list[tuple[Entity, dict[str, float]]]], None]


class ClientQuotaTable:
    """The quotas of every entity, checked and described as Kafka does; where they are kept is a
    subclass's business (`_save`)."""

    def __init__(self, quotas: dict[Entity, dict[str, float]], on_change: Listener | None = None) -> None:
        """`on_change` is handed every entity with its quotas now, and again after each change."""
        self._quotas = quotas
        self.on_change = on_change
        if on_change is not None:
            on_change(self.entries())

    def _save(self, entity: Entity, values: dict[str, float]) -> None:
        raise NotImplementedError

    def replaced(self, entity: Entity, values: dict[str, float]) -> None:
        """The entity's quotas are now `values` (none when empty), changed here or by another broker."""
        if values:
            self._quotas[entity] = dict(values)
        else:
            self._quotas.pop(entity, None)
        if self.on_change is not None:
            self.on_change(self.entries())

    def entries(self) -> list[tuple[Entity, dict[str, float]]]:
        return [(entity, dict(values)) for entity, values in self._quotas.items()]

    def alter(self, pairs: Iterable[tuple[str, str | None]], ops: list[QuotaOp], validate_only: bool) -> None:
        entity = check_entity(pairs)
        allowed = IP_KEYS if any(kind == IP for kind, _ in entity) else CLIENT_KEYS
        keys = [op.key for op in ops]
        if len(set(keys)) != len(keys):
            raise Refused(ErrorCode.INVALID_REQUEST, "Duplicate quota key in one entry")
        for op in ops:
            if op.key not in allowed:
                raise Refused(ErrorCode.INVALID_REQUEST, f"Invalid configuration key {op.key}")
            if not op.remove and (op.value <= 0 or (allowed[op.key] and op.value != int(op.value))):
                kind = "a positive whole number" if allowed[op.key] else "positive"
                raise Refused(ErrorCode.INVALID_REQUEST, f"Quota {op.key} must be {kind}, not {op.value}")
        if validate_only:
            return
        values = dict(self._quotas.get(entity, {}))
        for op in ops:
            if op.remove:
                values.pop(op.key, None)
            else:
                values[op.key] = op.value
        self._save(entity, values)
        self.replaced(entity, values)

    def describe(self, components: list[Component], strict: bool) -> list[tuple[Entity, dict[str, float]]]:
        """The entities the filter matches, with their quotas."""
        types = [c.entity_type for c in components]
        if len(set(types)) != len(types):
            raise Refused(ErrorCode.INVALID_REQUEST, "Duplicate entity type in the filter")
        for component in components:
            if component.entity_type not in (USER, CLIENT_ID, IP):
                raise Refused(ErrorCode.INVALID_REQUEST, f"Custom entity type '{component.entity_type}' not supported")
            if component.match_type not in (MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED):
                raise Refused(ErrorCode.INVALID_REQUEST, f"Unknown match type {component.match_type}")
            if component.match_type == MATCH_EXACT and component.match is None:
                raise Refused(ErrorCode.INVALID_REQUEST, "Exact match requested, but the match string is null")
        return [(entity, dict(values)) for entity, values in self._quotas.items()
                if matches(entity, components, strict)]


def matches(entity: Entity, components: list[Component], strict: bool) -> bool:
    names = dict(entity)
    if strict and set(names) != {c.entity_type for c in components}:
        return False
    for component in components:
        if component.entity_type not in names:
            return False
        name = names[component.entity_type]
        if component.match_type == MATCH_EXACT and name != component.match:
            return False
        if component.match_type == MATCH_DEFAULT and name is not None:
            return False
        if component.match_type == MATCH_SPECIFIED and name is None:
            return False
    return True


class QuotaStore(ClientQuotaTable):
    """A single node's quotas, kept in `kbroker-client-quotas.json` in the data dir."""

    def __init__(self, directory: Path, on_change: Listener | None = None) -> None:
        self.path = directory / QUOTA_FILE
        doc = load_json(self.path, {"version": 1, "entries": []})
        super().__init__({frozenset((kind, name) for kind, name in entry["entity"]): dict(entry["values"])
                          for entry in doc["entries"]}, on_change)

    def _save(self, entity: Entity, values: dict[str, float]) -> None:
        kept = {**self._quotas, entity: values}
        save_json(self.path, {"version": 1, "entries": [
            {"entity": sorted(e, key=lambda pair: pair[0]), "values": v} for e, v in kept.items() if v]})
