"""The group coordinator: groups, their committed offsets, and the records that make both durable.

It owns the classic groups and the offset store, hands the rebalance protocol to `Rebalancer`,
writes every change as `__consumer_offsets` records through a `GroupLog`, and replays those
records when it starts serving their partition. A single node is the coordinator of every group
and loads them all at start-up; in a cluster a broker coordinates the groups of the
`__consumer_offsets` partitions it leads (`elected`, `resigned`), and answers NOT_COORDINATOR for
the others, as Kafka does. Offsets sent in a transaction are written at once but wait beside the
committed ones until the transaction's marker reaches their partition, live or on replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Iterable

from kproto import ErrorCode

from kbroker.coordinator_log import InternalTopicHost, replicated
from kbroker.groups import records
from kbroker.groups.classic import ClassicGroup
from kbroker.groups.classic_members import ClassicMembers
from kbroker.groups.config import GroupConfig
from kbroker.groups import consumer_records
from kbroker.groups.consumer import ConsumerGroup, ConsumerMember
from kbroker.groups.consumer_groups import ConsumerGroups, DerivedTopicIds, Heartbeat, HeartbeatResult, TopicCounts
from kbroker.groups import migration, share_records
from kbroker.groups.group_configs import GroupSettings
from kbroker.groups.member import ClassicMember
from kbroker.groups.offsets import OffsetAndMetadata, OffsetStore, PendingOffsets, expired_offsets
from kbroker.groups.rebalance import JoinRequest, Rebalancer, join_problem, settled
from kbroker.groups.records import GroupRecord, OffsetRecord, RecordBytes
from kbroker.groups.results import DescribedMember, GroupDescription, GroupListing, JoinResult, SyncResult
from kbroker.groups.share_groups import ShareConfig, ShareGroups, ShareHeartbeat
from kbroker.groups.states import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE, parse_state
from kbroker.groups.storage import NO_PRODUCER_ID, GroupLog, OffsetsTopicLog, Producer, Replayed, StoredRecord, TxnMarker
from kbroker.groups.timers import Timers

log = logging.getLogger("kbroker.groups")
CLASSIC_TYPE = "classic"
CONSUMER_TYPE = "consumer"
SHARE_TYPE = "share"


@dataclass(frozen=True, slots=True)
class OffsetCommit:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""


def now_ms() -> int:
    return int(time.time() * 1000)


class GroupCoordinator:
    @classmethod
    def for_broker(cls, broker: InternalTopicHost, clustered: bool,
                   settings: Callable[[str], GroupSettings] | None = None) -> GroupCoordinator:
        """The broker's coordinator, keeping its records in `__consumer_offsets`; `clustered`: one
        of a cluster's coordinators, serving only the partitions its broker leads; `settings`:
        each group's settings, with its group configs (else the broker's for every group)."""
        def topics() -> dict[str, int]:
            return {t.name: t.partitions for t in broker.topics if not t.internal}

        def topic_id(name: str):
            info = broker.topics.get(name)
            return info.topic_id if info is not None else None

        def topic_name(topic_id):
            info = broker.topics.by_id(topic_id)
            return info.name if info is not None else None

        return cls(GroupConfig.from_broker(broker.config), OffsetsTopicLog(broker), topics=topics,
                   topic_ids=(topic_id, topic_name), clustered=clustered,
                   share_config=ShareConfig.from_broker(broker.config), settings=settings)

    def __init__(self, config: GroupConfig, storage: GroupLog, clock: Callable[[], int] = now_ms,
                 topics: TopicCounts = dict,
                 topic_ids: tuple[records.TopicId, records.TopicName] | None = None,
                 clustered: bool = False, share_config: ShareConfig = ShareConfig(),
                 settings: Callable[[str], GroupSettings] | None = None) -> None:
        self.config = config
        if settings is None:
            fixed = GroupSettings.of(config, share_config)
            settings = lambda group_id: fixed  # noqa: E731
        #: each group's settings: the broker's, or its group configs where it has any
        self.settings: Callable[[str], GroupSettings] = settings
        self.storage = storage
        self.now_ms = clock
        #: the offsets partitions served: None on a single node, which serves them all; in a
        #: cluster those this broker leads, loaded when it became their leader
        self.served: set[int] | None = set() if clustered else None
        self.groups: dict[str, ClassicGroup] = {}
        self.offsets = OffsetStore()
        self.pending = PendingOffsets()
        self.timers = Timers()
        self.rebalancer = Rebalancer(self.groups, config, self.timers, self.storage.append, clock)
        if topic_ids is None:
            derived = DerivedTopicIds()
            topic_ids = (derived.id_of, derived.name_of)
        self.consumer = ConsumerGroups(config, self.timers, topics, self.storage.append, *topic_ids, clock, settings)
        self.consumer.downgrade = self._downgrade
        self.classic_members = ClassicMembers(self.consumer)
        self.share = ShareGroups(share_config, self.timers, topics, settings, self.storage.append, *topic_ids)
        self._expiry_task: asyncio.Task | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Load groups and offsets from storage (a single node's, all of them), then run session
        timers and offset expiry."""
        if self.served is None:
            self._restore(self.storage.load())
            log.info("group coordinator loaded %d groups, %d with committed offsets", self._group_count(),
                     sum(1 for _ in self.offsets.groups()))
        self._expiry_task = asyncio.get_running_loop().create_task(self._expire_periodically())

    def _restore(self, stored: Iterable[Replayed]) -> None:
        """Replay stored records into groups, whose members' sessions start now."""
        known = set(self.groups)
        kip848, kip932 = consumer_records.Loader(), share_records.Loader()
        self.load(stored, kip848, kip932)
        self.consumer.load(kip848)
        self.share.load(kip932)
        for group_id in self.consumer.groups:  # offsets alone made a classic placeholder for it
            if group_id in self.groups and self.groups[group_id].is_in(EMPTY):
                del self.groups[group_id]
        for group in [g for group_id, g in self.groups.items() if group_id not in known]:
            for member in group.members.values():
                self.rebalancer.touch(group, member.member_id)

    # -- which groups this coordinator serves (a cluster's brokers share them out)

    def availability(self, group_id: str) -> ErrorCode:
        """NONE when this coordinator serves the group; NOT_COORDINATOR when it does not lead the
        group's offsets partition. Loading is done in one go, so there is no load in progress."""
        if self.served is None or not group_id or self.storage.partition_of(group_id) in self.served:
            return ErrorCode.NONE  # an empty id gets each request's own INVALID_GROUP_ID
        return ErrorCode.NOT_COORDINATOR

    def elected(self, partition: int) -> None:
        """This broker leads the offsets partition now: its groups and offsets come from the log,
        as replicated; already serving it (a new epoch of the same leader) changes nothing."""
        if self.served is None or partition in self.served:
            return
        self.served.add(partition)
        before = self._group_count()
        self._restore(self.storage.load(partition))
        log.info("group coordinator loaded %d groups of __consumer_offsets-%d", self._group_count() - before, partition)

    def _group_count(self) -> int:
        return len(self.groups) + len(self.consumer.groups) + len(self.share.groups)

    def resigned(self, partition: int) -> None:
        """Another broker leads the offsets partition now: its groups are forgotten here, and their
        waiting joins and syncs are answered NOT_COORDINATOR so that members find the new one."""
        if self.served is None or partition not in self.served:
            return
        self.served.discard(partition)
        ids = {g for g in [*self.groups, *self.consumer.groups, *self.share.groups, *self.offsets.groups(),
                           *self.pending.groups()]
               if self.storage.partition_of(g) == partition}
        for group_id in ids:
            group = self.groups.pop(group_id, None)
            if group is not None:
                self.rebalancer.abandon(group, ErrorCode.NOT_COORDINATOR)
            self.consumer.groups.pop(group_id, None)
            self.share.groups.pop(group_id, None)
            self.timers.cancel_group(group_id)
            self.offsets.delete_group(group_id)
            self.pending.drop_group(group_id)
        log.info("group coordinator unloaded %d groups of __consumer_offsets-%d", len(ids), partition)

    async def stop(self) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        self.timers.cancel_all()
        for group in self.groups.values():
            self.rebalancer.abandon(group, ErrorCode.NOT_COORDINATOR)

    def load(self, stored: Iterable[Replayed], kip848: consumer_records.Loader | None = None,
             kip932: share_records.Loader | None = None) -> None:
        """Replay records: the last value of each key wins and a tombstone deletes it; offsets of a
        transaction wait for its marker.

        KIP-848 and share group records go to `kip848` and `kip932`, which need the topics and
        timers of a started broker.
        """
        metadata: dict[str, object] = {}
        for entry in stored:
            if isinstance(entry, TxnMarker):
                self.complete_transaction(entry.producer_id, entry.commit, entry.partition)
                continue
            if kip848 is not None and kip848.feed(entry.key, entry.value):
                continue
            if kip932 is not None and kip932.feed(entry.key, entry.value):
                continue
            record = records.read_record(entry.key, entry.value)
            if isinstance(record, OffsetRecord):
                self._replay_offset(record, entry)
            elif isinstance(record, GroupRecord):
                metadata[record.group_id] = record.value
        for group_id, value in metadata.items():
            if value is not None:
                self.groups[group_id] = self._restore_group(group_id, value)
        for group_id in self.offsets.groups():
            if group_id not in self.groups:
                self.groups[group_id] = ClassicGroup(group_id, self.now_ms())

    def _replay_offset(self, record: OffsetRecord, entry: StoredRecord) -> None:
        if record.offset is None:
            self.offsets.delete(record.group_id, record.topic, record.partition)
            self.pending.discard(record.group_id, record.topic, record.partition)
            return
        offset = replace(record.offset, record_offset=entry.offset)
        if entry.producer_id == NO_PRODUCER_ID:
            self.offsets.put(record.group_id, record.topic, record.partition, offset)
        else:
            self.pending.put(entry.producer_id, record.group_id, record.topic, record.partition, offset)
            if record.group_id not in self.groups:  # a simple group, as Kafka makes for a first commit
                self.groups[record.group_id] = ClassicGroup(record.group_id, self.now_ms())

    def _restore_group(self, group_id: str, value) -> ClassicGroup:
        """A group as last written: Stable with its members and their assignments, or Empty."""
        stamp = value.current_state_timestamp if value.current_state_timestamp >= 0 else self.now_ms()
        group = ClassicGroup(group_id, stamp, STABLE if value.members else EMPTY)
        group.generation = value.generation
        group.protocol_name = value.protocol
        for m in value.members:
            rebalance_timeout = m.rebalance_timeout if m.rebalance_timeout >= 0 else m.session_timeout
            group.add(ClassicMember(m.member_id, m.group_instance_id, m.client_id, m.client_host, rebalance_timeout,
                                    m.session_timeout, group.protocol_type or "",
                                    [(value.protocol or "", bytes(m.subscription))], bytes(m.assignment)))
        group.protocol_type = value.protocol_type or None  # kept even with no members, as written
        group.leader_id = value.leader if value.leader in group.members else next(iter(group.members), None)
        group.subscribed_topics = group.compute_subscriptions()
        return group

    # -- the classic protocol

    def join(self, request: JoinRequest) -> asyncio.Future:
        """A classic join; a KIP-848 group with members takes it as one of its own (classic_members.py),
        an empty one gives way."""
        error = self.availability(request.group_id)
        if error:
            return settled(JoinResult(error, member_id=request.member_id))
        if request.group_id in self.share.groups:
            return settled(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
        consumer_group = self.consumer.groups.get(request.group_id)
        if consumer_group is not None:
            if consumer_group.members:
                error = join_problem(request, self.config)
                return settled(JoinResult(error, member_id=request.member_id) if error
                               else self.classic_members.join(consumer_group, request))
            del self.consumer.groups[request.group_id]
            self.storage.append(request.group_id, consumer_records.group_tombstones(consumer_group))
        return self.rebalancer.join(request)

    def consumer_heartbeat(self, heartbeat: Heartbeat) -> HeartbeatResult:
        """A KIP-848 heartbeat; an empty classic group of that id gives way to a joining member, and
        one in use is converted when `group.consumer.migration.policy` allows, as in Kafka; anything
        else meeting a classic group gets GROUP_ID_NOT_FOUND."""
        error = self.availability(heartbeat.group_id)
        if error:
            return HeartbeatResult(error)
        if heartbeat.group_id in self.share.groups:
            return HeartbeatResult(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {heartbeat.group_id} is not a consumer group.")
        classic = self.groups.get(heartbeat.group_id)
        if classic is not None and heartbeat.group_id not in self.consumer.groups:
            not_consumer = HeartbeatResult(ErrorCode.GROUP_ID_NOT_FOUND,
                                           f"Group {heartbeat.group_id} is not a consumer group.")
            if heartbeat.member_epoch != 0:
                return not_consumer
            if classic.is_in(EMPTY) and not classic.pending_members:
                classic.transition(DEAD, self.now_ms())
                self.timers.cancel(("join", heartbeat.group_id))
                del self.groups[heartbeat.group_id]
                self.storage.append(heartbeat.group_id, [records.group_tombstone(heartbeat.group_id)])
            elif not self._upgrade(classic):
                return not_consumer
        return self.consumer.heartbeat(heartbeat)

    # -- moving a group in use between the protocols (migration.py)

    def _upgrade(self, classic: ClassicGroup) -> bool:
        """Make a classic group in use a consumer group, if allowed; its parked joins and syncs are
        told to rejoin, since the joining KIP-848 member starts a new assignment anyway."""
        group_id = classic.group_id
        refusal = migration.upgrade_refusal(classic, self.config)
        if refusal is None:
            try:
                group = migration.upgraded(classic, self.config.consumer_assignors[0])
            except migration.Unreadable as exc:
                refusal = f"its embedded consumer protocol is malformed ({exc})"
        if refusal is not None:
            log.info("cannot upgrade classic group %s to a consumer group: %s", group_id, refusal)
            return False
        self.rebalancer.abandon(classic, ErrorCode.REBALANCE_IN_PROGRESS)
        self.timers.cancel_group(group_id)
        classic.transition(DEAD, self.now_ms())
        del self.groups[group_id]
        group.topic_partitions = self.consumer.subscribed_counts(group)
        self.consumer.groups[group_id] = group
        self.storage.append(group_id, [records.group_tombstone(group_id)]
                            + consumer_records.group_records(group, self.consumer.topic_id))
        for member in group.members.values():
            self.consumer.arm_session(group, member)
        log.info("classic group %s upgraded to a consumer group at epoch %d", group_id, group.group_epoch)
        return True

    def _downgrade(self, group: ConsumerGroup, leaving: ConsumerMember | None) -> bool:
        """The last KIP-848 member leaves: the group becomes a classic one again if allowed, and
        rebalances so that a client-side assignor takes over. When a classic static member took
        that member's place (`leaving` None), it has its partitions already: no rebalance."""
        if not migration.downgrades(group, leaving, self.config):
            return False
        group_id = group.group_id
        classic, assignments = migration.downgraded(group, leaving, self.now_ms())
        self.timers.cancel_group(group_id)
        del self.consumer.groups[group_id]
        self.groups[group_id] = classic
        self.storage.append(group_id, consumer_records.group_tombstones(group)
                            + [records.group_metadata_record(classic, assignments)])
        for member_id in classic.members:
            self.rebalancer.touch(classic, member_id)
        log.info("consumer group %s downgraded to a classic group at generation %d", group_id, classic.generation)
        if leaving is not None:
            self.rebalancer.prepare_rebalance(classic, f"Downgrade group {group_id} from consumer to classic.")
        return True

    def share_heartbeat(self, heartbeat: ShareHeartbeat) -> HeartbeatResult:
        """A KIP-932 heartbeat; a group id held by a classic or consumer group is not a share group."""
        if heartbeat.group_id in self.groups or heartbeat.group_id in self.consumer.groups:
            return HeartbeatResult(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {heartbeat.group_id} is not a share group.")
        return self.share.heartbeat(heartbeat)

    def sync(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None,
             protocol_type: str | None, protocol_name: str | None, assignments: dict[str, bytes]) -> asyncio.Future:
        error = self.availability(group_id)
        if error:
            return settled(SyncResult(error))
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return settled(self.classic_members.sync(consumer_group, generation, member_id, group_instance_id,
                                                     protocol_type, protocol_name))
        return self.rebalancer.sync(group_id, generation, member_id, group_instance_id, protocol_type,
                                    protocol_name, assignments)

    def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None, generation: int) -> ErrorCode:
        if error := self.availability(group_id):
            return error
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return self.classic_members.heartbeat(consumer_group, member_id, group_instance_id, generation)
        return self.rebalancer.heartbeat(group_id, member_id, group_instance_id, generation)

    def leave(self, group_id: str, members: list[tuple[str, str | None]]):
        if error := self.availability(group_id):
            return error, []
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return self.classic_members.leave(consumer_group, members)
        return self.rebalancer.leave(group_id, members)

    # -- offsets

    def commit_offsets(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None,
                       commits: list[OffsetCommit], retention_ms: int = -1,
                       api_version: int = 9) -> list[ErrorCode]:
        """One error per commit, in order; a group-level problem is every commit's error."""
        unknown = ErrorCode.GROUP_ID_NOT_FOUND if api_version >= 9 else ErrorCode.ILLEGAL_GENERATION
        if error := self.availability(group_id):
            return [error] * len(commits)
        error, group = self._committer_check(group_id, generation, member_id, group_instance_id, unknown)
        if error:
            return [error] * len(commits)
        if group is not None and group.is_in(STABLE, PREPARING_REBALANCE):
            self.rebalancer.touch(group, member_id)
        return self._commit(group_id, commits, retention_ms)

    def _commit(self, group_id: str, commits: list[OffsetCommit], retention_ms: int) -> list[ErrorCode]:
        errors, written = self._write_commits(group_id, commits, retention_ms, None)
        for commit, value in written:
            self.offsets.put(group_id, commit.topic, commit.partition, value)
        return errors

    def commit_transactional_offsets(self, group_id: str, producer: Producer, generation: int, member_id: str,
                                     instance_id: str | None, commits: list[OffsetCommit]) -> list[ErrorCode]:
        """TxnOffsetCommit, once the transaction coordinator knows the group's partition is in the
        transaction: checked by Kafka's rules for transactional commits, written as the producer's
        transactional batch, and pending until the transaction's marker."""
        if error := self.availability(group_id):
            return [error] * len(commits)
        error, _ = self._committer_check(group_id, generation, member_id, instance_id, ErrorCode.ILLEGAL_GENERATION,
                                         transactional=True)
        if error == ErrorCode.STALE_MEMBER_EPOCH:  # TxnOffsetCommit has no such error
            error = ErrorCode.ILLEGAL_GENERATION
        if error:
            return [error] * len(commits)
        errors, written = self._write_commits(group_id, commits, -1, producer)
        for commit, value in written:
            self.pending.put(producer.producer_id, group_id, commit.topic, commit.partition, value)
        return errors

    def complete_transaction(self, producer_id: int, commit: bool, partition: int) -> None:
        """A transaction's marker reached `__consumer_offsets` partition `partition`: the pending
        offsets of its groups there become committed offsets, unless a later plain commit of the
        partition is there already, or are dropped."""
        taken = self.pending.take(producer_id, lambda group_id: self.storage.partition_of(group_id) == partition)
        for group_id, offsets in taken.items():
            for (topic, partition), offset in offsets.items() if commit else ():
                current = self.offsets.get(group_id, topic, partition)
                if current is None or offset.record_offset > current.record_offset:
                    self.offsets.put(group_id, topic, partition, offset)

    def has_pending_offset(self, group_id: str, topic: str, partition: int) -> bool:
        """Whether an open transaction holds an offset of the partition (OffsetFetch's require_stable)."""
        return self.pending.has(group_id, topic, partition)

    def replication(self, group_id: str, timeout_ms: int) -> Awaitable[ErrorCode] | None:
        """Kafka writes offset commits with acks=-1: an awaitable of NONE once what was written for
        the group has reached the in-sync replicas of its partition, else of the client's error;
        None where writes are complete at once (a single node)."""
        return replicated(self.storage.replicated(group_id), timeout_ms)

    def offsets_partition(self, group_id: str) -> int:
        """The group's `__consumer_offsets` partition, which AddOffsetsToTxn adds to a transaction."""
        return self.storage.partition_of(group_id)

    def _write_commits(self, group_id: str, commits: list[OffsetCommit], retention_ms: int,
                       producer: Producer | None) -> tuple[list[ErrorCode], list[tuple[OffsetCommit, OffsetAndMetadata]]]:
        """Append the commits' records; one error per commit and the written values with their record offsets."""
        now = self.now_ms()
        expire = now + retention_ms if retention_ms != -1 else None
        errors, accepted, written = [], [], []
        for commit in commits:
            metadata = commit.metadata or ""
            if len(metadata) > self.config.offset_metadata_max_bytes:
                errors.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            value = OffsetAndMetadata(commit.offset, commit.leader_epoch, metadata, now, expire)
            written.append(records.offset_commit_record(group_id, commit.topic, commit.partition, value))
            accepted.append((commit, value))
            errors.append(ErrorCode.NONE)
        first = self.storage.append(group_id, written, producer)
        return errors, [(commit, replace(value, record_offset=first + i)) for i, (commit, value) in enumerate(accepted)]

    def _committer_check(self, group_id: str, generation: int, member_id: str, instance_id: str | None,
                         unknown_group: ErrorCode, transactional: bool = False) -> tuple[ErrorCode, ClassicGroup | None]:
        """Whether the sender may commit to the group, and the classic group it commits to (None for a
        KIP-848 group). A first commit without a generation makes a simple group, as Kafka does; one
        with a generation to a group nobody knows gets `unknown_group`."""
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return self.consumer.validate_commit(consumer_group, member_id, generation), None
        group = self.groups.get(group_id)
        if group is None:
            if generation >= 0:
                return unknown_group, None
            group = self.groups[group_id] = ClassicGroup(group_id, self.now_ms())
        return self._check_commit(group, generation, member_id, instance_id, transactional), group

    @staticmethod
    def _check_commit(group: ClassicGroup, generation: int, member_id: str, instance_id: str | None,
                      transactional: bool = False) -> ErrorCode:
        """Kafka's rules: tools and standalone consumers (generation -1) commit only to empty groups;
        transactional commits are also taken without a generation (TxnOffsetCommit v0-2) and during
        a rebalance."""
        if group.is_in(DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation < 0 and group.is_in(EMPTY):
            return ErrorCode.NONE
        if generation >= 0 or member_id or instance_id is not None:
            error = group.validate_member(member_id, instance_id)
            if error:
                return error
            if generation != group.generation:
                return ErrorCode.ILLEGAL_GENERATION
        elif not transactional and not group.is_in(EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and group.is_in(COMPLETING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def check_fetch(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Whether OffsetFetch may read the group's offsets here: only from its coordinator, and
        v9 from a KIP-848 member is checked like its commits; tools (epoch -1) are not."""
        if error := self.availability(group_id):
            return error
        group = self.consumer.groups.get(group_id)
        if group is None or (member_epoch < 0 and not member_id):
            return ErrorCode.NONE
        return self.consumer.validate_commit(group, member_id or "", member_epoch)

    def fetch_offsets(self, group_id: str, wanted: list[tuple[str, list[int]]] | None
                      ) -> list[tuple[str, list[tuple[int, OffsetAndMetadata | None]]]]:
        """Committed offsets by topic; None where nothing is committed. `wanted=None` means all."""
        group = self.groups.get(group_id)
        known = {} if group is not None and group.is_in(DEAD) else self.offsets.of_group(group_id)
        if wanted is None:
            by_topic: dict[str, list[tuple[int, OffsetAndMetadata | None]]] = {}
            for (topic, partition), offset in sorted(known.items()):
                by_topic.setdefault(topic, []).append((partition, offset))
            return list(by_topic.items())
        return [(topic, [(p, known.get((topic, p))) for p in partitions]) for topic, partitions in wanted]

    def delete_offsets(self, group_id: str, wanted: list[tuple[str, list[int]]]
                       ) -> tuple[ErrorCode, list[tuple[str, list[tuple[int, ErrorCode]]]]]:
        """OffsetDelete: offsets of topics the group still consumes stay (GROUP_SUBSCRIBED_TO_TOPIC)."""
        if error := self.availability(group_id):
            return error, []
        group = self.groups.get(group_id)
        if group is None or group.is_in(DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND, []
        if group.is_in(STABLE, PREPARING_REBALANCE, COMPLETING_REBALANCE) and group.protocol_type != "consumer":
            return ErrorCode.NON_EMPTY_GROUP, []
        results, tombstones = [], []
        for topic, partitions in wanted:
            if group.is_subscribed_to(topic):
                results.append((topic, [(p, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC) for p in partitions]))
                continue
            for partition in partitions:
                pending = self.pending.has(group_id, topic, partition)
                if self.offsets.delete(group_id, topic, partition) or pending:
                    tombstones.append(records.offset_tombstone(group_id, topic, partition))
                    self.pending.discard(group_id, topic, partition)
            results.append((topic, [(p, ErrorCode.NONE) for p in partitions]))
        self.storage.append(group_id, tombstones)
        return ErrorCode.NONE, results

    # -- admin views

    def list_groups(self, states: Iterable[str] = (), types: Iterable[str] = ()) -> list[GroupListing]:
        wanted_states = {parse_state(s) for s in states}
        wanted_types = {t.strip().lower() for t in types}
        return [
            GroupListing(g.group_id, g.protocol_type or "", str(g.state), CLASSIC_TYPE)
            for g in self.groups.values()
            if (not wanted_states or g.state in wanted_states) and (not wanted_types or CLASSIC_TYPE in wanted_types)
        ] + [
            GroupListing(g.group_id, kind, g.state, kind)
            for kind, kind_groups in ((CONSUMER_TYPE, self.consumer.groups), (SHARE_TYPE, self.share.groups))
            for g in kind_groups.values()
            if (not states or g.state.lower() in {s.strip().lower() for s in states})
            and (not wanted_types or kind in wanted_types)
        ]

    def describe_group(self, group_id: str) -> GroupDescription:
        """DescribeGroups describes classic groups only: a KIP-848 group answers as an unknown one
        (Dead, no members), as Kafka's does; clients describe those with ConsumerGroupDescribe."""
        if error := self.availability(group_id):
            return GroupDescription(group_id, "", error=error)  # Kafka's empty summary
        group = self.groups.get(group_id)
        if group is None or group_id in self.consumer.groups:
            return GroupDescription(group_id, str(DEAD))
        stable = group.is_in(STABLE)
        members = [
            DescribedMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                            m.metadata(group.protocol_name) if stable else b"", m.assignment if stable else b"")
            for m in group.members.values()
        ]
        return GroupDescription(group_id, str(group.state), group.protocol_type or "",
                                (group.protocol_name or "") if stable else "", members)

    def delete_groups(self, group_ids: list[str]) -> list[tuple[str, ErrorCode]]:
        results = []
        for group_id in group_ids:
            if error := self.availability(group_id):
                results.append((group_id, error))
                continue
            consumer_group = self.consumer.groups.get(group_id)
            if consumer_group is not None:
                error = ErrorCode.NON_EMPTY_GROUP if consumer_group.members else ErrorCode.NONE
                if not error:
                    self._delete_consumer_group(group_id)
                results.append((group_id, error))
                continue
            share_group = self.share.groups.get(group_id)
            if share_group is not None:
                error = ErrorCode.NON_EMPTY_GROUP if share_group.members else ErrorCode.NONE
                if not error:
                    self.share.delete(group_id)
                results.append((group_id, error))
                continue
            group = self.groups.get(group_id)
            if group is None or group.is_in(DEAD):
                results.append((group_id, ErrorCode.GROUP_ID_NOT_FOUND))
            elif not group.is_in(EMPTY):
                results.append((group_id, ErrorCode.NON_EMPTY_GROUP))
            else:
                self._delete_group(group)
                results.append((group_id, ErrorCode.NONE))
        return results

    def _offset_tombstones(self, group_id: str) -> list[RecordBytes]:
        """Drop every offset of the group, committed or pending in a transaction, as Kafka does."""
        partitions = set(self.offsets.delete_group(group_id)) | self.pending.partitions_of(group_id)
        for topic, partition in partitions:
            self.pending.discard(group_id, topic, partition)
        return [records.offset_tombstone(group_id, t, p) for t, p in sorted(partitions)]

    def _delete_consumer_group(self, group_id: str) -> None:
        group = self.consumer.groups.pop(group_id)
        self.storage.append(group_id, self._offset_tombstones(group_id) + consumer_records.group_tombstones(group))
        log.info("deleted consumer group %s", group_id)

    def _delete_group(self, group: ClassicGroup) -> None:
        tombstones = self._offset_tombstones(group.group_id) + [records.group_tombstone(group.group_id)]
        self.storage.append(group.group_id, tombstones)
        group.transition(DEAD, self.now_ms())
        self.timers.cancel(("join", group.group_id))
        del self.groups[group.group_id]
        log.info("deleted group %s", group.group_id)

    # -- offset expiry

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.offsets_retention_check_interval_ms / 1000)
            try:
                self.expire_offsets()
            except Exception:
                log.exception("offset expiry failed")

    def expire_offsets(self) -> int:
        """Drop offsets past retention; an empty group left with none is deleted. Returns the count."""
        now = self.now_ms()
        total = 0
        for group_id in set(self.groups) | set(self.offsets.groups()) | set(self.consumer.groups):
            group = self.groups.get(group_id)
            offsets = self.offsets.of_group(group_id)
            consumer_group = self.consumer.groups.get(group_id)
            if consumer_group is not None and consumer_group.members:  # it keeps the offsets of topics it consumes
                offsets = {tp: o for tp, o in offsets.items() if tp[0] not in consumer_group.topic_partitions}
            offsets = {tp: o for tp, o in offsets.items() if not self.pending.has(group_id, *tp)}  # Kafka waits for them
            expired, all_gone = expired_offsets(group, offsets, now, self.config.offsets_retention_ms)
            tombstones = []
            for topic, partition in expired:
                self.offsets.delete(group_id, topic, partition)
                tombstones.append(records.offset_tombstone(group_id, topic, partition))
            self.storage.append(group_id, tombstones)
            total += len(expired)
            if self.pending.has_group(group_id):
                continue  # a group with an open transaction's offsets stays, as in Kafka
            if (all_gone or not offsets) and group is not None and group.is_in(EMPTY) and not group.pending_members:
                self._delete_group(group)
            elif consumer_group is not None and not consumer_group.members and not self.offsets.has_group(group_id):
                self._delete_consumer_group(group_id)
        if total:
            log.info("expired %d committed offsets", total)
        return total
