"""A broker's membership of a ZooKeeper cluster: registration, controller election, topic changes.

Every broker registers itself under /brokers/ids and watches /controller; whoever creates
/controller first runs the `Controller` until its session ends, then another broker takes over.
Topic creation, growth, deletion and config changes can start on any broker: they are written
to ZooKeeper, and the controller (creation, growth, deletion) or every broker (configs, through
/config/changes) acts on them, as in Kafka's ZooKeeper mode. The same notifications bring every
broker the SCRAM users and client quotas set on any of them, and /kafka-acl-changes their ACLs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Callable

from kazoo.exceptions import NodeExistsError
from kazoo.handlers.threading import KazooTimeoutError
from kproto.messages import ControlledShutdownRequest

from kbroker.cluster.acl_store import ZkAclStore
from kbroker.cluster.assignment import AssignmentError, assign_replicas
from kbroker.cluster.controller import Controller, RebalanceSettings
from kbroker.cluster.errors import ClusterJoinError
from kbroker.cluster.link import ControllerLink
from kbroker.cluster.quota_store import ZkQuotaStore
from kbroker.cluster.user_store import USERS, ZkScramStore
from kbroker.cluster.peer import PeerError
from kbroker.cluster.view import BrokerNode, ClusterView, PartitionView
from kbroker.cluster.notifications import ChangeListener
from kbroker.cluster.zk import CONFIG_CHANGE_PREFIX, CONFIG_CHANGES, TopicAssignment, ZkStore, config_change_entity
from kbroker.config import BrokerConfig
from kbroker.replication.manager import ReplicaHost, ReplicaManager
from kbroker.admin.quotas import Listener
from kbroker.security.inter_broker import peer_security

log = logging.getLogger("kbroker.cluster")
REPLICA_FETCH_KEYS = ("replica.fetch.max.bytes", "replica.fetch.response.max.bytes", "replica.fetch.wait.max.ms",
                      "replica.fetch.min.bytes", "replica.fetch.backoff.ms", "replica.socket.timeout.ms")
CONTROLLED_SHUTDOWN_VERSION = 3
REGISTRATION_RETRY = 0.2  # seconds between attempts while an earlier session's registration lingers


class ClusterMember:
    def __init__(self, config: BrokerConfig, node: ReplicaHost, unclean_election: Callable[[str], bool]) -> None:
        self.config = config
        self.node_id = config.node_id
        self.zk = ZkStore(config["zookeeper.connect"], config["zookeeper.session.timeout.ms"],
                          config["zookeeper.connection.timeout.ms"])
        self.zk.inter_broker_listener = config.inter_broker_listener or "PLAINTEXT"
        self.view = ClusterView()
        self.peer_security = peer_security(config)  # how this broker connects to the others
        self.link = ControllerLink(self.view, f"broker-{self.node_id}", self.peer_security)
        self.broker_epoch = -1
        self.cluster_id = ""  # set by connect()
        self.replicas = ReplicaManager(
            node, self.view, self.link, lag_time_max_ms=config["replica.lag.time.max.ms"],
            fetch_settings={key: config[key] for key in REPLICA_FETCH_KEYS}, broker_epoch=lambda: self.broker_epoch,
            security=self.peer_security)
        self.unclean_election = unclean_election
        self.controller: Controller | None = None
        # called with a topic whose overrides changed, and its overrides now
        self.on_config_change: list[Callable[[str, dict[str, str]], None]] = []
        self.config_changes = ChangeListener(self.zk.calls, CONFIG_CHANGES, CONFIG_CHANGE_PREFIX, self._config_changed,
                                             "config changes")
        self.acls: ZkAclStore | None = None  # the authorizer's store, when there is an authorizer
        self.scram: ZkScramStore | None = None
        self.quotas: ZkQuotaStore | None = None
        self._config_seen: set[str] | None = None  # the config changes older than the users read
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._registered = False  # in the current ZooKeeper session

    def connect(self, proposed_cluster_id: str) -> str:
        """Open the ZooKeeper session; returns the cluster id (this broker's proposal if it is the first)."""
        try:
            self.zk.start()
        except KazooTimeoutError:
            raise ClusterJoinError(f"cannot reach ZooKeeper at {self.config['zookeeper.connect']} "
                                   f"(zookeeper.connection.timeout.ms)") from None
        self.cluster_id = self.zk.cluster_id(proposed_cluster_id)
        return self.cluster_id

    def acl_store(self) -> ZkAclStore:
        """The cluster's ACLs, for the authorizer (blocking: before the broker serves)."""
        self.acls = ZkAclStore(self.zk.calls)
        return self.acls

    def scram_store(self) -> ZkScramStore:
        """The cluster's SCRAM users, read now (blocking: before the broker serves)."""
        self._mark_config_changes_seen()
        self.scram = ZkScramStore(self.zk.calls)
        return self.scram

    def quota_store(self, on_change: Listener) -> ZkQuotaStore:
        """The cluster's client quotas, read now (blocking: before the broker serves)."""
        self._mark_config_changes_seen()
        self.quotas = ZkQuotaStore(self.zk.calls, on_change)
        return self.quotas

    def _mark_config_changes_seen(self) -> None:
        """Before the first read of config entities: the notifications there now are in what is read."""
        if self._config_seen is None:
            self._config_seen = self.config_changes.existing()

    def _listeners(self) -> list[ChangeListener]:
        return [self.config_changes, *(self.acls.listeners if self.acls else ())]

    async def start(self, addresses: dict[str, tuple[str, int]]) -> None:
        """Register with the advertised address of every listener (by name), and take part."""
        self._loop = asyncio.get_running_loop()
        protocols = {e.name: e.protocol for e in self.config.endpoints}
        endpoints = {name: (protocols[name], host, port) for name, (host, port) in addresses.items()}
        self.zk.on_session_lost.append(lambda: self._loop.call_soon_threadsafe(self._session_lost))
        self.zk.on_new_session.append(lambda: self._loop.call_soon_threadsafe(
            lambda: self._loop.create_task(self._new_session(endpoints))))
        self.broker_epoch = await self._register(endpoints)
        self._registered = True
        self.config_changes.start(self._loop, self._config_seen if self._config_seen is not None
                                  else self.config_changes.existing())
        if self.acls is not None:
            for listener, seen in zip(self.acls.listeners, self.acls.seen_at_load):
                listener.start(self._loop, seen)
        self.replicas.start()
        self._elect()
        log.info("broker %d registered in ZooKeeper (broker epoch %d)", self.node_id, self.broker_epoch)

    async def _register(self, endpoints: dict[str, tuple[str, str, int]]) -> int:
        """Register, waiting out the registration of this broker's previous session (a restart
        after a crash) for up to the session timeout, as Kafka does."""
        deadline = time.monotonic() + self.config["zookeeper.session.timeout.ms"] / 1000 * 2
        while True:
            try:
                return self.zk.register_broker(self.node_id, endpoints, self.config["broker.rack"])
            except NodeExistsError:
                if time.monotonic() > deadline:
                    raise ClusterJoinError(f"broker.id {self.node_id} is registered in ZooKeeper by another "
                                           f"broker that is still alive") from None
                await asyncio.sleep(REGISTRATION_RETRY)

    def _session_lost(self) -> None:
        """The session expired: the cluster counts this broker as gone, and a controller it ran is
        no longer one (another broker may already have taken over)."""
        if self._stopping:
            return
        log.error("the ZooKeeper session of broker %d expired", self.node_id)
        self._registered = False  # until the new session has this broker's registration
        if self.controller is not None:
            self._loop.create_task(self.controller.stop())
            self.controller = None

    async def _new_session(self, endpoints: dict[str, tuple[str, str, int]]) -> None:
        """Register again in the new session and stand for controller, as Kafka does."""
        if self._stopping:
            return
        self.broker_epoch = await self._register(endpoints)
        self._registered = True
        log.info("broker %d registered again in a new ZooKeeper session (broker epoch %d)", self.node_id,
                 self.broker_epoch)
        for listener in self._listeners():  # the old session's watches are gone with it
            listener.poke()
        self._elect()

    async def stop(self) -> None:
        self._stopping = True
        if self.config["controlled.shutdown.enable"]:
            await self._controlled_shutdown()
        self.replicas.stop()
        if self.controller is not None:
            await self.controller.stop()
            self.zk.resign(self.node_id)
        self.link.close()
        for listener in self._listeners():
            listener.stop()
        await asyncio.to_thread(self.zk.stop)

    async def _controlled_shutdown(self) -> None:
        """Ask the controller to move leadership and ISR membership off this broker before it
        stops, retrying as Kafka does while partitions remain or the controller cannot be reached."""
        request = ControlledShutdownRequest(broker_id=self.node_id, broker_epoch=self.broker_epoch)
        backoff = self.config["controlled.shutdown.retry.backoff.ms"] / 1000
        for attempt in range(1, self.config["controlled.shutdown.max.retries"] + 1):
            try:
                response = await self.link.send(request, CONTROLLED_SHUTDOWN_VERSION)
            except PeerError as exc:
                log.warning("controlled shutdown attempt %d failed: %s", attempt, exc)
            else:
                if response.error_code == 0 and not response.remaining_partitions:
                    await self.replicas.wait_until_not_leading(backoff)
                    log.info("controlled shutdown of broker %d succeeded", self.node_id)
                    return
                log.warning("controlled shutdown attempt %d: error %d, %d partitions without another in-sync "
                            "replica", attempt, response.error_code, len(response.remaining_partitions))
            await asyncio.sleep(backoff)
        log.warning("broker %d stops without a complete controlled shutdown", self.node_id)

    # -- the controller

    def _elect(self) -> None:
        """Try for /controller now, and again whenever it is vacated; only while registered, as Kafka
        registers a broker before it stands."""
        if self.controller is not None or self._stopping or not self._registered:
            return
        epoch = self.zk.try_become_controller(self.node_id)
        if epoch is not None:
            self.controller = Controller(self.node_id, epoch, self.zk, self.unclean_election, RebalanceSettings(
                self.config["auto.leader.rebalance.enable"], self.config["leader.imbalance.check.interval.seconds"],
                self.config["leader.imbalance.per.broker.percentage"]), self.peer_security)
            self.controller.start()
        else:
            self.zk.controller_id(watch=self.zk.calls.watch(lambda: self._loop.call_soon_threadsafe(self._elect)))
            if self.zk.controller_id() == -1:  # vacated between the attempt and the watch
                self._loop.call_soon(self._elect)

    @property
    def is_controller(self) -> bool:
        return self.controller is not None

    # -- what the controller tells this broker

    def update_metadata(self, request: Any) -> None:
        brokers = []
        for b in request.live_brokers:
            endpoints = tuple((e.listener, e.host, e.port) for e in b.endpoints)
            inter = next((e for e in endpoints if e[0] == self.zk.inter_broker_listener), endpoints[0] if endpoints else None)
            if inter is not None:
                brokers.append(BrokerNode(b.id, inter[1], inter[2], b.rack, endpoints))
        partitions = [(topic.topic_name, topic.topic_id, p.partition_index,
                       PartitionView(p.leader, p.leader_epoch, list(p.isr), list(p.replicas), list(p.offline_replicas),
                                     p.zk_version))
                      for topic in request.topic_states for p in topic.partition_states]
        self.view.update(request.controller_id, request.controller_epoch, brokers, partitions)

    # -- topics, from any broker

    def create_topic(self, name: str, partitions: int, replication_factor: int, configs: dict[str, str],
                     assignments: dict[int, list[int]] | None, topic_id: uuid.UUID) -> str | None:
        """Write a new topic to ZooKeeper; returns why not (a message), or None."""
        live = sorted(self.zk.brokers())
        if assignments is None:
            try:
                assignments = assign_replicas(partitions, replication_factor, live)
            except AssignmentError as exc:
                return str(exc)
        elif any(b not in live for replicas in assignments.values() for b in replicas):
            return f"Unknown broker ids in the replica assignment: {sorted({b for r in assignments.values() for b in r} - set(live))}"
        if not self.zk.create_topic(name, TopicAssignment(topic_id, assignments), configs):
            return f"Topic '{name}' already exists."
        return None

    def live_broker_count(self) -> int:
        """Registered brokers, as ZooKeeper has them now (the view may not have heard yet)."""
        return len(self.zk.brokers())

    def add_partitions(self, name: str, count: int, assignments: list[list[int]] | None) -> str | None:
        current = self.zk.topic_assignment(name)
        if current is None:
            return f"The topic '{name}' does not exist."
        live = sorted(self.zk.brokers())
        factor = len(next(iter(current.partitions.values())))
        added = len(current.partitions)
        if assignments is None:
            try:
                new = assign_replicas(count - added, factor, live, first_partition=added)
            except AssignmentError as exc:
                return str(exc)
        else:
            new = {added + i: replicas for i, replicas in enumerate(assignments)}
        current.partitions.update(new)
        self.zk.set_topic_partitions(name, current)
        return None

    def delete_topic(self, name: str) -> None:
        self.zk.request_topic_deletion(name)

    def set_topic_config(self, name: str, configs: dict[str, str]) -> None:
        self.zk.set_topic_config(name, configs)

    def topic_config(self, name: str) -> dict[str, str]:
        return self.zk.topic_config(name)

    def _config_changed(self, data: bytes) -> Callable[[], None] | None:
        """On the listener's thread: read what a config change names, for the loop to take."""
        entity = config_change_entity(data)
        kind, _, name = entity.partition("/")
        if kind == "topics":
            configs = self.zk.topic_config(name)

            def topic_changed() -> None:
                for callback in self.on_config_change:
                    callback(name, configs)
            return topic_changed
        actions = [self.quotas.announced(entity) if self.quotas is not None else None]
        if kind == USERS and "/" not in name and self.scram is not None:  # not users/<u>/clients/<c> (quotas)
            actions.append(self.scram.announced(entity))
        actions = [action for action in actions if action is not None]
        if not actions:
            return None

        def entity_changed() -> None:
            for action in actions:
                action()
        return entity_changed
