"""SCRAM credentials in ZooKeeper, where Kafka keeps them, so that a user can log in on any broker.

A user's credentials are properties of its config entity `/config/users/<sanitized user>`
(`{"version":1,"config":{"SCRAM-SHA-512":"salt=...,stored_key=...,server_key=...,iterations=4096"}}`,
beside any quotas the node holds), and a change is announced under `/config/changes` with the
entity path `users/<sanitized user>`, as Kafka's AdminZkClient writes it. The user's name is
sanitized as Kafka's Sanitizer does: URL-encoded, `*` and `~` encoded too, a space as `%20`.
"""

from __future__ import annotations

from typing import Callable

from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from kbroker.cluster.entity_configs import EntityBusy, desanitize, read_entity, sanitize, update_entity
from kbroker.cluster.zk import USER_CONFIGS, BoundedCalls, announce_config_change
from kbroker.security.scram import MECHANISMS, ScramCredentials
from kbroker.security.store import StoreUnavailable

USERS = "users"  # the entity type in a config change's entity path


def scram_properties(config: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in config.items() if key in MECHANISMS}


class ZkScramStore(ScramCredentials):
    """Every user's credentials, read at start and kept current by config change notifications."""

    def __init__(self, calls: BoundedCalls) -> None:
        self.calls = calls
        users = {}
        for name in calls.get_children(USER_CONFIGS):
            config, _ = read_entity(calls, f"{USERS}/{name}")
            if scram_properties(config):
                users[desanitize(name)] = scram_properties(config)
        super().__init__(users)

    def _store(self, users: dict[str, dict[str, str]], touched: set[str]) -> None:
        try:
            for user in touched:
                update_entity(self.calls, f"{USERS}/{sanitize(user)}", MECHANISMS, users.get(user, {}))
                announce_config_change(self.calls, f"{USERS}/{sanitize(user)}")
        except (KazooException, KazooTimeoutError) as exc:
            raise StoreUnavailable(f"ZooKeeper: {exc or type(exc).__name__}") from None
        except EntityBusy as exc:
            raise StoreUnavailable(str(exc)) from None

    def announced(self, entity: str) -> Callable[[], None]:
        """On a notification listener's thread: the user a notification names, read again, for the loop to take."""
        name = entity.partition("/")[2]
        credentials = scram_properties(read_entity(self.calls, entity)[0])
        return lambda: self.user_changed(desanitize(name), credentials)
