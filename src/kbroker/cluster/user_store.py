"""SCRAM credentials in ZooKeeper, where Kafka keeps them, so that a user can log in on any broker.

A user's credentials are properties of its config entity `/config/users/<sanitized user>`
(`{"version":1,"config":{"SCRAM-SHA-512":"salt=...,stored_key=...,server_key=...,iterations=4096"}}`,
beside any quotas the node holds), and a change is announced under `/config/changes` with the
entity path `users/<sanitized user>`, as Kafka's AdminZkClient writes it. The user's name is
sanitized as Kafka's Sanitizer does: URL-encoded, `*` and `~` encoded too, a space as `%20`.
"""

from __future__ import annotations

import json
from typing import Callable
from urllib.parse import quote, unquote

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from kbroker.cluster.zk import USER_CONFIGS, BoundedCalls, announce_config_change
from kbroker.security.scram import MECHANISMS, ScramCredentials
from kbroker.security.store import StoreUnavailable

USERS = "users"  # the entity type in a config change's entity path
MAX_CONFLICTS = 10  # writers to one user's node take turns; give up after as many conflicts


def sanitize(user: str) -> str:
    """A user name as a node name, as Kafka's Sanitizer.sanitize makes it."""
    return quote(user, safe="").replace("~", "%7E").replace("*", "%2A")


def desanitize(name: str) -> str:
    return unquote(name)


def scram_properties(config: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in config.items() if key in MECHANISMS}


class ZkScramStore(ScramCredentials):
    """Every user's credentials, read at start and kept current by config change notifications."""

    def __init__(self, calls: BoundedCalls) -> None:
        self.calls = calls
        users = {}
        for name in calls.get_children(USER_CONFIGS):
            config, _ = self._read(name)
            if scram_properties(config):
                users[desanitize(name)] = scram_properties(config)
        super().__init__(users)

    def _read(self, name: str) -> tuple[dict[str, str], int]:
        """A user entity's config and its node's version (-1: no node)."""
        try:
            data, stat = self.calls.get(f"{USER_CONFIGS}/{name}")
        except NoNodeError:
            return {}, -1
        return dict(json.loads(data).get("config") or {}) if data else {}, stat.version

    def _store(self, users: dict[str, dict[str, str]], touched: set[str]) -> None:
        try:
            for user in touched:
                self._write(sanitize(user), users.get(user, {}))
                announce_config_change(self.calls, f"{USERS}/{sanitize(user)}")
        except (KazooException, KazooTimeoutError) as exc:
            raise StoreUnavailable(f"ZooKeeper: {exc or type(exc).__name__}") from None

    def _write(self, name: str, credentials: dict[str, str]) -> None:
        """Replace the entity's SCRAM properties and keep its others (quotas), unless someone wrote between."""
        path = f"{USER_CONFIGS}/{name}"
        for _ in range(MAX_CONFLICTS):
            config, version = self._read(name)
            others = {key: value for key, value in config.items() if key not in MECHANISMS}
            data = json.dumps({"version": 1, "config": {**others, **credentials}}).encode()
            try:
                if version < 0:
                    self.calls.create(path, data, makepath=True)
                else:
                    self.calls.set(path, data, version=version)
                return
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue
        raise StoreUnavailable(f"{path} kept changing under {MAX_CONFLICTS} attempts to update it")

    def announced(self, entity: str) -> Callable[[], None]:
        """On a notification listener's thread: the user a notification names, read again, for the loop to take."""
        name = entity.partition("/")[2]
        credentials = scram_properties(self._read(name)[0])
        return lambda: self.user_changed(desanitize(name), credentials)
