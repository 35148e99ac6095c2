"""Share sessions (KIP-932): the partitions a member fetches, carried from one ShareFetch to the next.

A session belongs to one member of one group, and to this broker alone: the group coordinator
does not look at it, and leaving the group does not end it. ShareFetch with epoch 0 opens it
(replacing any the member had) with the partitions it names; each later ShareFetch or ShareAcknowledge must
carry the session's current epoch, which then moves on (wrapping past 2^31-1 to 1), may add
partitions and forget others; epoch -1 closes it. A missing session is SHARE_SESSION_NOT_FOUND,
a wrong epoch INVALID_SHARE_SESSION_EPOCH, as Kafka's ShareSessionCache answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Iterable

from kproto import ErrorCode

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
PartitionKey = tuple[Hashable, int]  # (topic id, partition index)


class ShareSessionError(Exception):
    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


@dataclass(eq=False)
class ShareSession:
    group_id: str
    member_id: str
    epoch: int = 1
    #: the partitions fetched, in the order they were added (a dict used as an ordered set)
    partitions: dict[PartitionKey, None] = field(default_factory=dict)

    def advance(self) -> None:
        self.epoch = 1 if self.epoch == 2**31 - 1 else self.epoch + 1


class ShareSessions:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], ShareSession] = {}

    def open(self, group_id: str, member_id: str, partitions: Iterable[PartitionKey]) -> ShareSession:
        session = ShareSession(group_id, member_id, partitions=dict.fromkeys(partitions))
        self._sessions[(group_id, member_id)] = session
        return session

    def find(self, group_id: str, member_id: str, epoch: int) -> ShareSession:
        """The member's session if `epoch` is its current one (or the final epoch)."""
        session = self._sessions.get((group_id, member_id))
        if session is None:
            raise ShareSessionError(ErrorCode.SHARE_SESSION_NOT_FOUND)
        if epoch not in (session.epoch, FINAL_EPOCH):
            raise ShareSessionError(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        return session

    def close(self, group_id: str, member_id: str) -> ShareSession | None:
        return self._sessions.pop((group_id, member_id), None)
