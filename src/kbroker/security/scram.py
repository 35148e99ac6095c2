"""SCRAM credentials as Kafka stores them, and the single node's file of them (ZooKeeper's
/config/users in a cluster: `kbroker.cluster.user_store`).

Kafka keeps a user's credentials in its config entity `/config/users/<user>`: one property per
mechanism, `SCRAM-SHA-512=salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`. Never
the password: AlterUserScramCredentials brings a salt and a salted password, from which the broker
derives the stored and server keys (RFC 5802, section 3). A single node keeps the same documents
in `kbroker-scram-credentials.json` in its data dir.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import scramp

from kbroker.admin.store import load_json, save_json

SCRAM_FILE = "kbroker-scram-credentials.json"
# Mechanism name -> (its id in the SCRAM admin APIs, its hash), as Kafka's ScramMechanism has them.
MECHANISMS: dict[str, tuple[int, Callable]] = {"SCRAM-SHA-256": (1, hashlib.sha256), "SCRAM-SHA-512": (2, hashlib.sha512)}
MECHANISM_BY_ID = {ident: name for name, (ident, _) in MECHANISMS.items()}
MIN_ITERATIONS = 4096  # Kafka's minimum for both mechanisms
MAX_ITERATIONS = 16384  # the most AlterUserScramCredentials accepts


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_kafka(self) -> str:
        b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
        return f"salt={b64(self.salt)},stored_key={b64(self.stored_key)},server_key={b64(self.server_key)}," \
               f"iterations={self.iterations}"

    @classmethod
    def from_kafka(cls, text: str) -> ScramCredential:
        fields = dict(part.split("=", 1) for part in text.split(","))
        return cls(base64.b64decode(fields["salt"]), base64.b64decode(fields["stored_key"]),
                   base64.b64decode(fields["server_key"]), int(fields["iterations"]))

    @classmethod
    def from_salted_password(cls, mechanism: str, salt: bytes, salted_password: bytes, iterations: int) -> ScramCredential:
        """The keys RFC 5802 derives from a salted password: StoredKey = H(HMAC(p, "Client Key")), ServerKey = HMAC(p, "Server Key")."""
        digest = MECHANISMS[mechanism][1]
        client_key = hmac.digest(salted_password, b"Client Key", digest)
        return cls(salt, digest(client_key).digest(), hmac.digest(salted_password, b"Server Key", digest), iterations)

    @classmethod
    def from_password(cls, mechanism: str, password: str, iterations: int = MIN_ITERATIONS) -> ScramCredential:
        salt, stored_key, server_key, count = scramp.ScramMechanism(mechanism).make_auth_info(password, iterations)
        return cls(salt, stored_key, server_key, count)


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(password, salt, i) of RFC 5802: what an admin client sends in AlterUserScramCredentials."""
    return hashlib.pbkdf2_hmac(MECHANISMS[mechanism][1]().name, password.encode(), salt, iterations)


class ScramCredentials(ABC):
    """Users' SCRAM credentials in memory, each user's as Kafka's /config/users/<user> node holds
    them (mechanism -> `salt=...,stored_key=...` text); `_store` makes a change durable first."""

    def __init__(self, users: dict[str, dict[str, str]]) -> None:
        self.users = users

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        text = self.users.get(user, {}).get(mechanism)
        return ScramCredential.from_kafka(text) if text else None

    def mechanisms(self, user: str) -> dict[str, int]:
        """Mechanism -> iterations of each credential `user` has."""
        return {name: ScramCredential.from_kafka(text).iterations for name, text in self.users.get(user, {}).items()}

    def names(self) -> list[str]:
        return sorted(user for user, creds in self.users.items() if creds)

    def change(self, upserts: Iterable[tuple[str, str, ScramCredential]], deletions: Iterable[tuple[str, str]]) -> None:
        """Apply credential upserts and deletions: stored first, then in memory (nothing on a failure)."""
        users = {user: dict(creds) for user, creds in self.users.items()}
        touched = set()
        for user, mechanism in deletions:
            users.get(user, {}).pop(mechanism, None)
            touched.add(user)
        for user, mechanism, credential in upserts:
            users.setdefault(user, {})[mechanism] = credential.to_kafka()
            touched.add(user)
        for user in touched:
            if not users.get(user, True):
                del users[user]
        self._store(users, touched)
        self.users = users

    def user_changed(self, user: str, credentials: dict[str, str]) -> None:
        """A user's credentials as another broker stored them (in a cluster)."""
        if credentials:
            self.users[user] = credentials
        else:
            self.users.pop(user, None)

    @abstractmethod
    def _store(self, users: dict[str, dict[str, str]], touched: set[str]) -> None:
        """Make the `touched` users' credentials in `users` durable (a user missing has none)."""


class ScramStore(ScramCredentials):
    """A single node's: `kbroker-scram-credentials.json` in the data dir, rewritten on each change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SCRAM_FILE
        super().__init__(load_json(self.path, {"users": {}})["users"])

    def _store(self, users: dict[str, dict[str, str]], touched: set[str]) -> None:
        save_json(self.path, {"users": users})
