"""A coordinator on memory storage with short timeouts, and shorthands for the classic protocol."""

from __future__ import annotations

import asyncio

from kproto.codec import encode
from kproto.messages import ConsumerProtocolSubscription

from kbroker.groups import GroupConfig, GroupCoordinator, JoinRequest, MemoryGroupLog

FAST = GroupConfig(min_session_timeout_ms=10, initial_rebalance_delay_ms=0)


def subscription(*topics: str) -> bytes:
    return b"\x00\x00" + encode(ConsumerProtocolSubscription(topics=list(topics)), 0)


def coordinator(config: GroupConfig = FAST, storage: MemoryGroupLog | None = None, clock=None) -> GroupCoordinator:
    kwargs = {"clock": clock} if clock else {}
    return GroupCoordinator(config, storage or MemoryGroupLog(), **kwargs)


def join_request(group: str = "g", member: str = "", instance: str | None = None, session_ms: int = 1000,
                 rebalance_ms: int = 1000, protocols=None, protocol_type: str = "consumer",
                 require_known: bool = True) -> JoinRequest:
    return JoinRequest(group, member, instance, protocol_type,
                       protocols if protocols is not None else [("range", subscription("t"))],
                       session_ms, rebalance_ms, "client", "/127.0.0.1", require_known_member_id=require_known)


async def settle(seconds: float = 0.02) -> None:
    """Let timers due now (the initial delay of 0) fire."""
    await asyncio.sleep(seconds)


async def join_new(coord: GroupCoordinator, **kwargs) -> asyncio.Future:
    """A dynamic member's first join: MEMBER_ID_REQUIRED, then the join with its id (still pending)."""
    first = coord.join(join_request(**kwargs)).result()
    assert first.error == 79, first  # MEMBER_ID_REQUIRED
    return coord.join(join_request(member=first.member_id, **kwargs))
