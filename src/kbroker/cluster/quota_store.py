"""Client quotas in ZooKeeper, where Kafka's ZooKeeper mode keeps them, so every broker enforces
a quota set through any one of them.

An entity's quotas are properties of its config node (`{"version":1,"config":{"producer_byte_rate":
"1048576"}}`), announced under `/config/changes` with the node's entity path, as Kafka's
AdminZkClient writes them:

    /config/users/<user>                   a user's (beside its SCRAM credentials)
    /config/users/<user>/clients/<client>  a user and client id's
    /config/clients/<client>               a client id's
    /config/ips/<ip>                       an IP address's

`<default>` names the default entity of a type; names are sanitized as Kafka sanitizes them.
"""

from __future__ import annotations

from typing import Callable

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kproto import ErrorCode

from kbroker.admin.configs import Refused
from kbroker.admin.quotas import CLIENT_ID, CLIENT_KEYS, IP, IP_KEYS, USER, ClientQuotaTable, Entity, Listener
from kbroker.cluster.entity_configs import EntityBusy, desanitize, read_entity, sanitize, update_entity
from kbroker.cluster.zk import BoundedCalls, announce_config_change

DEFAULT = "<default>"
CLIENTS, IPS, USERS = "clients", "ips", "users"
QUOTA_KEYS = {**CLIENT_KEYS, **IP_KEYS}  # key -> whether its values are whole numbers


def entity_path(entity: Entity) -> str:
    """The entity's path under /config, as Kafka names it."""
    names = {kind: sanitize(name) if name is not None else DEFAULT for kind, name in entity}
    if IP in names:
        return f"{IPS}/{names[IP]}"
    if USER in names and CLIENT_ID in names:
        return f"{USERS}/{names[USER]}/{CLIENTS}/{names[CLIENT_ID]}"
    if USER in names:
        return f"{USERS}/{names[USER]}"
    return f"{CLIENTS}/{names[CLIENT_ID]}"


def path_entity(path: str) -> Entity | None:
    """The entity a config entity path names, None when it names no quota entity (a topic, say)."""
    parts = path.split("/")

    def name(part: str) -> str | None:
        return None if part == DEFAULT else desanitize(part)
    if len(parts) == 2 and parts[0] in (USERS, CLIENTS, IPS):
        return frozenset({({USERS: USER, CLIENTS: CLIENT_ID, IPS: IP}[parts[0]], name(parts[1]))})
    if len(parts) == 4 and parts[0] == USERS and parts[2] == CLIENTS:
        return frozenset({(USER, name(parts[1])), (CLIENT_ID, name(parts[3]))})
    return None


def quota_values(config: dict[str, str]) -> dict[str, float]:
    return {key: float(value) for key, value in config.items() if key in QUOTA_KEYS}


def quota_text(key: str, value: float) -> str:
    return str(int(value)) if QUOTA_KEYS[key] else str(value)


class ZkQuotaStore(ClientQuotaTable):
    """Every entity's quotas, read at start and kept current by config change notifications."""

    def __init__(self, calls: BoundedCalls, on_change: Listener | None = None) -> None:
        self.calls = calls
        quotas: dict[Entity, dict[str, float]] = {}
        for path in self._entity_paths():
            values = quota_values(read_entity(self.calls, path)[0])
            entity = path_entity(path)
            if values and entity is not None:
                quotas[entity] = values
        super().__init__(quotas, on_change)

    def _entity_paths(self) -> list[str]:
        paths = []
        for kind in (USERS, CLIENTS, IPS):
            for name in self._children(f"/config/{kind}"):
                paths.append(f"{kind}/{name}")
                if kind == USERS:
                    paths.extend(f"{USERS}/{name}/{CLIENTS}/{client}"
                                 for client in self._children(f"/config/{USERS}/{name}/{CLIENTS}"))
        return paths

    def _children(self, path: str) -> list[str]:
        try:
            return self.calls.get_children(path)
        except NoNodeError:
            return []

    def _save(self, entity: Entity, values: dict[str, float]) -> None:
        path = entity_path(entity)
        try:
            update_entity(self.calls, path, QUOTA_KEYS, {key: quota_text(key, value) for key, value in values.items()})
            announce_config_change(self.calls, path)
        except (KazooException, KazooTimeoutError) as exc:
            raise Refused(ErrorCode.UNKNOWN_SERVER_ERROR, f"ZooKeeper: {exc or type(exc).__name__}") from None
        except EntityBusy as exc:
            raise Refused(ErrorCode.UNKNOWN_SERVER_ERROR, str(exc)) from None

    def announced(self, path: str) -> Callable[[], None] | None:
        """On a notification listener's thread: the entity a notification names, read again, for
        the loop to take; None when the path names no quota entity."""
        entity = path_entity(path)
        if entity is None:
            return None
        values = quota_values(read_entity(self.calls, path)[0])
        return lambda: self.replaced(entity, values)
