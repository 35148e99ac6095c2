"""KIP-848 heartbeat pacing: stable members keep the configured interval; a member whose
reconciliation is pending is asked back after its holder's expected heartbeat, or after a floor
that doubles until it is back at the configured interval."""

import asyncio

from kbroker.groups import GroupConfig, GroupCoordinator, MemoryGroupLog
from kbroker.groups.consumer_groups import Heartbeat
from kbroker.groups.pacing import PENDING_FLOOR_MS as FLOOR

INTERVAL = 5000


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def coordinator(now: list[int], interval_ms: int = INTERVAL) -> GroupCoordinator:
    config = GroupConfig(consumer_heartbeat_interval_ms=interval_ms, consumer_session_timeout_ms=60_000)
    return GroupCoordinator(config, MemoryGroupLog(), clock=lambda: now[0], topics=lambda: {"t": 6})


def join(coord, member: str):
    return coord.consumer.heartbeat(Heartbeat("g", member, 0, None, None, 60_000, ["t"], owned={}))


def beat(coord, member: str, epoch: int, owned=None):
    return coord.consumer.heartbeat(Heartbeat("g", member, epoch, owned=owned))


def test_a_newcomer_comes_back_just_after_the_holder_learns_to_revoke() -> None:
    async def main():
        now = [0]
        coord = coordinator(now)
        a = join(coord, "a")
        assert a.heartbeat_interval_ms == INTERVAL  # stable: a is due back at 5000
        now[0] = 1000
        b = join(coord, "b")
        assert b.assignment == {} and b.heartbeat_interval_ms == 5000 - 1000 + FLOOR
        now[0] = 5000
        told = beat(coord, "a", 1, owned=a.assignment)
        assert sum(map(len, told.assignment.values())) == 3 and told.heartbeat_interval_ms == FLOOR
        now[0] = 5000 + FLOOR
        early = beat(coord, "b", 2)  # a has not acknowledged yet: b backs off
        assert early.assignment is None and early.heartbeat_interval_ms == 2 * FLOOR
        now[0] += 5
        acked = beat(coord, "a", 1, owned=told.assignment)
        assert acked.member_epoch == 2 and acked.heartbeat_interval_ms == INTERVAL
        now[0] = 5000 + 3 * FLOOR
        done = beat(coord, "b", 2, owned={})
        assert sum(map(len, done.assignment.values())) == 3 and done.heartbeat_interval_ms == INTERVAL
        assert coord.consumer.groups["g"].state == "Stable"
        await coord.stop()
    run(main())


def test_waiting_on_a_silent_holder_backs_off_to_the_configured_interval() -> None:
    async def main():
        now = [0]
        coord = coordinator(now)
        join(coord, "a")
        now[0] = 6000  # a was due at 5000 and has not been heard from since
        intervals = [join(coord, "b").heartbeat_interval_ms] + [beat(coord, "b", 2).heartbeat_interval_ms
                                                                 for _ in range(9)]
        assert intervals == [min(FLOOR << n, INTERVAL) for n in range(10)] and intervals[-2:] == [INTERVAL] * 2
        await coord.stop()
    run(main())


def test_an_interval_shorter_than_the_floor_is_kept() -> None:
    async def main():
        now = [0]
        coord = coordinator(now, interval_ms=10)
        join(coord, "a")
        assert join(coord, "b").heartbeat_interval_ms == 10
        now[0] = 5
        assert beat(coord, "b", 2).heartbeat_interval_ms == 10
        await coord.stop()
    run(main())
