"""A member of a classic group, and what it is waiting for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

Protocols = list[tuple[str, bytes]]  # (protocol name, opaque metadata) in the member's preference order


@dataclass(eq=False)
class ClassicMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    #: a member that has not completed a join yet: its session is the new-member join timeout
    is_new: bool = False
    #: the parked JoinGroup / SyncGroup answer, when the member is waiting for the rebalance
    join_waiter: asyncio.Future | None = field(default=None, repr=False)
    sync_waiter: asyncio.Future | None = field(default=None, repr=False)

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def awaiting_join(self) -> bool:
        return self.join_waiter is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_waiter is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str | None) -> bytes:
        """The member's metadata for `protocol` (empty when it does not support it)."""
        return next((data for name, data in self.protocols if name == protocol), b"")

    def matches(self, protocols: Protocols) -> bool:
        """Same protocols, same order, same metadata: rejoining with them changes nothing."""
        return [(n, bytes(m)) for n, m in protocols] == [(n, bytes(m)) for n, m in self.protocols]

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        return next(name for name, _ in self.protocols if name in candidates)

    def survives_expiry(self) -> bool:
        """Whether the member stays when its session timer fires with no heartbeat since.

        A known member parked in JoinGroup or SyncGroup counts as alive: its connection is busy
        with that request. A new member must finish its first join within its own timeout.
        """
        return not self.is_new and (self.awaiting_join or self.awaiting_sync)

    def complete_join(self, result: Any) -> bool:
        """Answer the parked JoinGroup, if any; True when there was one."""
        waiter, self.join_waiter = self.join_waiter, None
        return _resolve(waiter, result)

    def complete_sync(self, result: Any) -> bool:
        waiter, self.sync_waiter = self.sync_waiter, None
        return _resolve(waiter, result)


def _resolve(waiter: asyncio.Future | None, result: Any) -> bool:
    if waiter is None:
        return False
    if not waiter.done():  # its connection may have gone and cancelled it
        waiter.set_result(result)
    return True
