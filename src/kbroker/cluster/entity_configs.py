"""Config entities in ZooKeeper (`/config/users/<user>`, `/config/clients/<client>`, ...) as
Kafka's ZooKeeper mode keeps them: one node per entity, `{"version":1,"config":{...}}`, shared by
several owners of its properties (SCRAM credentials and quotas both live in a user's node)."""

from __future__ import annotations

import json
from typing import Collection
from urllib.parse import quote, unquote

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from kbroker.cluster.zk import BoundedCalls

MAX_CONFLICTS = 10  # writers to one entity's node take turns; give up after as many conflicts


class EntityBusy(Exception):
    """The node kept changing under every attempt to update it."""


def sanitize(name: str) -> str:
    """An entity name as a node name, as Kafka's Sanitizer.sanitize makes it."""
    return quote(name, safe="").replace("~", "%7E").replace("*", "%2A")


def desanitize(name: str) -> str:
    return unquote(name)


def read_entity(calls: BoundedCalls, path: str) -> tuple[dict[str, str], int]:
    """The entity's config at `path` (under /config) and its node's version (-1: no node)."""
    try:
        data, stat = calls.get(f"/config/{path}")
    except NoNodeError:
        return {}, -1
    return dict(json.loads(data).get("config") or {}) if data else {}, stat.version


def update_entity(calls: BoundedCalls, path: str, owned: Collection[str], values: dict[str, str]) -> None:
    """Replace the entity's properties among `owned` by `values`, keeping the others, unless
    someone wrote between the read and the write: then read again."""
    for _ in range(MAX_CONFLICTS):
        config, version = read_entity(calls, path)
        others = {key: value for key, value in config.items() if key not in owned}
        data = json.dumps({"version": 1, "config": {**others, **values}}).encode()
        try:
            if version < 0:
                calls.create(f"/config/{path}", data, makepath=True)
            else:
                calls.set(f"/config/{path}", data, version=version)
            return
        except (BadVersionError, NodeExistsError, NoNodeError):
            continue
    raise EntityBusy(f"/config/{path} kept changing under {MAX_CONFLICTS} attempts to update it")
