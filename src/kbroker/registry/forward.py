"""Writes go to the elected leader (leader.py): a registry that is not the leader sends each
write request on to the leader's URL as it came and answers with the leader's answer, as
Confluent's followers do, once it has read the leader's records itself, so a client reading from
it next sees its own write. Reads (lookups and compatibility checks included) are served locally.
"""

from __future__ import annotations

import re
from typing import Awaitable, Callable

import aiohttp
from aiohttp import web

from kbroker.registry import errors
from kbroker.registry.leader import LeaderElection

ELECTION_KEY = web.AppKey("election", LeaderElection)
SESSION_KEY = web.AppKey("forwarding_session", aiohttp.ClientSession)
CATCH_UP_KEY = web.AppKey("catch_up", Callable[[], Awaitable[None]])
# Marks a forwarded request: its receiver serves it only as the leader, never forwards it again.
FORWARDED = "X-Kbroker-Registry-Forwarded"
# How long a write waits for the first election, and for the leader's answer.
LEADER_WAIT_S = 10.0
FORWARD_TIMEOUT_S = 30.0
# POSTs that write (registering); other POSTs (lookup, compatibility) only read.
_WRITING_POST = re.compile(r"^/subjects/[^/]+/versions/?$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def writes(request: web.Request) -> bool:
    return request.method in ("PUT", "DELETE") or (request.method == "POST" and bool(
        _WRITING_POST.match(request.path)))


@web.middleware
async def writes_to_leader(request: web.Request, handler: Handler) -> web.StreamResponse:
    election = request.app.get(ELECTION_KEY)
    if election is None or not writes(request):
        return await handler(request)
    leader = await election.leader(LEADER_WAIT_S)
    if leader == election.own_url:
        return await handler(request)
    if leader is None or FORWARDED in request.headers:
        raise errors.unknown_leader()
    answer = await _forward(request, leader)
    if answer.status < 300:
        await request.app[CATCH_UP_KEY]()
    return answer


async def _forward(request: web.Request, leader: str) -> web.Response:
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json"), FORWARDED: "1"}
    try:
        async with request.app[SESSION_KEY].request(
                request.method, leader + request.path_qs, data=await request.read(), headers=headers,
                timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type or None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise errors.forwarding_failed(f"{leader}: {exc or type(exc).__name__}") from None


def enable(app: web.Application, election: LeaderElection, catch_up: Callable[[], Awaitable[None]]) -> None:
    """Send `app`'s writes to the leader `election` names; `catch_up` returns once this registry has
    read everything written so far."""
    app[ELECTION_KEY] = election
    app[CATCH_UP_KEY] = catch_up

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION_KEY] = aiohttp.ClientSession()
        yield
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(session)
