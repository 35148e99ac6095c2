"""Incremental fetch sessions (KIP-227).

A consumer that fetches many partitions opens a session with a full fetch (session id 0, epoch
0); later fetches send only the partitions that changed, and the answer holds only partitions
with something new: records, an error, or a moved high watermark, last stable offset or log
start offset. Epoch -1 closes a session. The cache is bounded (Kafka's
`max.incremental.fetch.session.cache.slots`) and evicts the least recently used session.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Hashable

from kproto import ErrorCode

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_EPOCH = 2**31 - 1


def next_epoch(epoch: int) -> int:
    return 1 if epoch >= MAX_EPOCH else epoch + 1


@dataclass(slots=True)
class PartitionState:
    """What the client asked for a partition, and what it was last told about it."""

    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1  # the client's view, checked against the leader's (-1: unknown)
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1

    def moved(self, data: Any) -> bool:
        """True when the answer's offsets differ from what the client was last told."""
        return (self.high_watermark, self.last_stable_offset, self.log_start_offset) != (
            data.high_watermark, data.last_stable_offset, data.log_start_offset)

    def remember(self, data: Any) -> None:
        """Note the offsets sent, so that the next incremental answer can leave this partition out."""
        self.high_watermark = data.high_watermark
        self.last_stable_offset = data.last_stable_offset
        self.log_start_offset = data.log_start_offset


@dataclass(slots=True)
class FetchSession:
    session_id: int
    epoch: int  # the epoch the next request must carry
    partitions: OrderedDict[Hashable, PartitionState] = field(default_factory=OrderedDict)


class FetchSessionError(Exception):
    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


class FetchSessionCache:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.sessions: OrderedDict[int, FetchSession] = OrderedDict()
        self._ids = itertools.count(1)

    def new_session(self) -> FetchSession | None:
        """A new session, or None when the cache has no room (the fetch is then sessionless)."""
        if self.slots <= 0:
            return None
        if len(self.sessions) >= self.slots:
            self.sessions.popitem(last=False)
        session_id = next(self._ids) & 0x7FFFFFFF or next(self._ids)
        session = FetchSession(session_id, next_epoch(INITIAL_EPOCH))
        self.sessions[session_id] = session
        return session

    def resume(self, session_id: int, epoch: int) -> FetchSession:
        """The session an incremental fetch names, checked and moved to its next epoch."""
        session = self.sessions.get(session_id)
        if session is None:
            raise FetchSessionError(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if epoch != session.epoch:
            raise FetchSessionError(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        session.epoch = next_epoch(epoch)
        self.sessions.move_to_end(session_id)
        return session

    def close(self, session_id: int) -> None:
        if self.sessions.pop(session_id, None) is None:
            raise FetchSessionError(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
