"""The broker: the node's state (topics, partition logs, producer ids, fetch sessions) and its parts.

`Broker` puts the parts together and implements the seams they reach it through: handlers see it
as a `kbroker.node.Node`, replication as a `ReplicaHost`, the coordinators' logs as an
`InternalTopicHost`, config changes as a `ConfigHost` (docs/architecture.md lists them). It
imports no handler and no socket code: the listeners are handed to `start`. It runs on one
asyncio event loop, so its state needs no locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from kproto import ErrorCode
from kproto.records.control import ControlType, build_end_txn_marker
from kproto.records.header import BatchHeader

from kbroker.admin.configs import DynamicBrokerConfigs, refresh_logs
from kbroker.admin.quotas import ClientQuotaTable, QuotaStore
from kbroker.cluster.topic_names import collision_key, topic_name_problem
from kbroker.cluster.errors import ClusterJoinError
from kbroker.cluster.topics import TopicInfo, TopicRegistry, random_topic_id
from kbroker.cluster.view import PartitionView
from kbroker.config import BrokerConfig, ConfigError
from kbroker.fetch_sessions import FetchSessionCache
from kbroker.groups import GroupCoordinator
from kbroker.groups.group_configs import GroupConfigStore
from kbroker.groups.storage import OFFSETS_TOPIC
from kbroker.log import LogConfig, LogManager, PartitionLog
from kbroker.log.flusher import FlushJob, Outcome
from kbroker.log.metadata import random_kafka_uuid, read_meta_properties, uuid_to_str
from kbroker.metrics import NO_METRICS, Metrics
from kbroker.security import authorizer_for
from kbroker.security.quotas import ClientQuotas
from kbroker.share import SharePartitions
from kbroker.share.coordinator import ShareCoordinator
from kbroker.share.state_log import STATE_TOPIC as SHARE_STATE_TOPIC, ShareStateLog
from kbroker.node import AppendOutcome
from kbroker.security.scram import ScramCredentials, ScramStore
from kbroker.txn.coordinator import TopicPartition, TransactionCoordinator
from kbroker.txn.markers import MarkerSender
from kbroker.txn.producer_ids import ProducerIdAllocator
from kbroker.txn.producer_state import AbortedTxn, ProducerStateError, ProducerStates
from kbroker.txn.state_log import STATE_TOPIC, TransactionStateLog
from kbroker.throttled_log import ThrottledWarning
from kbroker.txn.verification import NOT_IN_TRANSACTION, for_produce
from kbroker.validation import RecordError, validate_records

if TYPE_CHECKING:
    from kbroker.cluster.member import ClusterMember

log = logging.getLogger("kbroker")
COORDINATOR_EPOCH = 0  # this node has always been the transaction coordinator
# The replication factor of each internal topic in a cluster.
INTERNAL_REPLICATION_FACTOR = {OFFSETS_TOPIC: "offsets.topic.replication.factor",
                               "__transaction_state": "transaction.state.log.replication.factor",
                               SHARE_STATE_TOPIC: "share.coordinator.state.topic.replication.factor"}
# The broker key that sets an internal topic's min.insync.replicas (__consumer_offsets has none).
INTERNAL_MIN_ISR = {"__transaction_state": "transaction.state.log.min.isr",
                    SHARE_STATE_TOPIC: "share.coordinator.state.topic.min.isr"}
# Kafka's own overrides of internal topics beyond their cleanup policy and segment size.
INTERNAL_OVERRIDES = {OFFSETS_TOPIC: {"compression.type": "producer"},
                      "__transaction_state": {"compression.type": "uncompressed", "unclean.leader.election.enable": "false"},
                      SHARE_STATE_TOPIC: {"compression.type": "producer"}}


class NotLeaderError(Exception):
    """The broker was about to write to a partition it does not lead: only a leader appends."""


# A controller mutation quota's check of a change of so many partitions: NONE, or why it is refused.
Admit = Callable[[int], tuple[ErrorCode, str | None]]


def _refused(admit: Admit | None, partitions: int) -> tuple[ErrorCode, str | None] | None:
    """Why `admit` refuses a change of `partitions` partitions; None when it takes it (or there is none)."""
    if admit is None:
        return None
    outcome = admit(partitions)
    return outcome if outcome[0] != ErrorCode.NONE else None


class Listeners(Protocol):
    """Where clients connect (`kbroker.server.listeners`), opened and closed by the broker."""

    async def open(self) -> dict[str, int]:
        """Start accepting; the port each listener bound, by listener name."""

    async def close(self) -> None: ...

    def accept_rates(self) -> dict[str | None, float]:
        """Connections accepted a second, by listener (None: the broker's, as max.connection.creation.rate counts them)."""


class Broker:
    def __init__(self, config: BrokerConfig, metrics: Metrics = NO_METRICS) -> None:
        self.config = config
        self.metrics = metrics
        self.node_id: int = config.node_id
        data_dir = Path(config.log_dirs[0])
        data_dir.mkdir(parents=True, exist_ok=True)
        self.dynamic_configs = DynamicBrokerConfigs(data_dir, config)  # before logs: they read its values
        self.client_quotas = ClientQuotas(config["quota.window.num"], config["quota.window.size.seconds"],
                                          config["controller.quota.window.num"], config["controller.quota.window.size.seconds"])
        self.cluster = self._join_cluster(config, data_dir)
        self.quotas: ClientQuotaTable = (self.cluster.quota_store(self.client_quotas.update) if self.cluster
                                         else QuotaStore(data_dir, self.client_quotas.update))
        self.authorizer = authorizer_for(config, data_dir, self.cluster.acl_store if self.cluster else None)
        if self.cluster and self.cluster.acls and self.authorizer:  # other brokers' ACL changes
            self.cluster.acls.on_change.append(self.authorizer.resources_changed)
        self.scram: ScramCredentials = self.cluster.scram_store() if self.cluster else ScramStore(data_dir)
        self.logs = LogManager(
            [Path(d) for d in config.log_dirs], node_id=self.node_id,
            cluster_id=self.cluster.cluster_id if self.cluster else None,
            retention_check_interval_ms=config["log.retention.check.interval.ms"],
            offset_checkpoint_interval_ms=config["log.flush.offset.checkpoint.interval.ms"],
            high_watermark_checkpoint_interval_ms=config["replica.high.watermark.checkpoint.interval.ms"],
            cleaner_enable=config["log.cleaner.enable"], cleaner_backoff_ms=config["log.cleaner.backoff.ms"],
        )
        self.cluster_id: str = self.logs.cluster_id
        self.topics = TopicRegistry(data_dir)
        self.producer_ids = ProducerIdAllocator(data_dir)
        self._producer_states: weakref.WeakKeyDictionary[PartitionLog, ProducerStates] = weakref.WeakKeyDictionary()
        self._next_run: dict[str, float] = {}  # interval config name -> when its maintenance job runs next
        self.txn_log = TransactionStateLog(self)
        self.transactions = TransactionCoordinator(self.producer_ids.allocate, self.write_txn_markers,
                                                   self.txn_log.write, self.txn_log.remove, self.offsets_partition,
                                                   config["transaction.max.timeout.ms"],
                                                   self.txn_log.partition_of if self.cluster else None)
        self.marker_sender = MarkerSender(self.node_id, self.leader_address, self.write_txn_marker,
                                          self.partition_exists, self.cluster.peer_security if self.cluster else None)
        self.fetch_sessions = FetchSessionCache(config["max.incremental.fetch.session.cache.slots"])
        self.connections: set[Any] = set()  # client connections open now, kept by the listeners
        self.listen_host = config.listener[0]
        self.listen_ports: dict[str, int] = {name: port for name, _, port in config.listeners}  # bound ones once open
        self.listeners: Listeners | None = None
        self._waiters: dict[tuple[str, int], list[asyncio.Future]] = {}
        self._flush_waiters: dict[FlushJob, list[asyncio.Future]] = {}  # flush.messages answers waiting
        self.wakeups = 0
        self._background: list[asyncio.Task] = []
        self._create_warning = ThrottledWarning(log)  # storage failures, one line per interval and kind
        self._append_warning = ThrottledWarning(log)
        if self.cluster is None:  # a single node leads every partition (each opened on first use); in a
            for info in self.topics:  # cluster the controller says which
                overrides = self.topic_config(info.name)
                for index in range(info.partitions):
                    self.logs.defer(info.name, index, info.topic_id, overrides)
        self.group_configs = GroupConfigStore(data_dir, config) if self.cluster is None else None
        settings = self.group_configs.settings if self.group_configs is not None else None
        self.groups = GroupCoordinator.for_broker(self, clustered=self.cluster is not None, settings=settings)
        self.share_coordinator = ShareCoordinator(ShareStateLog(self), self._partition_count,
                                                  config["share.coordinator.snapshot.update.records.per.snapshot"],
                                                  clustered=self.cluster is not None)
        self.shares = SharePartitions(self.groups.share.config, self.groups.settings,
                                      self.share_coordinator if self.cluster is None else None,
                                      groups=self.groups.share)
        if self.cluster is None:  # in a cluster, each state partition's leader loads it
            self.transactions.load(self.txn_log.load())
            self.share_coordinator.load()

    def _join_cluster(self, config: BrokerConfig, data_dir: Path) -> ClusterMember | None:
        """With `zookeeper.connect`, this broker is one of a cluster: connect to ZooKeeper now, as
        the cluster id it keeps there names the log dirs."""
        if not config["zookeeper.connect"]:
            return None
        try:
            from kbroker.cluster.member import ClusterMember
        except ImportError as exc:
            raise ClusterJoinError(f"zookeeper.connect needs the cluster extra (pip install 'kbroker[cluster]'): "
                                   f"{exc}") from None
        member = ClusterMember(config, self, self._unclean_election)
        meta = read_meta_properties(data_dir)
        member.connect(meta.cluster_id if meta and meta.cluster_id else random_cluster_id())
        member.on_config_change.append(self._topic_config_changed)
        return member

    def _unclean_election(self, topic: str) -> bool:
        overrides = self.cluster.topic_config(topic) if self.cluster else {}
        return self.config.topic_config(overrides)["unclean.leader.election.enable"]

    # -- addresses

    @property
    def listen_port(self) -> int:
        """The port of the first listener (the one bound, once open)."""
        return self.listen_ports[self.config.listeners[0][0]]

    @property
    def advertised_address(self) -> tuple[str, int]:
        """(host, port) advertised for the first listener."""
        return self.advertised_for(None)

    def advertised_for(self, listener: str | None) -> tuple[str, int]:
        """(host, port) clients of `listener` (None: the first one) are told to reach this broker at."""
        name = listener or self.config.listeners[0][0]
        host, port = self.config.advertised_endpoint(name)
        return host, (port or self.listen_ports[name])

    def advertised_endpoints(self) -> dict[str, tuple[str, int]]:
        """Listener name -> advertised (host, port), every listener: what a cluster broker registers."""
        return {name: self.advertised_for(name) for name, _, _ in self.config.listeners}

    def live_brokers(self, listener: str | None = None) -> list[tuple[int, str, int, str | None]]:
        """(id, host, port, rack) of every live broker with an endpoint on `listener` (None: the first
        listener): this one alone on a single node. Clients are given the addresses of the listener
        they came in on, as Kafka gives them."""
        if self.cluster is not None and self.cluster.view.brokers:
            found = []
            for b in sorted(self.cluster.view.brokers.values(), key=lambda b: b.node_id):
                address = b.address(listener)
                if address is not None:
                    found.append((b.node_id, *address, b.rack))
            return found
        return [(self.node_id, *self.advertised_for(listener), self.config["broker.rack"])]

    def partition_exists(self, topic: str, partition: int) -> bool:
        info = self.topics.get(topic)
        return info is not None and partition < info.partitions

    def leader_address(self, topic: str, partition: int, listener: str | None = None) -> tuple[int, str, int] | None:
        """(id, host, port) of the partition's leader on `listener`; None while it has none."""
        if self.cluster is None:
            return (self.node_id, *self.advertised_for(listener))
        node = self.cluster.view.leader_node(topic, partition)
        address = node.address(listener) if node else None
        return (node.node_id, *address) if address else None

    def describe_partition(self, topic: str, partition: int) -> PartitionView | None:
        """Leader, epoch, replicas, ISR and offline replicas, as Metadata and
        DescribeTopicPartitions show them; None for a partition not (yet) known."""
        if self.cluster is not None:
            return self.cluster.view.partition(topic, partition)
        return PartitionView(self.node_id, self.leader_epoch(topic, partition), [self.node_id], [self.node_id])

    def describe_partitions(self, topic: str, count: int) -> list[PartitionView | None]:
        """`describe_partition` of partitions 0..count-1 at once, for answers about thousands."""
        if self.cluster is not None:
            view = self.cluster.view.topics.get(topic)
            return [view.partitions.get(i) for i in range(count)] if view else [None] * count
        nodes = [self.node_id]  # shared: the answers only read it
        return [PartitionView(self.node_id, epoch, nodes, nodes) for epoch in self.logs.leader_epochs(topic, count)]

    def leader_alive(self, state: PartitionView) -> bool:
        return self.cluster is None or state.leader in self.cluster.view.brokers

    def current_leader(self, topic: str, partition: int) -> tuple[int, int]:
        """(leader id, leader epoch) of the partition as this broker knows it, (-1, -1) if unknown:
        what KIP-951 answers carry so that a client moves to the new leader at once."""
        if self.cluster is None:
            epoch = self.logs.leader_epoch(topic, partition)
            return (self.node_id, epoch) if epoch >= 0 else (-1, -1)
        state = self.cluster.view.partition(topic, partition)
        return (state.leader, state.leader_epoch) if state else (-1, -1)

    def endpoints(self, broker_ids: Iterable[int], listener: str | None = None) -> list[tuple[int, str, int, str | None]]:
        """(id, host, port, rack) on `listener` of the live brokers among `broker_ids`."""
        wanted = set(broker_ids)
        return [b for b in self.live_brokers(listener) if b[0] in wanted]

    @property
    def controller_id(self) -> int:
        if self.cluster is not None:
            return self.cluster.view.controller_id
        return self.node_id

    # -- lifecycle

    async def start(self, listeners: Listeners) -> None:
        """Load the coordinators, then open `listeners` to clients; in a cluster, register with the
        address clients were told."""
        loop = asyncio.get_running_loop()

        def to_loop(job: FlushJob) -> None:
            try:
                loop.call_soon_threadsafe(self._flushed, job)
            except RuntimeError:  # the loop has closed: no answer waits any more
                pass

        self.logs.on_flushed(to_loop)
        await self.groups.start()
        self.listeners = listeners
        self.listen_ports = await listeners.open()
        self._background.append(asyncio.get_running_loop().create_task(self._housekeeping()))
        if self.cluster is not None:
            await self.cluster.start(self.advertised_endpoints())
        log.info("kbroker ready on %s:%d (node %d, cluster %s, data in %s)",
                 self.listen_host, self.listen_port, self.node_id, self.cluster_id, self.config.log_dirs[0])

    async def stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()
        for task in self._background:
            task.cancel()
        if self.listeners is not None:
            await self.listeners.close()
        await self.groups.stop()
        self.shares.close()
        self.marker_sender.close()
        for plog, states in list(self._producer_states.items()):
            plog.flush()
            states.write_snapshot(plog)
        self.logs.close()
        log.info("kbroker stopped")

    async def _housekeeping(self) -> None:
        """Retention, time-based flushes and checkpoints, on Kafka's check intervals."""
        interval = min(self.config["log.retention.check.interval.ms"], self.config["log.flush.scheduler.interval.ms"],
                       1000) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                self.logs.maintenance()
                self._expire_producers()
                self._abort_timed_out_transactions()
                self._expire_transactional_ids()
            except Exception:
                log.exception("log maintenance failed")

    def _due(self, interval_key: str, now: float) -> bool:
        """Whether the maintenance job paced by the config `interval_key` runs now; if so, it runs
        next one interval later."""
        if now < self._next_run.get(interval_key, 0.0):
            return False
        self._next_run[interval_key] = now + self.config[interval_key]
        return True

    def _abort_timed_out_transactions(self) -> None:
        now = time.time() * 1000
        if not self._due("transaction.abort.timed.out.transaction.cleanup.interval.ms", now):
            return
        for transactional_id in self.transactions.abort_timed_out(int(now)):
            log.info("aborted transaction %s: it outlived its transaction.timeout.ms", transactional_id)

    def _expire_transactional_ids(self) -> None:
        now = time.time() * 1000
        if not self._due("transaction.remove.expired.transaction.cleanup.interval.ms", now):
            return
        for transactional_id in self.transactions.expire_transactional_ids(
                self.config["transactional.id.expiration.ms"], int(now)):
            log.info("expired transactional id %s: unused for transactional.id.expiration.ms", transactional_id)

    def _expire_producers(self) -> None:
        """Drop idle producers' sequence state, every `producer.id.expiration.check.interval.ms`."""
        now = time.time() * 1000
        if not self._due("producer.id.expiration.check.interval.ms", now):
            return
        for states in self._producer_states.values():
            states.expire(now, self.config["producer.id.expiration.ms"])

    # -- topics

    def topic_config(self, name: str) -> dict[str, Any]:
        info = self.topics.get(name)
        return self.config.topic_config(info.configs if info else {})

    def describe_topic_configs(self, name: str) -> list:
        info = self.topics.get(name)
        return self.config.describe_topic(info.configs if info else {})

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        info = self.topics.by_id(topic_id)
        return info.name if info else None

    def _partition_count(self, topic_id: uuid.UUID) -> int | None:
        info = self.topics.by_id(topic_id)
        return info.partitions if info else None

    def default_partitions(self, requested: int, assignments: dict[int, list[int]] | None) -> int:
        if assignments:
            return len(assignments)
        return self.config["num.partitions"] if requested == -1 else requested

    def create_topic(self, name: str, partitions: int, replication_factor: int, configs: dict[str, str | None],
                     assignments: dict[int, list[int]] | None = None,
                     validate_only: bool = False, admit: Admit | None = None) -> tuple[ErrorCode, str | None]:
        """Create a topic as Kafka's controller would, or say why not; `admit` (a controller
        mutation quota) counts its partitions once it is known to be valid, or refuses it."""
        problem = topic_name_problem(name)
        if problem:
            return ErrorCode.INVALID_TOPIC_EXCEPTION, problem
        if self.topics.get(name) is not None:
            return ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."
        clash = next((t.name for t in self.topics if collision_key(t.name) == collision_key(name)), None)
        if clash:
            return ErrorCode.INVALID_TOPIC_EXCEPTION, (
                f"Topic '{name}' collides with existing topic: {clash}")
        if assignments and (partitions != -1 or replication_factor != -1):
            return ErrorCode.INVALID_REQUEST, (
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
        if assignments:
            if sorted(assignments) != list(range(len(assignments))):
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Partitions must be numbered consecutively from 0."
            bad = [b for ids in assignments.values() for b in ids if b != self.node_id]
            if (bad and self.cluster is None) or any(not ids for ids in assignments.values()):
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"Unknown broker ids in the replica assignment: {bad}"
            if any(len(set(ids)) != len(ids) for ids in assignments.values()):
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Duplicate brokers in a partition's replica assignment."
            replication_factor = len(next(iter(assignments.values())))
        count = self.default_partitions(partitions, assignments)
        factor = self.config["default.replication.factor"] if replication_factor == -1 else replication_factor
        if count <= 0:
            return ErrorCode.INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value."
        if factor <= 0:
            return ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0, or -1 to use the default value."
        if factor > 1 and self.cluster is None:
            return ErrorCode.INVALID_REPLICATION_FACTOR, (
                f"Unable to replicate the partition {factor} time(s): The target replication factor of {factor} "
                "cannot be reached because only 1 broker(s) are registered.")
        overrides = {k: v for k, v in configs.items() if v is not None}
        try:
            self.config.validate_topic_overrides(overrides)
        except ConfigError as exc:
            return ErrorCode.INVALID_CONFIG, str(exc)
        if self.cluster is not None:
            return self._create_cluster_topic(name, count, factor, overrides, assignments, validate_only, admit)
        if validate_only:
            return ErrorCode.NONE, None
        if refused := _refused(admit, count):
            return refused
        topic_id = random_topic_id()
        error, message = self._add_partitions(name, range(count), topic_id, self.config.topic_config(overrides),
                                              lambda: self.topics.create(name, count, overrides, topic_id))
        if error == ErrorCode.NONE:
            log.info("created topic %s with %d partitions", name, count)
        return error, message

    def _add_partitions(self, name: str, indexes: range, topic_id: uuid.UUID, config: dict[str, Any],
                        register: Callable[[], object]) -> tuple[ErrorCode, str | None]:
        """Open the logs of new partitions, then `register` them. Out of descriptors or disk, remove
        whatever was opened and fail the request as Kafka answers an unexpected error, with one
        warning per interval rather than one per retry."""
        settings = LogConfig.from_mapping(config)  # once, not for each partition
        try:
            for index in indexes:
                self.logs.open(name, index, topic_id, settings)
            register()
        except OSError as exc:
            for index in indexes:
                self.logs.delete(name, index, durable=False)
            self._create_warning.warn("cannot create partitions of %s: %s", name, exc)
            return ErrorCode.UNKNOWN_SERVER_ERROR, f"Cannot create partitions of {name}: {exc.strerror or exc}"
        return ErrorCode.NONE, None

    def _create_cluster_topic(self, name: str, count: int, factor: int, overrides: dict[str, str],
                              assignments: dict[int, list[int]] | None,
                              validate_only: bool, admit: Admit | None) -> tuple[ErrorCode, str | None]:
        """Write the topic to ZooKeeper for the controller; the topic is known here at once, and its
        partitions as the controller's LeaderAndIsr and UpdateMetadata arrive."""
        live = self.cluster.live_broker_count()
        if assignments is None and factor > live:
            return ErrorCode.INVALID_REPLICATION_FACTOR, (
                f"Unable to replicate the partition {factor} time(s): The target replication factor of {factor} "
                f"cannot be reached because only {live} broker(s) are registered.")
        if validate_only:
            return ErrorCode.NONE, None
        if refused := _refused(admit, count):
            return refused
        topic_id = random_topic_id()
        problem = self.cluster.create_topic(name, count, factor, overrides, assignments, topic_id)
        if problem is not None:
            error = ErrorCode.TOPIC_ALREADY_EXISTS if "already exists" in problem else ErrorCode.INVALID_REPLICATION_FACTOR \
                if "replication factor" in problem else ErrorCode.INVALID_REPLICA_ASSIGNMENT
            return error, problem
        self.topics.create(name, count, overrides, topic_id)
        log.info("created topic %s with %d partitions and replication factor %d", name, count, factor)
        return ErrorCode.NONE, None

    def create_partitions(self, name: str, count: int, assignments: list[list[int]] | None,
                          validate_only: bool, admit: Admit | None = None) -> tuple[ErrorCode, str | None]:
        """Grow a topic to `count` partitions (Kafka never shrinks one), `admit` counting the ones added."""
        info = self.topics.get(name)
        if info is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
        if count <= info.partitions:
            return ErrorCode.INVALID_PARTITIONS, (
                f"Topic currently has {info.partitions} partitions, which is higher than the requested {count}.")
        if assignments is not None:
            if len(assignments) != count - info.partitions:
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, (
                    f"Attempted to add {count - info.partitions} additional partition(s), but only "
                    f"{len(assignments)} assignment(s) were specified.")
            if self.cluster is None and any(ids != [self.node_id] for ids in assignments):
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Unknown broker ids in the replica assignment."
        if validate_only:
            return ErrorCode.NONE, None
        if refused := _refused(admit, count - info.partitions):
            return refused
        if self.cluster is not None:
            problem = self.cluster.add_partitions(name, count, assignments)
            if problem is not None:
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, problem
            self.topics.set_partitions(name, count)
            return ErrorCode.NONE, None
        return self._add_partitions(name, range(info.partitions, count), info.topic_id, self.topic_config(name),
                                    lambda: self.topics.set_partitions(name, count))

    def internal_topic_partitions(self, name: str, partitions: int, segment_bytes: int) -> int:
        """Partition count of a compacted internal topic, created on first use as Kafka does.

        In a cluster the creation may have to wait (fewer live brokers than its replication
        factor, or created elsewhere and not announced here yet); the configured count holds
        meanwhile, and the coordinator is not available until the partitions have leaders."""
        info = self.topics.get(name)
        if info is None:
            factor = 1 if self.cluster is None else self.config[INTERNAL_REPLICATION_FACTOR[name]]
            overrides = {"cleanup.policy": "compact", "segment.bytes": str(segment_bytes), **INTERNAL_OVERRIDES[name]}
            if name in INTERNAL_MIN_ISR:
                overrides["min.insync.replicas"] = str(self.config[INTERNAL_MIN_ISR[name]])
            error, message = self.create_topic(name, partitions, factor, overrides)
            if message and self.cluster is None:
                raise RuntimeError(f"cannot create {name}: {error.name}: {message}")
            if message and error != ErrorCode.TOPIC_ALREADY_EXISTS:
                log.warning("cannot create %s yet: %s", name, message)
            info = self.topics.get(name)
        return info.partitions if info is not None else partitions

    def delete_topic(self, name: str, admit: Admit | None = None) -> tuple[ErrorCode, str | None]:
        if not self.config["delete.topic.enable"]:
            return ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled."
        if refused := _refused(admit, self.topics.get(name).partitions):
            return refused
        if self.cluster is not None:  # the controller stops and deletes every replica
            self.cluster.delete_topic(name)
            return ErrorCode.NONE, None
        info = self.topics.delete(name)
        self.logs.delete_all(name, range(info.partitions))
        log.info("deleted topic %s", name)
        return ErrorCode.NONE, None

    def set_topic_configs(self, name: str, overrides: dict[str, str]) -> None:
        """New topic-level overrides; in a cluster they go to ZooKeeper for every broker."""
        self.topics.set_configs(name, overrides)
        if self.cluster is not None:
            self.cluster.set_topic_config(name, overrides)
        refresh_logs(self, [name])

    def _topic_config_changed(self, name: str, configs: dict[str, str]) -> None:
        """Another broker changed a topic's overrides (ZooKeeper's /config/changes)."""
        if self.topics.get(name) is not None:
            self.topics.set_configs(name, configs)
            refresh_logs(self, [name])

    def sync_topics(self) -> None:
        """Bring the topic registry in line with the cluster view after an UpdateMetadata."""
        view = self.cluster.view
        for name, topic in view.topics.items():
            info = self.topics.get(name)
            count = max(topic.partitions) + 1 if topic.partitions else 0
            if info is None or info.topic_id != topic.topic_id:
                if info is not None:
                    self.topics.delete(name)
                self.topics.create(name, count, self.cluster.topic_config(name), topic.topic_id)
            elif info.partitions < count:
                self.topics.set_partitions(name, count)
        for info in list(self.topics):
            if info.name not in view.topics and not self._recently_created(info.name):
                self.topics.delete(info.name)

    def _recently_created(self, name: str) -> bool:
        """A topic this broker wrote to ZooKeeper whose partitions the controller has not announced yet."""
        return name in self.cluster.zk.topic_names() and name not in self.cluster.zk.topics_to_delete()

    # -- what replication asks of the node

    def open_replica_log(self, topic: str, partition: int, topic_id: uuid.UUID) -> PartitionLog:
        if self.topics.get(topic) is None:
            self.topics.create(topic, partition + 1, self.cluster.topic_config(topic), topic_id)
        return self.logs.open(topic, partition, topic_id, self.topic_config(topic), lead=False)

    def delete_replica_logs(self, topic: str, partitions: list[int]) -> None:
        self.logs.delete_all(topic, partitions)

    def wake(self, topic: str, partition: int) -> None:
        self._wake(topic, partition)

    def leadership_changed(self, topic: str, partition: int, is_leader: bool) -> None:
        """A new leader rebuilds the partition's producer state from its log, as replicated (from the
        last snapshot, which a follower keeps writing); a follower loads it now and keeps it current
        as it appends. The leader of a coordinator's partition serves its groups or transactions."""
        plog = self.logs.get(topic, partition)
        if plog is not None:
            self._forget_producer_states(plog)
            if not is_leader:
                self.producer_states(plog)
        if topic == OFFSETS_TOPIC:
            (self.groups.elected if is_leader else self.groups.resigned)(partition)
        elif topic == STATE_TOPIC and is_leader:
            self.transactions.elected(partition, self.txn_log.load(partition))
        elif topic == STATE_TOPIC:
            self.transactions.resigned(partition)
        elif topic == SHARE_STATE_TOPIC:
            (self.share_coordinator.elected if is_leader else self.share_coordinator.resigned)(partition)

    def replicated(self, plog: PartitionLog, records: memoryview) -> None:
        """A follower appended its leader's batches: its producer state (and transaction index)
        follows, so its snapshots are the leader's."""
        states = self._producer_states.get(plog)
        if states is not None:
            states.record(plog, records)

    def truncated(self, plog: PartitionLog) -> None:
        """A follower cut its log: its producer state is read again from what remains."""
        self._forget_producer_states(plog)
        self.producer_states(plog)

    def _forget_producer_states(self, plog: PartitionLog) -> None:
        states = self._producer_states.pop(plog, None)
        if states is not None and states.snapshot_at_roll in plog.on_roll:
            plog.on_roll.remove(states.snapshot_at_roll)

    # -- partitions

    def partition_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get(topic, partition)

    def leader_epoch(self, topic: str, partition: int) -> int:
        """The epoch this node leads the partition in; -1 for a partition it does not have."""
        if self.cluster is not None:
            state = self.cluster.view.partition(topic, partition)
            return state.leader_epoch if state else -1
        return self.logs.leader_epoch(topic, partition)

    def producer_states(self, plog: PartitionLog) -> ProducerStates:
        """The partition's producer state, rebuilt from snapshot and log the first time it is needed."""
        states = self._producer_states.get(plog)
        if states is None:
            states = self._producer_states[plog] = ProducerStates(plog.directory, str(plog))
            states.load(plog, self.config["producer.id.expiration.ms"], time.time() * 1000)
            plog.on_roll.append(states.snapshot_at_roll)  # a snapshot per segment, as Kafka writes them
        return states

    def last_stable_offset(self, plog: PartitionLog) -> int:
        """Where read_committed consumers stop: the start of the oldest open transaction."""
        return min(self.producer_states(plog).last_stable_offset(plog.high_watermark), plog.high_watermark)

    def aborted_transactions(self, plog: PartitionLog, start: int, upper: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [start, upper), for read_committed fetches."""
        return self.producer_states(plog).aborted_between(start, upper)

    def write_txn_markers(self, transactional_id: str, partitions: Iterable[TopicPartition], producer_id: int,
                          epoch: int, commit: bool) -> asyncio.Future | None:
        """The coordinator ends a transaction on each of its partitions: at once on a single node;
        in a cluster through each partition's leader, with the state partition's leader epoch as
        the coordinator epoch (a future of every marker written)."""
        if self.cluster is not None:
            coordinator_epoch = self.leader_epoch(STATE_TOPIC, self.txn_log.partition_of(transactional_id))
            return self.marker_sender.send(partitions, producer_id, epoch, commit, coordinator_epoch)
        for topic, partition in partitions:
            error = self.write_txn_marker(topic, partition, producer_id, epoch, commit, COORDINATOR_EPOCH)
            if error not in (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):  # unknown: deleted since
                log.warning("no %s marker for producer %d in %s-%d: %s", "COMMIT" if commit else "ABORT",
                            producer_id, topic, partition, error.name)
        return None

    def write_txn_marker(self, topic: str, partition: int, producer_id: int, epoch: int, commit: bool,
                         coordinator_epoch: int) -> ErrorCode:
        """End a transaction in a partition with a COMMIT or ABORT control batch, unless it comes from
        an older producer epoch or coordinator; in a `__consumer_offsets` partition the marker also
        settles the offsets sent in the transaction."""
        plog = self.logs.get(topic, partition)
        if plog is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        error = self.serving_error(topic, partition)
        if error != ErrorCode.NONE:
            return error
        states = self.producer_states(plog)
        try:
            states.check_marker(producer_id, epoch, coordinator_epoch)
        except ProducerStateError as exc:
            return exc.error
        kind = ControlType.COMMIT if commit else ControlType.ABORT
        marker = bytearray(build_end_txn_marker(kind, producer_id=producer_id, producer_epoch=epoch,
                                                coordinator_epoch=coordinator_epoch, timestamp=int(time.time() * 1000)))
        self.append_internal(topic, partition, marker)
        states.record(plog, marker)
        if topic == OFFSETS_TOPIC:
            self.groups.complete_transaction(producer_id, commit, partition)
        return ErrorCode.NONE

    def append_internal(self, topic: str, partition: int, batch: bytearray) -> int:
        """Append a batch this broker wrote itself (coordinator records, transaction markers) as the
        partition's leader, waking fetches as any append does; its base offset."""
        error = self.serving_error(topic, partition)
        if error != ErrorCode.NONE:
            raise NotLeaderError(f"{topic}-{partition}: {error.name}")
        base_offset = self.logs.get(topic, partition).append(batch)
        self._wake(topic, partition)
        if self.cluster is not None:
            self.cluster.replicas.appended(topic, partition)
        return base_offset

    def offsets_partition(self, group_id: str) -> TopicPartition:
        """The group's `__consumer_offsets` partition, where its transactional offsets are written."""
        return OFFSETS_TOPIC, self.groups.offsets_partition(group_id)

    def leader_log(self, topic: str, partition: int) -> tuple[PartitionLog | None, ErrorCode]:
        """The partition's log where this broker serves clients for it (it leads it), else None
        and Kafka's error: NOT_LEADER_OR_FOLLOWER on a follower, UNKNOWN_TOPIC_OR_PARTITION."""
        error = self.serving_error(topic, partition)
        return (self.logs.get(topic, partition), error) if error == ErrorCode.NONE else (None, error)

    def serving_error(self, topic: str, partition: int) -> ErrorCode:
        """NONE when this broker serves clients for the partition (it leads it); else why not."""
        if self.cluster is not None:
            return self.cluster.replicas.leader_error(topic, partition)
        return ErrorCode.NONE if self.logs.get(topic, partition) is not None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    def append(self, topic: str, partition: int, records: bytes | memoryview | None, produce_version: int,
               transactional_id: str | None = None, acks: int = 1) -> AppendOutcome:
        info: TopicInfo | None = self.topics.get(topic)
        plog = self.logs.get(topic, partition) if info else None
        if info is not None and self.cluster is not None:
            error = self.cluster.replicas.leader_error(topic, partition)
        else:  # one log lookup on a single node's produce path, not two
            error = ErrorCode.NONE if plog is not None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if error != ErrorCode.NONE:
            return AppendOutcome(error, message="This server is not the leader for that topic-partition."
                                 if error == ErrorCode.NOT_LEADER_OR_FOLLOWER else
                                 "This server does not host this topic-partition.")
        if acks == -1 and self.cluster is not None:
            in_sync, needed = self.cluster.replicas.in_sync_count(topic, partition), plog.config.min_insync_replicas
            if in_sync < needed:
                return AppendOutcome(ErrorCode.NOT_ENOUGH_REPLICAS, log_start_offset=plog.log_start_offset, message=(
                    f"The size of the current ISR {in_sync} is insufficient to satisfy the min.isr requirement "
                    f"of {needed} for partition {topic}-{partition}"))
        if info.internal:
            return AppendOutcome(ErrorCode.INVALID_TOPIC_EXCEPTION, message=f"Cannot append to internal topic {topic}")
        try:
            buf, count, append_time = validate_records(records, plog.config, produce_version)
        except RecordError as exc:
            return AppendOutcome(exc.error, log_start_offset=plog.log_start_offset, message=str(exc),
                                 record_errors=tuple(exc.record_errors))
        producers = self.producer_states(plog)
        try:
            duplicate = producers.check(buf, lambda header: self._verify_transactional(
                topic, partition, header, transactional_id, produce_version))
        except ProducerStateError as exc:
            return AppendOutcome(exc.error, log_start_offset=plog.log_start_offset, message=exc.client_message)
        if duplicate is not None and plog.storage_error is not None:  # the first may not be on disk
            return AppendOutcome(ErrorCode.KAFKA_STORAGE_ERROR, log_start_offset=plog.log_start_offset,
                                 message=f"Cannot append to {topic}-{partition}: a flush of it failed")
        if duplicate is not None:  # a retry: answered as Kafka does, with the first append's offset,
            # once the first append's flush.messages flush, if still pending (or put off), is done
            return AppendOutcome(ErrorCode.NONE, duplicate.first_offset, -1, plog.log_start_offset,
                                 durable=self._once_flushed(plog.flush_again(), acks))
        try:
            base_offset = plog.append(buf, defer_flush=True)  # its answer waits for a flush.messages flush
        except OSError as exc:  # out of descriptors or disk: Kafka's answer for a failed log write
            self._append_warning.warn("cannot append to %s-%d: %s", topic, partition, exc)
            return AppendOutcome(ErrorCode.KAFKA_STORAGE_ERROR, log_start_offset=plog.log_start_offset,
                                 message=f"Cannot append to {topic}-{partition}: {exc.strerror or exc}")
        producers.record(plog, buf)
        self.metrics.appended(topic, count, len(records))  # the bytes sent, as Kafka's BytesInPerSec counts them
        self._wake(topic, partition)
        if self.cluster is not None:
            self.cluster.replicas.appended(topic, partition)
        return AppendOutcome(ErrorCode.NONE, base_offset, append_time, plog.log_start_offset,
                             end_offset=plog.log_end_offset, durable=self._once_flushed(plog.awaited_flush, acks))

    def _once_flushed(self, job: FlushJob | None, acks: int) -> asyncio.Future | None:
        """A future of the error code `_flushed` gives once `job` has run, for an answer that waits
        for it; None without a job (or without an answer, acks=0)."""
        if job is None or acks == 0:
            return None
        future = asyncio.get_running_loop().create_future()
        self._flush_waiters.setdefault(job, []).append(future)
        return future

    def _flushed(self, job: FlushJob) -> None:
        """A `flush.messages` flush has run: its log takes it (the high watermark may move, so
        fetches wake) and the appends waiting on it are answered, KAFKA_STORAGE_ERROR if it failed."""
        plog: PartitionLog = job.owner
        plog.take_flush_jobs()
        self._wake(plog.topic, plog.partition)
        if self.cluster is not None:  # a leader's high watermark may now count what the flush covered
            self.cluster.replicas.appended(plog.topic, plog.partition)
        # After any failed fsync of the log, a later one that succeeds proves nothing: the pages
        # the failed one was writing may be gone.
        durable = job.outcome is Outcome.DONE and plog.storage_error is None
        error = ErrorCode.NONE if durable else ErrorCode.KAFKA_STORAGE_ERROR
        for future in self._flush_waiters.pop(job, ()):
            if not future.done():
                future.set_result(error)

    def replication_waiter(self, topic: str, partition: int, end_offset: int) -> asyncio.Future | None:
        """In a cluster, a future of the acks=all answer for an append that ended at `end_offset`;
        None on a single node, whose appends are complete at once."""
        if self.cluster is None:
            return None
        plog = self.logs.get(topic, partition)
        return self.cluster.replicas.wait_for_replication(topic, partition, end_offset,
                                                          plog.config.min_insync_replicas if plog else 1)

    def _verify_transactional(self, topic: str, partition: int, header: BatchHeader, transactional_id: str | None,
                              produce_version: int) -> None:
        """KIP-890: a producer's first transactional batch in a partition must belong to a
        transaction the partition was added to; raises ProducerStateError as Kafka refuses it."""
        if not self.config["transaction.partition.verification.enable"]:
            return
        if transactional_id is None:
            raise ProducerStateError(ErrorCode.INVALID_TXN_STATE, NOT_IN_TRANSACTION)
        error, message = for_produce(self.verification_error(transactional_id, header.producer_id,
                                                             header.producer_epoch, (topic, partition)),
                                     produce_version)
        if error != ErrorCode.NONE:
            raise ProducerStateError(error, message or f"{topic}-{partition} is not in the transaction", message)

    def verification_error(self, transactional_id: str, producer_id: int, epoch: int,
                           partition: TopicPartition) -> ErrorCode:
        """KIP-890: the coordinator's verify-only answer for a transactional write to `partition`;
        NONE when `transaction.partition.verification.enable` is off."""
        if not self.config["transaction.partition.verification.enable"]:
            return ErrorCode.NONE
        if self.transactions.availability(transactional_id) == ErrorCode.NOT_COORDINATOR:
            return ErrorCode.NONE  # its coordinator is another broker: not asked (docs/compatibility.md)
        return self.transactions.verify(transactional_id, producer_id, epoch, [partition])[partition]

    # -- long polls

    def append_waiter(self, keys: Iterable[tuple[str, int]]) -> asyncio.Future:
        """A future settled by the next append to any of the partitions. It counts from now: a
        handler that registers it before handing its wait to a task misses no append made in
        between."""
        future = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiters.setdefault(key, []).append(future)
        return future

    async def wait_for_append(self, keys: Iterable[tuple[str, int]], timeout: float,
                              waiter: asyncio.Future | None = None) -> None:
        """Return after an append to any of the partitions (since `waiter` was made, when given),
        or after `timeout` seconds.

        The waiting task awaits the future itself, with a timer to settle it: an append wakes it in
        the next turn of the event loop (asyncio.wait_for would take one more).
        """
        keys = list(keys)
        future = waiter if waiter is not None else self.append_waiter(keys)
        timer = asyncio.get_running_loop().call_later(max(timeout, 0), _settle, future)
        try:
            await future
        finally:
            timer.cancel()
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters and future in waiters:
                    waiters.remove(future)
                    if not waiters:
                        del self._waiters[key]

    def _wake(self, topic: str, partition: int) -> None:
        waiters = self._waiters.pop((topic, partition), None)
        if waiters:
            self.wakeups += 1
            for future in waiters:
                _settle(future)


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def random_cluster_id() -> str:
    return uuid_to_str(random_kafka_uuid())
