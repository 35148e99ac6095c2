"""The node as handlers and connections see it: the seam between the request layer and `Broker`.

Handlers ask the node's parts (topics, groups, transactions, quotas, fetch sessions) directly and
the node itself a few questions: who leads a partition, append, read and wait, create and delete
topics. `Node` names those calls so that the request layer needs no import of `broker.py`, and
`broker.py` none of it; `Broker` is the one implementation.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from kproto import ErrorCode

if TYPE_CHECKING:
    from kbroker.admin.configs import DynamicBrokerConfigs
    from kbroker.admin.quotas import ClientQuotaTable
    from kbroker.cluster.member import ClusterMember
    from kbroker.cluster.topics import TopicRegistry
    from kbroker.cluster.view import PartitionView
    from kbroker.config import BrokerConfig
    from kbroker.fetch_sessions import FetchSessionCache
    from kbroker.groups import GroupCoordinator
    from kbroker.groups.group_configs import GroupConfigStore
    from kbroker.log import LogManager, PartitionLog
    from kbroker.metrics import Metrics
    from kbroker.security import Authorizer
    from kbroker.share import SharePartitions
    from kbroker.security.quotas import ClientQuotas
    from kbroker.security.scram import ScramCredentials
    from kbroker.txn.coordinator import TopicPartition, TransactionCoordinator
    from kbroker.txn.producer_ids import ProducerIdAllocator
    from kbroker.txn.producer_state import AbortedTxn, ProducerStates
    from kbroker.txn.state_log import TransactionStateLog

BrokerEndpoint = tuple[int, str, int, str | None]  # (id, host, port, rack)


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    error: ErrorCode
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None
    end_offset: int = -1  # the log end after the append: what acks=all waits for the ISR to reach
    record_errors: tuple[tuple[int, str], ...] = ()  # (index in the batch, why) of each refused record
    durable: asyncio.Future | None = None  # flush.messages: the error code once the append is on disk


class Node(Protocol):
    # -- the node's parts
    config: BrokerConfig
    metrics: Metrics
    node_id: int
    cluster_id: str
    cluster: ClusterMember | None  # None on a single node
    topics: TopicRegistry
    logs: LogManager
    groups: GroupCoordinator
    shares: SharePartitions  # KIP-932 share partitions and sessions (single node only)
    transactions: TransactionCoordinator
    txn_log: TransactionStateLog
    producer_ids: ProducerIdAllocator
    quotas: ClientQuotaTable
    client_quotas: ClientQuotas  # the quotas in force and clients' rates against them
    scram: ScramCredentials  # users' SCRAM credentials
    dynamic_configs: DynamicBrokerConfigs
    group_configs: GroupConfigStore | None  # configs on groups (single node only)
    fetch_sessions: FetchSessionCache
    authorizer: Authorizer | None  # None when no authorizer is configured: everything is allowed
    connections: set[Any]  # client connections open now
    wakeups: int  # how many appends so far woke a waiting fetch (connections let those answer first)

    # -- brokers and leadership
    @property
    def controller_id(self) -> int: ...

    def live_brokers(self, listener: str | None = None) -> list[BrokerEndpoint]: ...

    def endpoints(self, broker_ids: Iterable[int], listener: str | None = None) -> list[BrokerEndpoint]: ...

    def leader_address(self, topic: str, partition: int, listener: str | None = None) -> tuple[int, str, int] | None: ...

    def describe_partition(self, topic: str, partition: int) -> PartitionView | None: ...

    def describe_partitions(self, topic: str, count: int) -> list[PartitionView | None]: ...

    def leader_alive(self, state: PartitionView) -> bool: ...

    def current_leader(self, topic: str, partition: int) -> tuple[int, int]: ...

    def serving_error(self, topic: str, partition: int) -> ErrorCode: ...

    def leader_log(self, topic: str, partition: int) -> tuple[PartitionLog | None, ErrorCode]: ...

    # -- topics
    def topic_name(self, topic_id: uuid.UUID) -> str | None: ...

    def topic_config(self, name: str) -> dict[str, Any]: ...

    def describe_topic_configs(self, name: str) -> list: ...

    def set_topic_configs(self, name: str, overrides: dict[str, str]) -> None: ...

    def default_partitions(self, requested: int, assignments: dict[int, list[int]] | None) -> int: ...

    def create_topic(self, name: str, partitions: int, replication_factor: int, configs: dict[str, str | None],
                     assignments: dict[int, list[int]] | None = None,
                     validate_only: bool = False) -> tuple[ErrorCode, str | None]: ...

    def create_partitions(self, name: str, count: int, assignments: list[list[int]] | None,
                          validate_only: bool) -> tuple[ErrorCode, str | None]: ...

    def delete_topic(self, name: str) -> tuple[ErrorCode, str | None]: ...

    def sync_topics(self) -> None: ...

    # -- append, read, high watermark
    def partition_log(self, topic: str, partition: int) -> PartitionLog | None: ...

    def append(self, topic: str, partition: int, records: bytes | memoryview | None, produce_version: int,
               transactional_id: str | None = None, acks: int = 1) -> AppendOutcome: ...

    def replication_waiter(self, topic: str, partition: int, end_offset: int) -> asyncio.Future | None: ...

    async def wait_for_append(self, keys: Iterable[tuple[str, int]], timeout: float) -> None: ...

    def last_stable_offset(self, plog: PartitionLog) -> int: ...

    def aborted_transactions(self, plog: PartitionLog, start: int, upper: int) -> list[AbortedTxn]: ...

    def producer_states(self, plog: PartitionLog) -> ProducerStates: ...

    # -- transactions
    def offsets_partition(self, group_id: str) -> TopicPartition: ...

    def write_txn_marker(self, topic: str, partition: int, producer_id: int, epoch: int, commit: bool,
                         coordinator_epoch: int) -> ErrorCode: ...

    def verification_error(self, transactional_id: str, producer_id: int, epoch: int,
                           partition: TopicPartition) -> ErrorCode: ...
