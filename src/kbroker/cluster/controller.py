"""The controller: the one broker that decides leaders and ISRs and tells the others.

It runs on the broker holding /controller in ZooKeeper. Its work comes as events, handled one at
a time in order, as in Kafka's ZooKeeper-era controller: it becomes controller, brokers come and
go, topics appear, grow or are marked for deletion, leaders ask to change their ISR
(AlterPartition). Each decision is written to the partition's state node (guarded by the
controller epoch) before brokers hear of it through LeaderAndIsr (replicas of the partition),
UpdateMetadata (every broker) and StopReplica (replicas of a deleted topic).

Leader election follows Kafka: the first replica in assignment order that is alive and in the
ISR; with `unclean.leader.election.enable`, any live replica when the ISR has none; otherwise the
partition goes offline (leader -1) with its ISR kept, so the last leader can take it back.
Every change of leader, and every ISR shrink the controller makes, raises the leader epoch.

Events are handled on a worker thread, one at a time, so that the controller's ZooKeeper calls
never hold up the broker's event loop; its state belongs to that thread alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable

from kproto import ErrorCode
from kproto.messages import (
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterPartitionRequest,
    AlterPartitionResponse, ControlledShutdownRequest, ControlledShutdownResponse, ElectLeadersRequest,
    ElectLeadersResponse, LeaderAndIsrRequest, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    StopReplicaRequest, UpdateMetadataRequest,
)

from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from kbroker.cluster import elections
from kbroker.cluster.channels import ChannelManager
from kbroker.cluster.reassignment import Move, target_problem
from kbroker.cluster.view import LEADER_DURING_DELETE, NO_LEADER
from kbroker.cluster.zk import BrokerRegistration, ControllerMovedError, LeaderIsr, TopicAssignment, ZkStore
from kbroker.security.inter_broker import PeerSecurity

log = logging.getLogger("kbroker.controller")

LEADER_AND_ISR_VERSION = 6
UPDATE_METADATA_VERSION = 7
STOP_REPLICA_VERSION = 3
PLAINTEXT = 0  # SecurityProtocol id of PLAINTEXT in UpdateMetadata endpoints
SECURITY_PROTOCOL_IDS = {"PLAINTEXT": PLAINTEXT, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class RebalanceSettings:
    """`auto.leader.rebalance.enable`, `leader.imbalance.check.interval.seconds` and
    `leader.imbalance.per.broker.percentage`."""

    enabled: bool = True
    interval_s: float = 300.0
    threshold_percent: int = 10


@dataclass
class Event:
    """Something for the controller to handle: a name and what goes with it."""

    kind: str
    payload: Any = None
    reply: asyncio.Future | None = None


class Controller:
    def __init__(self, broker_id: int, epoch: int, zk: ZkStore, unclean_election: Callable[[str], bool],
                 rebalance: RebalanceSettings | None = None, security: PeerSecurity | None = None) -> None:
        self.broker_id = broker_id
        self.epoch = epoch
        self.zk = zk
        self.unclean_election = unclean_election  # topic -> its unclean.leader.election.enable
        self.rebalance = rebalance or RebalanceSettings(enabled=False)
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.channels = ChannelManager(f"controller-{broker_id}", security)
        self.brokers: dict[int, BrokerRegistration] = {}
        self.assignments: dict[str, TopicAssignment] = {}
        self.states: dict[TopicPartition, LeaderIsr] = {}
        self.deleting: set[str] = set()
        self.moves: dict[TopicPartition, Move] = {}  # reassignments under way
        self.shutting_down: set[int] = set()  # brokers in a controlled shutdown: never leaders, never added to an ISR
        self._task: asyncio.Task | None = None
        self._rebalancer: asyncio.Task | None = None

    # -- events

    def start(self) -> None:
        self.post("startup")
        self._task = self.loop.create_task(self._run())
        if self.rebalance.enabled:
            self._rebalancer = self.loop.create_task(self._check_balance_periodically())

    async def _check_balance_periodically(self) -> None:
        """`auto.leader.rebalance.enable`: every `leader.imbalance.check.interval.seconds`."""
        while True:
            await asyncio.sleep(self.rebalance.interval_s)
            self.post("rebalance")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop after the event being handled, if any: its thread must not be left waiting on a
        ZooKeeper session that is about to close."""
        if self._rebalancer is not None:
            self._rebalancer.cancel()
        if self._task is not None and not self._task.done():
            self.events.put_nowait(Event("stop"))
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                log.warning("the controller's last event did not finish within %.0f s", timeout)
            self._task.cancel()
        self.channels.close()

    def post(self, kind: str, payload: Any = None) -> None:
        """Queue an event; safe from ZooKeeper's watch thread."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, Event(kind, payload))

    def _watch(self, kind: str, payload: Any = None) -> Callable[[Any], None]:
        """A ZooKeeper watch posting `kind`."""
        return self.zk.calls.watch(lambda: self.post(kind, payload))

    async def alter_partition(self, request: AlterPartitionRequest) -> AlterPartitionResponse:
        reply = self.loop.create_future()
        self.events.put_nowait(Event("alter_partition", request, reply))
        return await reply

    async def controlled_shutdown(self, request: ControlledShutdownRequest) -> ControlledShutdownResponse:
        return await self._ask("controlled_shutdown", request)

    async def elect_leaders(self, request: ElectLeadersRequest) -> ElectLeadersResponse:
        return await self._ask("elect_leaders", request)

    async def alter_reassignments(self, request: AlterPartitionReassignmentsRequest
                                  ) -> AlterPartitionReassignmentsResponse:
        return await self._ask("alter_reassignments", request)

    async def list_reassignments(self, request: ListPartitionReassignmentsRequest
                                 ) -> ListPartitionReassignmentsResponse:
        return await self._ask("list_reassignments", request)

    async def _ask(self, kind: str, request: Any) -> Any:
        reply = self.loop.create_future()
        self.events.put_nowait(Event(kind, request, reply))
        return await reply

    async def _run(self) -> None:
        handlers = {"startup": self._on_startup, "brokers": self._on_brokers_changed,
                    "topics": self._on_topics_changed, "topic": self._on_topic_changed,
                    "deletions": self._on_deletions, "alter_partition": self._on_alter_partition,
                    "controlled_shutdown": self._on_controlled_shutdown, "elect_leaders": self._on_elect_leaders,
                    "rebalance": self._on_rebalance, "alter_reassignments": self._on_alter_reassignments,
                    "list_reassignments": self._on_list_reassignments}
        while True:
            event = await self.events.get()
            if event.kind == "stop":
                return
            try:
                result = await asyncio.to_thread(handlers[event.kind], event.payload)
                if event.reply is not None and not event.reply.done():
                    event.reply.set_result(result)
            except ControllerMovedError:
                log.warning("broker %d is no longer the controller", self.broker_id)
                if event.reply is not None and not event.reply.done():
                    answer = {"controlled_shutdown": ControlledShutdownResponse, "elect_leaders": ElectLeadersResponse,
                              "alter_reassignments": AlterPartitionReassignmentsResponse,
                              "list_reassignments": ListPartitionReassignmentsResponse,
                              }.get(event.kind, AlterPartitionResponse)
                    event.reply.set_result(answer(error_code=ErrorCode.NOT_CONTROLLER))
                return
            except (KazooException, KazooTimeoutError) as exc:
                log.warning("controller event %s failed: ZooKeeper did not answer (%s)", event.kind,
                            exc or type(exc).__name__)
                if event.reply is not None and not event.reply.done():
                    event.reply.set_exception(exc)
            except Exception as exc:
                log.exception("controller event %s failed", event.kind)
                if event.reply is not None and not event.reply.done():
                    event.reply.set_exception(exc)

    # -- becoming controller

    def _on_startup(self, _payload: Any) -> None:
        log.info("broker %d is the controller (epoch %d)", self.broker_id, self.epoch)
        self.brokers = self.zk.brokers(watch=self._watch("brokers"))
        for broker in self.brokers.values():
            self.channels.add(broker.broker_id, broker.host, broker.port)
        for topic in self.zk.topic_names(watch=self._watch("topics")):
            self._load_topic(topic)
        self.deleting = set(self.zk.topics_to_delete(watch=self._watch("deletions")))
        changed = self._start_partitions(list(self.states) + self._partitions_without_state())
        changed |= self._elect_offline(self.states)
        for broker_id in self.brokers:
            self._send_leader_and_isr(broker_id, [tp for tp in self.states if broker_id in self._replicas(tp)])
        self._send_update_metadata(list(self.brokers), list(self.states))
        if self.deleting:
            self._on_deletions(None)
        self._announce(self._complete_moves())

    def _load_topic(self, topic: str) -> None:
        assignment = self.zk.topic_assignment(topic, watch=self._watch("topic", topic))
        if assignment is None:
            return
        self.assignments[topic] = assignment
        for index, replicas in assignment.partitions.items():
            state = self.zk.partition_state(topic, index)
            if state is not None:
                self.states[topic, index] = state
            if assignment.adding.get(index) or assignment.removing.get(index):
                self.moves[topic, index] = Move.recorded(replicas, assignment.adding.get(index, []),
                                                         assignment.removing.get(index, []))

    def _partitions_without_state(self) -> list[TopicPartition]:
        return [(topic, index) for topic, assignment in self.assignments.items()
                for index in assignment.partitions if (topic, index) not in self.states]

    def offline_count(self) -> int:
        """Partitions whose leader is not a live broker (read from the event loop: a snapshot)."""
        return sum(1 for state in list(self.states.values()) if state.leader not in self.brokers)

    def _replicas(self, tp: TopicPartition) -> list[int]:
        return self.assignments[tp[0]].partitions[tp[1]]

    # -- partition state changes

    def _start_partitions(self, partitions: list[TopicPartition]) -> set[TopicPartition]:
        """First state of new partitions: the first live replica leads, live replicas are in sync."""
        new: dict[str, dict[int, LeaderIsr]] = {}
        for tp in partitions:
            if tp in self.states:
                continue
            live = [r for r in self._replicas(tp) if r in self.brokers]
            leader = live[0] if live else NO_LEADER
            new.setdefault(tp[0], {})[tp[1]] = LeaderIsr(leader, 0, live or self._replicas(tp)[:1], self.epoch)
        for topic, states in new.items():
            self.zk.create_partition_states(topic, states)
            for index, state in states.items():
                self.states[topic, index] = state
        return {(topic, index) for topic, states in new.items() for index in states}

    def _elect_offline(self, partitions: Any) -> set[TopicPartition]:
        """Give a leader to every partition among `partitions` whose leader is not alive, and take
        dead brokers out of ISRs; returns the partitions that changed."""
        changed = set()
        for tp in list(partitions):
            state = self.states.get(tp)
            if state is None or tp[0] in self.deleting:
                continue
            live_isr = [r for r in state.isr if r in self.brokers]
            if state.leader in self.brokers and len(live_isr) == len(state.isr):
                continue
            if state.leader in self.brokers and state.leader not in self.shutting_down:
                choice = elections.Choice(state.leader, live_isr)
            else:
                choice = elections.offline(self._replicas(tp), state.isr, self.brokers, self.shutting_down,
                                           self.unclean_election(tp[0]))
                if choice.leader == NO_LEADER and state.leader == NO_LEADER:
                    continue  # still offline, nothing new to say
                if choice.unclean:
                    log.warning("unclean leader election for %s-%d: broker %d leads without the ISR", *tp,
                                choice.leader)
            if self._write(tp, choice.leader, choice.isr):
                changed.add(tp)
        return changed

    def _write(self, tp: TopicPartition, leader: int, isr: list[int]) -> bool:
        """Write a new leader and ISR in the next leader epoch; False when the state node moved on
        since it was read (it is read again, for a later attempt)."""
        state = self.states[tp]
        updated = LeaderIsr(leader, state.leader_epoch + 1, isr, self.epoch, state.version)
        if self.zk.update_partition_state(tp[0], tp[1], updated):
            self.states[tp] = updated
            log.info("%s-%d: leader %d, epoch %d, isr %s", tp[0], tp[1], leader, updated.leader_epoch, isr)
            return True
        fresh = self.zk.partition_state(*tp)
        if fresh is not None:
            self.states[tp] = fresh
        return False

    def _on_brokers_changed(self, _payload: Any) -> None:
        current = self.zk.brokers(watch=self._watch("brokers"))
        joined = [b for b in current if b not in self.brokers or current[b].epoch != self.brokers[b].epoch]
        left = [b for b in self.brokers if b not in current]
        self.brokers = current
        self.shutting_down -= set(left) | set(joined)  # gone, or back in a new session
        for broker_id in left:
            self.channels.remove(broker_id)
            log.info("broker %d left the cluster", broker_id)
        for broker_id in joined:
            broker = current[broker_id]
            self.channels.remove(broker_id)  # a restarted broker: a new connection
            self.channels.add(broker_id, broker.host, broker.port)
            log.info("broker %d joined the cluster at %s:%d", broker_id, broker.host, broker.port)
        affected = [tp for tp, state in self.states.items()
                    if state.leader in left or set(state.isr) & set(left) or state.leader == NO_LEADER]
        changed = self._elect_offline(affected)
        if joined or left:  # every broker hears of the new membership, the newcomers of every partition too
            self._send_update_metadata([b for b in self.brokers if b not in joined], [])
        self._send_update_metadata(joined, list(self.states))
        for broker_id in joined:
            self._send_leader_and_isr(broker_id, [tp for tp in self.states if broker_id in self._replicas(tp)])
        self._announce(changed | self._complete_moves(), skip=set(joined))

    def _announce(self, changed: set[TopicPartition], skip: set[int] = frozenset()) -> None:
        """LeaderAndIsr to the live replicas of changed partitions, UpdateMetadata to every broker."""
        if not changed:
            return
        by_broker: dict[int, list[TopicPartition]] = {}
        for tp in changed:
            for replica in self._replicas(tp):
                if replica in self.brokers and replica not in skip:
                    by_broker.setdefault(replica, []).append(tp)
        for broker_id, partitions in by_broker.items():
            self._send_leader_and_isr(broker_id, partitions)
        self._send_update_metadata([b for b in self.brokers if b not in skip], list(changed))

    def _on_topics_changed(self, _payload: Any) -> None:
        names = set(self.zk.topic_names(watch=self._watch("topics")))
        for topic in names - set(self.assignments):
            self._load_topic(topic)
            log.info("new topic %s with %d partitions", topic, len(self.assignments.get(topic, TopicAssignment(None)).partitions))
        new = self._partitions_without_state()
        self._announce(self._start_partitions(new) | self._elect_offline(new))

    def _on_topic_changed(self, topic: str) -> None:
        """A topic's assignment node changed: new partitions were added."""
        if topic not in self.assignments:
            return
        assignment = self.zk.topic_assignment(topic, watch=self._watch("topic", topic))
        if assignment is None:
            return
        self.assignments[topic] = assignment
        new = [(topic, index) for index in assignment.partitions if (topic, index) not in self.states]
        self._announce(self._start_partitions(new))

    def _on_deletions(self, _payload: Any) -> None:
        self.deleting = set(self.zk.topics_to_delete(watch=self._watch("deletions")))
        for topic in sorted(self.deleting):
            assignment = self.assignments.pop(topic, None)
            partitions = [(t, i) for (t, i) in self.states if t == topic]
            if assignment is not None:
                for broker_id in self.brokers:
                    mine = [i for i, replicas in assignment.partitions.items() if broker_id in replicas]
                    if mine:
                        self._send_delete_replicas(broker_id, topic, mine, LEADER_DURING_DELETE)
            gone = {tp: self.states.pop(tp) for tp in partitions}
            for state in gone.values():
                state.leader = LEADER_DURING_DELETE
            self._send_update_metadata(list(self.brokers), [], deleted=(topic, assignment, gone))
            self.zk.delete_topic(topic)
            log.info("deleted topic %s", topic)
        self.deleting = set()

    def _on_alter_partition(self, request: AlterPartitionRequest) -> AlterPartitionResponse:
        """A leader asks to shrink or expand its ISR (Kafka's AlterPartition, by topic name)."""
        topics = []
        changed = set()
        broker = self.brokers.get(request.broker_id)
        if broker is None or (request.broker_epoch != -1 and broker.epoch != request.broker_epoch):
            return AlterPartitionResponse(error_code=ErrorCode.STALE_BROKER_EPOCH)
        for topic in request.topics:
            results = []
            for wanted in topic.partitions:
                tp = (topic.topic_name, wanted.partition_index)
                state = self.states.get(tp)
                result = AlterPartitionResponse.PartitionData(partition_index=wanted.partition_index)
                if state is None:
                    result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif state.leader != request.broker_id:
                    result.error_code = ErrorCode.NOT_LEADER_OR_FOLLOWER
                elif wanted.leader_epoch != state.leader_epoch:
                    result.error_code = ErrorCode.FENCED_LEADER_EPOCH
                elif wanted.partition_epoch != state.version:
                    result.error_code = ErrorCode.INVALID_UPDATE_VERSION
                elif any(r not in self.brokers or r not in self._replicas(tp) for r in wanted.new_isr) \
                        or any(r in self.shutting_down and r not in state.isr for r in wanted.new_isr) \
                        or state.leader not in wanted.new_isr:
                    result.error_code = ErrorCode.INELIGIBLE_REPLICA
                else:
                    updated = LeaderIsr(state.leader, state.leader_epoch, list(wanted.new_isr), self.epoch,
                                        state.version)
                    if self.zk.update_partition_state(tp[0], tp[1], updated):
                        self.states[tp] = state = updated
                        changed.add(tp)
                        log.info("%s-%d: isr %s (asked by the leader)", tp[0], tp[1], updated.isr)
                    else:
                        result.error_code = ErrorCode.INVALID_UPDATE_VERSION
                if state is not None and result.error_code in (ErrorCode.NONE, ErrorCode.FENCED_LEADER_EPOCH,
                                                               ErrorCode.INVALID_UPDATE_VERSION):
                    result.leader_id, result.leader_epoch = state.leader, state.leader_epoch
                    result.isr, result.partition_epoch = list(state.isr), state.version
                results.append(result)
            topics.append(AlterPartitionResponse.TopicData(topic_name=topic.topic_name, partitions=results))
        if changed:
            self._send_update_metadata(list(self.brokers), list(changed))
            self._announce(self._complete_moves(changed))
        return AlterPartitionResponse(topics=topics)

    def _on_controlled_shutdown(self, request: ControlledShutdownRequest) -> ControlledShutdownResponse:
        """A broker is about to stop (Kafka's ControlledShutdown): its partitions get other leaders
        from the ISR now, and it leaves the ISRs it is in, so that clients and followers move on
        before it goes. Partitions with no other in-sync replica are named in the answer."""
        broker_id = request.broker_id
        broker = self.brokers.get(broker_id)
        if broker is None or (request.broker_epoch != -1 and broker.epoch != request.broker_epoch):
            return ControlledShutdownResponse(error_code=ErrorCode.STALE_BROKER_EPOCH)
        self.shutting_down.add(broker_id)
        changed = set()
        remaining = []
        for tp, state in list(self.states.items()):
            if broker_id not in self._replicas(tp) or len(self._replicas(tp)) == 1:
                continue
            others = [r for r in state.isr if r != broker_id and r in self.brokers and r not in self.shutting_down]
            if state.leader == broker_id:
                leader = elections.offline(self._replicas(tp), others, self.brokers, self.shutting_down,
                                           unclean_allowed=False).leader
                if leader == NO_LEADER:
                    remaining.append(tp)
                    continue
            elif broker_id in state.isr and others:
                leader = state.leader
            else:
                continue
            if self._write(tp, leader, others):
                changed.add(tp)
            else:
                remaining.append(tp)
        log.info("controlled shutdown of broker %d: %d partitions moved on, %d remain", broker_id, len(changed),
                 len(remaining))
        self._announce(changed)
        return ControlledShutdownResponse(error_code=ErrorCode.NONE, remaining_partitions=[
            ControlledShutdownResponse.RemainingPartition(topic_name=t, partition_index=p) for t, p in remaining])

    def _on_elect_leaders(self, request: ElectLeadersRequest) -> ElectLeadersResponse:
        """ElectLeaders, preferred (0) or unclean (1); null partitions mean every partition, and
        then only those that needed an election are answered, as in Kafka."""
        unclean = request.election_type == 1
        everything = request.topic_partitions is None
        wanted = list(self.states) if everything else [(t.topic, p) for t in request.topic_partitions
                                                         for p in t.partitions]
        results: dict[str, list] = {}
        changed = set()
        for tp in wanted:
            error, message = self._elect_one(tp, unclean)
            if error == ErrorCode.NONE:
                changed.add(tp)
            if everything and error == ErrorCode.ELECTION_NOT_NEEDED:
                continue
            results.setdefault(tp[0], []).append(ElectLeadersResponse.PartitionResult(
                partition_id=tp[1], error_code=error, error_message=message))
        self._announce(changed)
        return ElectLeadersResponse(error_code=ErrorCode.NONE, replica_election_results=[
            ElectLeadersResponse.ReplicaElectionResult(topic=topic, partition_result=parts)
            for topic, parts in results.items()])

    def _elect_one(self, tp: TopicPartition, unclean: bool) -> tuple[ErrorCode, str | None]:
        state = self.states.get(tp)
        if state is None or tp[0] in self.deleting:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
        if unclean:
            if state.leader in self.brokers:
                return ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."
            choice = elections.offline(self._replicas(tp), state.isr, self.brokers, self.shutting_down, True)
            if choice.leader == NO_LEADER:
                return ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, "No live replica can lead the partition."
            leader, isr = choice.leader, choice.isr
        else:
            error, leader = elections.preferred(self._replicas(tp), state.leader, state.isr, self.brokers,
                                                self.shutting_down)
            if error == ErrorCode.ELECTION_NOT_NEEDED:
                return error, "Leader election not needed for topic partition."
            if error != ErrorCode.NONE:
                return error, f"Failed to elect leader for partition {tp[0]}-{tp[1]} under strategy preferred."
            isr = state.isr
        if not self._write(tp, leader, isr):
            return ErrorCode.UNKNOWN_SERVER_ERROR, "The partition state changed meanwhile; try again."
        return ErrorCode.NONE, None

    def _on_rebalance(self, _payload: Any) -> None:
        """Preferred leaders back for brokers leading too few of their partitions."""
        unbalanced = elections.out_of_balance(
            [(self._replicas(tp), state.leader) for tp, state in self.states.items() if tp[0] not in self.deleting],
            self.rebalance.threshold_percent)
        if not unbalanced:
            return
        changed = set()
        for tp, state in list(self.states.items()):
            if self._replicas(tp)[0] in unbalanced and self._elect_one(tp, unclean=False)[0] == ErrorCode.NONE:
                changed.add(tp)
        if changed:
            log.info("preferred leaders back for %d partitions of brokers %s", len(changed), sorted(unbalanced))
        self._announce(changed)

    def _on_alter_reassignments(self, request: AlterPartitionReassignmentsRequest
                                ) -> AlterPartitionReassignmentsResponse:
        changed = set()
        topics = []
        for topic in request.topics:
            results = []
            for wanted in topic.partitions:
                tp = (topic.name, wanted.partition_index)
                error, message = self._reassign(tp, wanted.replicas)
                if error == ErrorCode.NONE:
                    changed.add(tp)
                results.append(AlterPartitionReassignmentsResponse.ReassignablePartitionResponse(
                    partition_index=tp[1], error_code=error, error_message=message))
            topics.append(AlterPartitionReassignmentsResponse.ReassignableTopicResponse(name=topic.name,
                                                                                       partitions=results))
        self._announce(changed)
        self._announce(self._complete_moves(changed))
        return AlterPartitionReassignmentsResponse(error_code=ErrorCode.NONE, error_message=None, responses=topics)

    def _reassign(self, tp: TopicPartition, target: list[int] | None) -> tuple[ErrorCode, str | None]:
        """Start (or, with no target, cancel) a move of the partition's replicas."""
        if tp not in self.states or tp[0] in self.deleting:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
        under_way = self.moves.get(tp)
        if target is None:
            if under_way is None:
                return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No ongoing reassignment for this partition."
            move = Move(tuple(under_way.full), under_way.original)  # back: the added replicas go
        else:
            problem = target_problem(list(target), set(self.brokers))
            if problem is not None:
                return problem
            original = under_way.original if under_way else tuple(self._replicas(tp))
            if under_way is None and tuple(target) == original:
                return ErrorCode.NONE, None  # already there
            move = Move(original, tuple(target))
        assignment = self.assignments[tp[0]]
        assignment.partitions[tp[1]] = move.full
        assignment.adding[tp[1]], assignment.removing[tp[1]] = move.adding, move.removing
        self.zk.set_reassignment(tp[0], assignment)
        self.moves[tp] = move
        state = self.states[tp]
        self._write(tp, state.leader, state.isr)  # a new epoch tells every replica, the new ones included
        log.info("%s-%d: moving replicas %s -> %s", tp[0], tp[1], list(move.original), list(move.target))
        return ErrorCode.NONE, None

    def _complete_moves(self, among: Any = None) -> set[TopicPartition]:
        """Finish the moves whose target replicas are all in sync: only they remain, a new leader
        from them if the old one is leaving, and the removed replicas are deleted."""
        changed = set()
        for tp in [tp for tp in (among if among is not None else list(self.moves)) if tp in self.moves]:
            move, state = self.moves[tp], self.states[tp]
            if not all(r in state.isr for r in move.target):
                continue
            isr = [r for r in state.isr if r in move.target]
            leader = state.leader if state.leader in move.target and state.leader in self.brokers else next(
                (r for r in move.target if r in isr and r in self.brokers and r not in self.shutting_down), NO_LEADER)
            if leader == NO_LEADER:
                continue
            assignment = self.assignments[tp[0]]
            assignment.partitions[tp[1]] = list(move.target)
            assignment.adding.pop(tp[1], None)
            assignment.removing.pop(tp[1], None)
            self.zk.set_reassignment(tp[0], assignment)
            del self.moves[tp]
            self._write(tp, leader, isr)
            changed.add(tp)
            for broker_id in move.removing:
                if broker_id in self.brokers:
                    self._send_delete_replicas(broker_id, tp[0], [tp[1]], self.states[tp].leader_epoch)
            log.info("%s-%d: replicas moved to %s", tp[0], tp[1], list(move.target))
        return changed

    def _on_list_reassignments(self, request: ListPartitionReassignmentsRequest
                               ) -> ListPartitionReassignmentsResponse:
        wanted = None if request.topics is None else {(t.name, p) for t in request.topics for p in t.partition_indexes}
        by_topic: dict[str, list] = {}
        for tp, move in sorted(self.moves.items()):
            if wanted is None or tp in wanted:
                by_topic.setdefault(tp[0], []).append(ListPartitionReassignmentsResponse.OngoingPartitionReassignment(
                    partition_index=tp[1], replicas=move.full, adding_replicas=move.adding,
                    removing_replicas=move.removing))
        return ListPartitionReassignmentsResponse(error_code=ErrorCode.NONE, error_message=None, topics=[
            ListPartitionReassignmentsResponse.OngoingTopicReassignment(name=t, partitions=p)
            for t, p in by_topic.items()])

    # -- requests to brokers

    def _send_delete_replicas(self, broker_id: int, topic: str, partitions: list[int], leader_epoch: int) -> None:
        """StopReplica with delete: the broker stops and removes its replicas of these partitions."""
        self.channels.send(broker_id, StopReplicaRequest(
            controller_id=self.broker_id, controller_epoch=self.epoch, broker_epoch=self.brokers[broker_id].epoch,
            topic_states=[StopReplicaRequest.StopReplicaTopicState(topic_name=topic, partition_states=[
                StopReplicaRequest.StopReplicaPartitionState(partition_index=i, leader_epoch=leader_epoch,
                                                             delete_partition=True) for i in partitions])]),
            STOP_REPLICA_VERSION)

    def _partition_state(self, cls: type, tp: TopicPartition, state: LeaderIsr, **extra: Any) -> Any:
        return cls(partition_index=tp[1], controller_epoch=state.controller_epoch, leader=state.leader,
                   leader_epoch=state.leader_epoch, isr=list(state.isr), replicas=list(self._replicas(tp)), **extra)

    def _send_leader_and_isr(self, broker_id: int, partitions: list[TopicPartition]) -> None:
        if not partitions or broker_id not in self.brokers:
            return
        by_topic: dict[str, list] = {}
        for tp in partitions:
            state = self.states[tp]
            by_topic.setdefault(tp[0], []).append(self._partition_state(
                LeaderAndIsrRequest.LeaderAndIsrPartitionState, tp, state, partition_epoch=state.version))
        leaders = {self.states[tp].leader for tp in partitions}
        self.channels.send(broker_id, LeaderAndIsrRequest(
            controller_id=self.broker_id, controller_epoch=self.epoch, broker_epoch=self.brokers[broker_id].epoch,
            topic_states=[LeaderAndIsrRequest.LeaderAndIsrTopicState(
                topic_name=topic, topic_id=self.assignments[topic].topic_id, partition_states=states)
                for topic, states in by_topic.items()],
            live_leaders=[LeaderAndIsrRequest.LeaderAndIsrLiveLeader(
                broker_id=b, host_name=self.brokers[b].host, port=self.brokers[b].port)
                for b in sorted(leaders) if b in self.brokers]), LEADER_AND_ISR_VERSION)

    def _send_update_metadata(self, broker_ids: list[int], partitions: list[TopicPartition],
                              deleted: tuple[str, TopicAssignment | None, dict] | None = None) -> None:
        by_topic: dict[str, list] = {}
        for tp in partitions:
            state = self.states[tp]
            replicas = self._replicas(tp)
            by_topic.setdefault(tp[0], []).append(self._partition_state(
                UpdateMetadataRequest.UpdateMetadataPartitionState, tp, state, zk_version=state.version,
                offline_replicas=[r for r in replicas if r not in self.brokers]))
        topic_ids = {topic: self.assignments[topic].topic_id for topic in by_topic}
        if deleted is not None:
            topic, assignment, gone = deleted
            by_topic[topic] = [UpdateMetadataRequest.UpdateMetadataPartitionState(
                partition_index=tp[1], controller_epoch=self.epoch, leader=LEADER_DURING_DELETE,
                leader_epoch=state.leader_epoch, isr=list(state.isr), zk_version=state.version,
                replicas=list(assignment.partitions.get(tp[1], [])) if assignment else [])
                for tp, state in gone.items()]
            if assignment is not None:
                topic_ids[topic] = assignment.topic_id
        live = [UpdateMetadataRequest.UpdateMetadataBroker(
            id=b.broker_id, rack=b.rack, endpoints=[UpdateMetadataRequest.UpdateMetadataEndpoint(
                port=port, host=host, listener=name, security_protocol=SECURITY_PROTOCOL_IDS.get(protocol, PLAINTEXT))
                for name, protocol, host, port in b.endpoints or [("PLAINTEXT", "PLAINTEXT", b.host, b.port)]])
            for b in self.brokers.values()]
        for broker_id in broker_ids:
            if broker_id not in self.brokers:
                continue
            self.channels.send(broker_id, UpdateMetadataRequest(
                controller_id=self.broker_id, controller_epoch=self.epoch, broker_epoch=self.brokers[broker_id].epoch,
                topic_states=[UpdateMetadataRequest.UpdateMetadataTopicState(
                    topic_name=topic, topic_id=topic_ids[topic], partition_states=states)
                    for topic, states in by_topic.items()],
                live_brokers=live), UPDATE_METADATA_VERSION)
