"""Which registry process writes: the registries reading one broker join a group on it, and the
group's assignment names one of them leader, as Confluent's registries elect theirs. Only the
leader writes `_schemas`; the others forward writes to it over HTTP (http.py), so two processes
never hand out the same id or version.

The group is an ordinary consumer group (aiokafka's), subscribed to `_schemas` with no partitions
assigned: the assignment carries the leader's URL in its user data. Each member offers its own
URL in its join metadata; the member computing the assignment keeps the leader it chose before
while that one is still a member, and otherwise takes the lowest URL, so a leader stays leader
across rebalances and a new one is chosen when it leaves (its session times out or it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError

log = logging.getLogger("kbroker.registry")
GROUP = "schema-registry"  # Confluent's schema.registry.group.id default
# A member that stops heartbeating is replaced as leader after this long (Kafka's consumer default
# is 45 s; a registry whose leader died answers writes with errors until then, so keep it short).
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
# The group's own poll loop: nothing is ever assigned, the loop only tells aiokafka that the member
# is alive (aiokafka leaves the group of a consumer that stops polling).
POLL_MS = 1_000


class LeaderAssignor(AbstractPartitionAssignor):
    """Assigns no partitions; names the leader in every member's assignment."""

    name = "kbroker-registry-leader"
    version = 0

    def __init__(self, own_url: str, on_leader: Callable[[str | None], None]) -> None:
        self.own_url = own_url
        self.on_leader = on_leader
        self.chosen: str | None = None

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics), json.dumps({"url": self.own_url}).encode())

    def assign(self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
               ) -> dict[str, ConsumerProtocolMemberAssignment]:
        urls = {json.loads(meta.user_data or b"{}").get("url") for meta in members.values()} - {None}
        if self.chosen not in urls:
            self.chosen = min(urls) if urls else None
        user_data = json.dumps({"leader": self.chosen}).encode()
        return {member: ConsumerProtocolMemberAssignment(self.version, [], user_data) for member in members}

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        self.on_leader(json.loads(assignment.user_data or b"{}").get("leader"))


class _Forget(ConsumerRebalanceListener):
    """At the start of each rebalance: no leader until the new assignment names one, so writes wait
    for it rather than go to a registry that may have left."""

    def __init__(self, election: LeaderElection) -> None:
        self.election = election

    def on_partitions_revoked(self, revoked: object) -> None:
        self.election.forget()

    def on_partitions_assigned(self, assigned: object) -> None:
        pass


class LeaderElection:
    """This process's membership of the registries' group, and the leader it was last told of."""

    def __init__(self, bootstrap: str, topic: str, group: str = GROUP) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.own_url = ""
        self.leader_url: str | None = None
        self._known = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._poller: asyncio.Task[None] | None = None

    def _told(self, leader: str | None) -> None:
        if leader != self.leader_url:
            log.info("schema registry leader: %s%s", leader, " (this process)" if leader == self.own_url else "")
        self.leader_url = leader
        self._known.set()

    def forget(self) -> None:
        self.leader_url = None
        self._known.clear()

    async def start(self, own_url: str) -> None:
        """Join the group, offering `own_url` (where the others reach this registry) as leader."""
        self.own_url = own_url
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, client_id="kbroker-schema-registry",
            enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            partition_assignment_strategy=(LeaderAssignor(own_url, self._told),))
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=_Forget(self))
        self._poller = asyncio.create_task(self._poll(), name="schema-registry-group")

    async def _poll(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                await self._consumer.getmany(timeout_ms=POLL_MS)
            except KafkaError as exc:
                log.warning("the registries' group: %s", exc)
                await asyncio.sleep(POLL_MS / 1000)

    async def leader(self, timeout: float) -> str | None:
        """The leader's URL, waiting up to `timeout` seconds while none is known; None if none."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._known.wait(), timeout)
        return self.leader_url

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group: the others elect a new leader at once
