"""Every API a single node serves (its dispatch table), at every version, with a realistic request.

A handler that sets a response field its version does not have makes the broker fail to encode
its own answer and close the connection (ListOffsets v0 did, for any existing partition); a
handler that trips on an old request's shape does the same. Stock clients each use one version
per API, so only a sweep over all of them finds these. Each case asks about things that exist
(a topic with records, a group with a member and offsets, an open transaction), decodes the
answer at that version, and accepts no error code but those Kafka gives for the same request.
"""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import pytest

from kbroker.handlers import HANDLERS
from kbroker.log.metadata import uuid_to_str
from kbroker.security.scram import salted_password
from kproto import ErrorCode
from kproto.codec import encode
from kproto.messages import (
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AlterClientQuotasRequest, AlterConfigsRequest,
    AlterPartitionReassignmentsRequest, AlterShareGroupOffsetsRequest, AlterUserScramCredentialsRequest,
    ApiVersionsRequest,
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerProtocolSubscription, CreateAclsRequest,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest, DeleteGroupsRequest, DeleteRecordsRequest,
    DeleteShareGroupOffsetsRequest, DeleteShareGroupStateRequest, DeleteTopicsRequest, DescribeAclsRequest,
    DescribeClientQuotasRequest, DescribeClusterRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    DescribeLogDirsRequest, DescribeProducersRequest, DescribeShareGroupOffsetsRequest,
    DescribeTopicPartitionsRequest, DescribeTransactionsRequest, DescribeUserScramCredentialsRequest,
    ElectLeadersRequest, EndTxnRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    IncrementalAlterConfigsRequest, InitProducerIdRequest, InitializeShareGroupStateRequest, JoinGroupRequest,
    LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, ListPartitionReassignmentsRequest,
    ListTransactionsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, ReadShareGroupStateRequest, ReadShareGroupStateSummaryRequest,
    SaslAuthenticateRequest, SaslHandshakeRequest, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupDescribeRequest, ShareGroupHeartbeatRequest, SyncGroupRequest, TxnOffsetCommitRequest,
    WriteShareGroupStateRequest, WriteTxnMarkersRequest,
)
from kproto.protocol import request_class
from kproto.records import Record, build_batch, build_message_set

from rawclient import RawClient

pytestmark = pytest.mark.broker_config({"group.initial.rebalance.delay.ms": "0"})

SESSION_MS = 30_000


def error_codes(value: Any) -> set[int]:
    """Every `*error_code` anywhere in a decoded answer."""
    found: set[int] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("error_code"):
                found.add(item)
            found |= error_codes(item)
    elif isinstance(value, list):
        for item in value:
            found |= error_codes(item)
    return found


def named(error: int) -> str:
    return ErrorCode(error).name if error in ErrorCode._value2member_map_ else str(error)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def records(count: int = 3, *, producer_id: int = -1, epoch: int = -1, sequence: int = -1,
            transactional: bool = False) -> bytes:
    return build_batch([Record(i, int(time.time() * 1000), b"k%d" % i, b"v%d" % i) for i in range(count)],
                       producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                       transactional=transactional)


def subscription(topic: str) -> bytes:
    """A consumer protocol v0 subscription, what a classic consumer puts in JoinGroup."""
    return struct.pack(">h", 0) + encode(ConsumerProtocolSubscription(topics=[topic]), 0)


class World:
    """What the cases ask about, made when the module starts: a topic with records from a plain
    and an idempotent producer, a classic group with a member and committed offsets, an open
    transaction, a KIP-848 group and a share group. The helpers make more, each at one version a
    current client uses."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.node_id = client.request(MetadataRequest(topics=[]), 12).brokers[0].node_id
        self.topic = self.create_topic()
        [found] = self.ok(client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
            name=self.topic)]), 12)).topics
        self.topic_id, self.leader_epoch = found.topic_id, found.partitions[0].leader_epoch
        idempotent = self.ok(client.request(InitProducerIdRequest(transactional_id=None), 4))
        self.produce(self.topic, records(producer_id=idempotent.producer_id, epoch=idempotent.producer_epoch,
                                         sequence=0))
        self.produce(self.topic, records())
        self.group = fresh("every-api-group")
        self.commit(self.group, self.topic)
        self.sync(self.group, *self.join(self.group))
        self.transactional_id, producer_id, epoch = self.transaction()
        self.add_partition(self.transactional_id, producer_id, epoch, self.topic)
        self.consumer_group = fresh("every-api-848")
        self.ok(client.request(ConsumerGroupHeartbeatRequest(
            group_id=self.consumer_group, member_id=str(uuid.uuid4()), member_epoch=0,
            rebalance_timeout_ms=SESSION_MS, subscribed_topic_names=[self.topic], topic_partitions=[]), 1))
        self.share_state_group = fresh("every-api-state")  # a share partition with state, for the coordinator's APIs
        self.ok(client.request(InitializeShareGroupStateRequest(group_id=self.share_state_group, topics=[
            InitializeShareGroupStateRequest.InitializeStateData(topic_id=self.topic_id, partitions=[
                InitializeShareGroupStateRequest.PartitionData(partition=0, state_epoch=0, start_offset=0)])]), 0))
        self.share_group, self.share_member = fresh("every-api-share"), str(uuid.uuid4())
        self.ok(client.request(ShareGroupHeartbeatRequest(
            group_id=self.share_group, member_id=self.share_member, member_epoch=0,
            subscribed_topic_names=[self.topic]), 1))

    def ok(self, response: Any) -> Any:
        errors = error_codes(response.to_dict()) - {ErrorCode.NONE}
        assert not errors, f"setup failed: {sorted(map(named, errors))}: {response}"
        return response

    def create_topic(self, partitions: int = 2) -> str:
        name = fresh("every-api")
        self.ok(self.client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=name, num_partitions=partitions, replication_factor=1)], timeout_ms=10_000), 5))
        return name

    def produce(self, topic: str, data: bytes, transactional_id: str | None = None) -> None:
        self.ok(self.client.request(ProduceRequest(
            transactional_id=transactional_id, acks=-1, timeout_ms=10_000, topic_data=[
                ProduceRequest.TopicProduceData(name=topic, partition_data=[
                    ProduceRequest.PartitionProduceData(index=0, records=data)])]), 9))

    def commit(self, group: str, topic: str, offset: int = 1) -> None:
        self.ok(self.client.request(OffsetCommitRequest(group_id=group, topics=[
            OffsetCommitRequest.OffsetCommitRequestTopic(name=topic, partitions=[
                OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=offset)])]), 8))

    def join(self, group: str) -> tuple[str, int]:
        """A consumer alone in `group` (JoinGroup v5, retried with the member id it is given)."""
        request = JoinGroupRequest(group_id=group, session_timeout_ms=SESSION_MS, rebalance_timeout_ms=SESSION_MS,
                                   protocol_type="consumer", protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
                                       name="range", metadata=subscription(self.topic))])
        answer = self.client.request(request, 5)
        if answer.error_code == ErrorCode.MEMBER_ID_REQUIRED:
            request.member_id = answer.member_id
            answer = self.client.request(request, 5)
        self.ok(answer)
        return answer.member_id, answer.generation_id

    def sync(self, group: str, member: str, generation: int) -> None:
        self.ok(self.client.request(SyncGroupRequest(
            group_id=group, generation_id=generation, member_id=member,
            assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=member, assignment=b"")]), 3))

    def transaction(self) -> tuple[str, int, int]:
        """A transactional id with a producer id and epoch, no transaction open yet."""
        transactional_id = fresh("every-api-txn")
        answer = self.ok(self.client.request(InitProducerIdRequest(
            transactional_id=transactional_id, transaction_timeout_ms=60_000), 4))
        return transactional_id, answer.producer_id, answer.producer_epoch

    def add_partition(self, transactional_id: str, producer_id: int, epoch: int, topic: str) -> None:
        self.ok(self.client.request(AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=transactional_id, v3_and_below_producer_id=producer_id,
            v3_and_below_producer_epoch=epoch, v3_and_below_topics=[
                AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=[0])]), 3))


@pytest.fixture(scope="module")
def world(shared_broker) -> Iterator[World]:
    with RawClient(shared_broker.bootstrap_server) as client:
        yield World(client)


@dataclass
class Probe:
    """Sends at the version under test and checks the answer; `world` has the things to ask about."""

    world: World
    client: RawClient
    version: int

    def send(self, request: Any, allowed: Iterable[int] = ()) -> Any:
        answer = self.client.request(request, self.version)
        unexpected = error_codes(answer.to_dict()) - {ErrorCode.NONE, *allowed}
        assert not unexpected, (f"{type(request).__name__} v{self.version} answered "
                                f"{sorted(map(named, unexpected))}: {answer}")
        return answer


CASES: dict[int, Callable[[Probe], None]] = {}


def case(request: type) -> Callable[[Callable[[Probe], None]], Callable[[Probe], None]]:
    def register(func: Callable[[Probe], None]) -> Callable[[Probe], None]:
        CASES[request.API_KEY] = func
        return func
    return register


@case(ProduceRequest)
def produce(p: Probe) -> None:
    """v0-1 clients send magic 0 message sets, v2 magic 1, v3+ record batches."""
    data = build_message_set([Record(0, int(time.time() * 1000), b"k", b"v")], magic=min(p.version, 1)) \
        if p.version < 3 else records()
    p.send(ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
        name=p.world.topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=data)])]))


@case(FetchRequest)
def fetch(p: Probe) -> None:
    by_id = p.version >= 13
    p.send(FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, session_epoch=0, topics=[FetchRequest.FetchTopic(
        topic="" if by_id else p.world.topic, topic_id=p.world.topic_id if by_id else uuid.UUID(int=0),
        partitions=[FetchRequest.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])]))


@case(ListOffsetsRequest)
def list_offsets(p: Probe) -> None:
    """Latest, earliest and by time at every version; the special timestamps from where they came."""
    timestamps = [-1, -2, int(time.time() * 1000) - 60_000]
    timestamps += [t for t, since in ((-3, 7), (-4, 8), (-5, 9)) if p.version >= since]
    for timestamp in timestamps:
        p.send(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            name=p.world.topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(
                partition_index=0, timestamp=timestamp, max_num_offsets=10 if p.version == 0 else 1)])]))


@case(MetadataRequest)
def metadata(p: Probe) -> None:
    v = p.version
    for topics in ([MetadataRequest.MetadataRequestTopic(name=p.world.topic)], None if v >= 1 else []):
        request = MetadataRequest(allow_auto_topic_creation=False if v >= 4 else True,
                                  include_cluster_authorized_operations=8 <= v <= 10,
                                  include_topic_authorized_operations=v >= 8)
        request.topics = topics
        p.send(request)


@case(OffsetCommitRequest)
def offset_commit(p: Probe) -> None:
    """v0 commits for a group with no members; later versions as the member of a group."""
    group = fresh("every-api-commit")
    member, generation = p.world.join(group) if p.version >= 1 else ("", -1)
    if member:
        p.world.sync(group, member, generation)
    p.send(OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=generation, member_id=member, topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=p.world.topic, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=2,
                                                             committed_metadata="m")])]))


@case(OffsetFetchRequest)
def offset_fetch(p: Probe) -> None:
    w = p.world
    if p.version < 8:
        p.send(OffsetFetchRequest(group_id=w.group, require_stable=p.version >= 7, topics=[
            OffsetFetchRequest.OffsetFetchRequestTopic(name=w.topic, partition_indexes=[0, 1])]))
    else:
        p.send(OffsetFetchRequest(require_stable=True, groups=[OffsetFetchRequest.OffsetFetchRequestGroup(
            group_id=w.group, topics=[OffsetFetchRequest.OffsetFetchRequestTopics(name=w.topic,
                                                                               partition_indexes=[0, 1])])]))


@case(FindCoordinatorRequest)
def find_coordinator(p: Probe) -> None:
    keys = [(0, p.world.group)] + ([(1, p.world.transactional_id)] if p.version >= 1 else []) + \
        ([(2, f"{p.world.share_group}:{uuid_to_str(p.world.topic_id)}:0")] if p.version >= 6 else [])
    for key_type, key in keys:
        if p.version < 4:
            p.send(FindCoordinatorRequest(key=key, key_type=key_type))
        else:
            p.send(FindCoordinatorRequest(key_type=key_type, coordinator_keys=[key]))


@case(JoinGroupRequest)
def join_group(p: Probe) -> None:
    v = p.version
    request = JoinGroupRequest(group_id=fresh("every-api-join"), session_timeout_ms=SESSION_MS,
                               rebalance_timeout_ms=SESSION_MS if v >= 1 else -1, protocol_type="consumer",
                               protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
                                   name="range", metadata=subscription(p.world.topic))],
                               reason="probe" if v >= 8 else None)
    answer = p.send(request, allowed=[ErrorCode.MEMBER_ID_REQUIRED])
    if answer.error_code == ErrorCode.MEMBER_ID_REQUIRED:
        request.member_id = answer.member_id
        answer = p.send(request)
    assert answer.member_id and answer.leader == answer.member_id


@case(HeartbeatRequest)
def heartbeat(p: Probe) -> None:
    group = fresh("every-api-hb")
    member, generation = p.world.join(group)
    p.world.sync(group, member, generation)
    p.send(HeartbeatRequest(group_id=group, generation_id=generation, member_id=member))


@case(LeaveGroupRequest)
def leave_group(p: Probe) -> None:
    group = fresh("every-api-leave")
    member, _ = p.world.join(group)
    if p.version < 3:
        p.send(LeaveGroupRequest(group_id=group, member_id=member))
    else:
        p.send(LeaveGroupRequest(group_id=group, members=[LeaveGroupRequest.MemberIdentity(
            member_id=member, reason="probe" if p.version >= 5 else None)]))


@case(SyncGroupRequest)
def sync_group(p: Probe) -> None:
    group = fresh("every-api-sync")
    member, generation = p.world.join(group)
    v5 = p.version >= 5
    p.send(SyncGroupRequest(group_id=group, generation_id=generation, member_id=member,
                            protocol_type="consumer" if v5 else None, protocol_name="range" if v5 else None,
                            assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=member,
                                                                                     assignment=b"")]))


@case(DescribeGroupsRequest)
def describe_groups(p: Probe) -> None:
    p.send(DescribeGroupsRequest(groups=[p.world.group, fresh("every-api-none")],
                                 include_authorized_operations=p.version >= 3))


@case(ListGroupsRequest)
def list_groups(p: Probe) -> None:
    p.send(ListGroupsRequest())
    if p.version >= 4:
        p.send(ListGroupsRequest(states_filter=["Stable", "Empty"],
                                 types_filter=["classic", "consumer"] if p.version >= 5 else []))


@case(ApiVersionsRequest)
def api_versions(p: Probe) -> None:
    v3 = p.version >= 3
    p.send(ApiVersionsRequest(client_software_name="kbroker-compat" if v3 else "",
                              client_software_version="1.0" if v3 else ""))


@case(CreateTopicsRequest)
def create_topics(p: Probe) -> None:
    for validate_only in ([False, True] if p.version >= 1 else [False]):
        p.send(CreateTopicsRequest(validate_only=validate_only, timeout_ms=10_000, topics=[
            CreateTopicsRequest.CreatableTopic(name=fresh("every-api-new"), num_partitions=2, replication_factor=1,
                                               configs=[CreateTopicsRequest.CreatableTopicConfig(
                                                   name="retention.ms", value="3600000")])]))


@case(DeleteTopicsRequest)
def delete_topics(p: Probe) -> None:
    if p.version < 6:
        p.send(DeleteTopicsRequest(topic_names=[p.world.create_topic()], timeout_ms=10_000))
        return
    by_name = p.world.create_topic()
    p.send(DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name=by_name)], timeout_ms=10_000))
    by_id = p.world.create_topic()
    [found] = p.client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=by_id)]), 12).topics
    p.send(DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(topic_id=found.topic_id)],
                               timeout_ms=10_000))


@case(DeleteRecordsRequest)
def delete_records(p: Probe) -> None:
    topic = p.world.create_topic(1)
    p.world.produce(topic, records())
    p.send(DeleteRecordsRequest(timeout_ms=10_000, topics=[DeleteRecordsRequest.DeleteRecordsTopic(
        name=topic, partitions=[DeleteRecordsRequest.DeleteRecordsPartition(partition_index=0, offset=1)])]))


@case(InitProducerIdRequest)
def init_producer_id(p: Probe) -> None:
    p.send(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=0))
    p.send(InitProducerIdRequest(transactional_id=fresh("every-api-init"), transaction_timeout_ms=60_000))


@case(OffsetForLeaderEpochRequest)
def offset_for_leader_epoch(p: Probe) -> None:
    w = p.world
    p.send(OffsetForLeaderEpochRequest(topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
        topic=w.topic, partitions=[OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
            partition=0, leader_epoch=w.leader_epoch,
            current_leader_epoch=w.leader_epoch if p.version >= 2 else -1)])]))


@case(AddPartitionsToTxnRequest)
def add_partitions_to_txn(p: Probe) -> None:
    """v0-3 from producers; v4+ from brokers verifying, and from producers by the same request."""
    w = p.world
    transactional_id, producer_id, epoch = w.transaction()
    topics = [AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=w.topic, partitions=[0, 1])]
    if p.version < 4:
        p.send(AddPartitionsToTxnRequest(v3_and_below_transactional_id=transactional_id,
                                         v3_and_below_producer_id=producer_id, v3_and_below_producer_epoch=epoch,
                                         v3_and_below_topics=topics))
        return
    for verify_only in (False, True):
        p.send(AddPartitionsToTxnRequest(transactions=[AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction(
            transactional_id=transactional_id, producer_id=producer_id, producer_epoch=epoch,
            verify_only=verify_only, topics=topics)]))


@case(AddOffsetsToTxnRequest)
def add_offsets_to_txn(p: Probe) -> None:
    transactional_id, producer_id, epoch = p.world.transaction()
    p.send(AddOffsetsToTxnRequest(transactional_id=transactional_id, producer_id=producer_id, producer_epoch=epoch,
                                  group_id=p.world.group))


@case(EndTxnRequest)
def end_txn(p: Probe) -> None:
    w = p.world
    for committed in (True, False):
        transactional_id, producer_id, epoch = w.transaction()
        w.add_partition(transactional_id, producer_id, epoch, w.topic)
        w.produce(w.topic, records(producer_id=producer_id, epoch=epoch, sequence=0, transactional=True),
                  transactional_id)
        p.send(EndTxnRequest(transactional_id=transactional_id, producer_id=producer_id, producer_epoch=epoch,
                             committed=committed))


@case(WriteTxnMarkersRequest)
def write_txn_markers(p: Probe) -> None:
    """What an admin client's abort of a hanging transaction sends."""
    w = p.world
    transactional_id, producer_id, epoch = w.transaction()
    w.add_partition(transactional_id, producer_id, epoch, w.topic)
    w.produce(w.topic, records(producer_id=producer_id, epoch=epoch, sequence=0, transactional=True),
              transactional_id)
    p.send(WriteTxnMarkersRequest(markers=[WriteTxnMarkersRequest.WritableTxnMarker(
        producer_id=producer_id, producer_epoch=epoch, transaction_result=False, coordinator_epoch=0,
        topics=[WriteTxnMarkersRequest.WritableTxnMarkerTopic(name=w.topic, partition_indexes=[0])])]))


@case(TxnOffsetCommitRequest)
def txn_offset_commit(p: Probe) -> None:
    w = p.world
    group = fresh("every-api-txn-group")
    transactional_id, producer_id, epoch = w.transaction()
    w.ok(p.client.request(AddOffsetsToTxnRequest(transactional_id=transactional_id, producer_id=producer_id,
                                                 producer_epoch=epoch, group_id=group), 3))
    p.send(TxnOffsetCommitRequest(transactional_id=transactional_id, group_id=group, producer_id=producer_id,
                                  producer_epoch=epoch, topics=[TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(
                                      name=w.topic, partitions=[TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition(
                                          partition_index=0, committed_offset=1)])]))


# ACL resource type 2 (topic), pattern 3 (literal), operation 3 (read), permission 3 (allow)
@case(DescribeAclsRequest)
def describe_acls(p: Probe) -> None:
    p.send(DescribeAclsRequest(resource_type_filter=2, resource_name_filter=p.world.topic, operation=1,
                               permission_type=1), allowed=[ErrorCode.SECURITY_DISABLED])


@case(CreateAclsRequest)
def create_acls(p: Probe) -> None:
    p.send(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
        resource_type=2, resource_name=p.world.topic, principal="User:alice", host="*", operation=3,
        permission_type=3)]), allowed=[ErrorCode.SECURITY_DISABLED])


@case(DeleteAclsRequest)
def delete_acls(p: Probe) -> None:
    p.send(DeleteAclsRequest(filters=[DeleteAclsRequest.DeleteAclsFilter(
        resource_type_filter=2, resource_name_filter=p.world.topic, principal_filter="User:alice", operation=1,
        permission_type=1)]), allowed=[ErrorCode.SECURITY_DISABLED])


@case(DescribeConfigsRequest)
def describe_configs(p: Probe) -> None:
    v = p.version
    every_key = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=p.world.topic)
    every_key.configuration_keys = None  # constructors make a None list []; null asks for every key
    resources = [every_key, DescribeConfigsRequest.DescribeConfigsResource(
        resource_type=4, resource_name=str(p.world.node_id), configuration_keys=["log.retention.ms"])]
    p.send(DescribeConfigsRequest(resources=resources, include_synonyms=v >= 1, include_documentation=v >= 3))


@case(AlterConfigsRequest)
def alter_configs(p: Probe) -> None:
    p.send(AlterConfigsRequest(resources=[AlterConfigsRequest.AlterConfigsResource(
        resource_type=2, resource_name=p.world.create_topic(), configs=[
            AlterConfigsRequest.AlterableConfig(name="retention.ms", value="3600000")])]))


@case(DescribeLogDirsRequest)
def describe_log_dirs(p: Probe) -> None:
    every_dir = DescribeLogDirsRequest()
    every_dir.topics = None
    p.send(every_dir)
    p.send(DescribeLogDirsRequest(topics=[DescribeLogDirsRequest.DescribableLogDirTopic(
        topic=p.world.topic, partitions=[0, 1])]))


@case(CreatePartitionsRequest)
def create_partitions(p: Probe) -> None:
    for validate_only in (True, False):
        grow = CreatePartitionsRequest.CreatePartitionsTopic(name=p.world.create_topic(1), count=3)
        grow.assignments = None  # the broker places the new partitions
        p.send(CreatePartitionsRequest(timeout_ms=10_000, validate_only=validate_only, topics=[grow]))


@case(DeleteGroupsRequest)
def delete_groups(p: Probe) -> None:
    group = fresh("every-api-delete")
    p.world.commit(group, p.world.topic)
    p.send(DeleteGroupsRequest(groups_names=[group]))


@case(ElectLeadersRequest)
def elect_leaders(p: Probe) -> None:
    p.send(ElectLeadersRequest(timeout_ms=10_000, topic_partitions=[ElectLeadersRequest.TopicPartitions(
        topic=p.world.topic, partitions=[0])]), allowed=[ErrorCode.ELECTION_NOT_NEEDED])


@case(IncrementalAlterConfigsRequest)
def incremental_alter_configs(p: Probe) -> None:
    R = IncrementalAlterConfigsRequest
    p.send(R(resources=[R.AlterConfigsResource(resource_type=2, resource_name=p.world.create_topic(), configs=[
        R.AlterableConfig(name="retention.ms", config_operation=0, value="3600000"),
        R.AlterableConfig(name="cleanup.policy", config_operation=2, value="compact")])]))


@case(AlterPartitionReassignmentsRequest)
def alter_partition_reassignments(p: Probe) -> None:
    R = AlterPartitionReassignmentsRequest
    p.send(R(timeout_ms=10_000, topics=[R.ReassignableTopic(name=p.world.topic, partitions=[
        R.ReassignablePartition(partition_index=0, replicas=[p.world.node_id])])]))


@case(ListPartitionReassignmentsRequest)
def list_partition_reassignments(p: Probe) -> None:
    R = ListPartitionReassignmentsRequest
    p.send(R(timeout_ms=10_000, topics=None))
    p.send(R(timeout_ms=10_000, topics=[R.ListPartitionReassignmentsTopics(name=p.world.topic,
                                                                           partition_indexes=[0, 1])]))


@case(OffsetDeleteRequest)
def offset_delete(p: Probe) -> None:
    group = fresh("every-api-offset-delete")
    p.world.commit(group, p.world.topic)
    p.send(OffsetDeleteRequest(group_id=group, topics=[OffsetDeleteRequest.OffsetDeleteRequestTopic(
        name=p.world.topic, partitions=[OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=0)])]))


@case(DescribeClientQuotasRequest)
def describe_client_quotas(p: Probe) -> None:
    p.send(DescribeClientQuotasRequest(components=[DescribeClientQuotasRequest.ComponentData(
        entity_type="client-id", match_type=2, match=None)], strict=False))


@case(AlterClientQuotasRequest)
def alter_client_quotas(p: Probe) -> None:
    R = AlterClientQuotasRequest
    p.send(R(entries=[R.EntryData(entity=[R.EntityData(entity_type="client-id", entity_name=fresh("client"))],
                                  ops=[R.OpData(key="producer_byte_rate", value=1024.0)])]))


@case(SaslHandshakeRequest)
def sasl_handshake(p: Probe) -> None:
    """On a PLAINTEXT listener there is no exchange to be in: ILLEGAL_SASL_STATE, as Kafka answers."""
    p.send(SaslHandshakeRequest(mechanism="PLAIN"), allowed={ErrorCode.ILLEGAL_SASL_STATE})


@case(SaslAuthenticateRequest)
def sasl_authenticate(p: Probe) -> None:
    p.send(SaslAuthenticateRequest(auth_bytes=b"\0alice\0secret"), allowed={ErrorCode.ILLEGAL_SASL_STATE})


@case(AlterUserScramCredentialsRequest)
def alter_user_scram_credentials(p: Probe) -> None:
    R = AlterUserScramCredentialsRequest
    salt = uuid.uuid4().bytes
    p.send(R(deletions=[], upsertions=[R.ScramCredentialUpsertion(
        name=fresh("user"), mechanism=2, iterations=4096, salt=salt,
        salted_password=salted_password("SCRAM-SHA-512", "secret", salt, 4096))]))


@case(DescribeUserScramCredentialsRequest)
def describe_user_scram_credentials(p: Probe) -> None:
    p.send(DescribeUserScramCredentialsRequest(users=None))


@case(DescribeClusterRequest)
def describe_cluster(p: Probe) -> None:
    p.send(DescribeClusterRequest(include_cluster_authorized_operations=True,
                                  include_fenced_brokers=p.version >= 2))


@case(DescribeProducersRequest)
def describe_producers(p: Probe) -> None:
    p.send(DescribeProducersRequest(topics=[DescribeProducersRequest.TopicRequest(name=p.world.topic,
                                                                                  partition_indexes=[0, 1])]))


@case(DescribeTransactionsRequest)
def describe_transactions(p: Probe) -> None:
    p.send(DescribeTransactionsRequest(transactional_ids=[p.world.transactional_id]))


@case(ListTransactionsRequest)
def list_transactions(p: Probe) -> None:
    p.send(ListTransactionsRequest(state_filters=["Ongoing"], duration_filter=0 if p.version >= 1 else -1,
                                   transactional_id_pattern="every-api-.*" if p.version >= 2 else None))


@case(ConsumerGroupHeartbeatRequest)
def consumer_group_heartbeat(p: Probe) -> None:
    """Join (v0 lets the broker name the member, v1 has the client name it), heartbeat, leave."""
    R = ConsumerGroupHeartbeatRequest
    group = fresh("every-api-848-join")
    joined = p.send(R(group_id=group, member_id="" if p.version == 0 else str(uuid.uuid4()), member_epoch=0,
                      rebalance_timeout_ms=SESSION_MS, subscribed_topic_names=[p.world.topic], topic_partitions=[]))
    member = joined.member_id
    p.send(R(group_id=group, member_id=member, member_epoch=joined.member_epoch))
    p.send(R(group_id=group, member_id=member, member_epoch=-1))


@case(ConsumerGroupDescribeRequest)
def consumer_group_describe(p: Probe) -> None:
    p.send(ConsumerGroupDescribeRequest(group_ids=[p.world.consumer_group], include_authorized_operations=True))


@case(DescribeTopicPartitionsRequest)
def describe_topic_partitions(p: Probe) -> None:
    R = DescribeTopicPartitionsRequest
    p.send(R(topics=[R.TopicRequest(name=p.world.topic)], response_partition_limit=1))
    p.send(R(topics=[R.TopicRequest(name=p.world.topic)], cursor=R.Cursor(topic_name=p.world.topic,
                                                                           partition_index=1)))


@case(ShareGroupHeartbeatRequest)
def share_group_heartbeat(p: Probe) -> None:
    """Join, heartbeat, leave."""
    R = ShareGroupHeartbeatRequest
    group = fresh("every-api-share-join")
    joined = p.send(R(group_id=group, member_id=str(uuid.uuid4()), member_epoch=0,
                      subscribed_topic_names=[p.world.topic]))
    p.send(R(group_id=group, member_id=joined.member_id, member_epoch=joined.member_epoch))
    p.send(R(group_id=group, member_id=joined.member_id, member_epoch=-1))


@case(ShareGroupDescribeRequest)
def share_group_describe(p: Probe) -> None:
    p.send(ShareGroupDescribeRequest(group_ids=[p.world.share_group], include_authorized_operations=True))


def share_partitions(request: type, p: Probe, acks: list | None = None) -> list:
    return [request.FetchTopic(topic_id=p.world.topic_id, partitions=[request.FetchPartition(
        partition_index=0, acknowledgement_batches=acks or [])])] if request is ShareFetchRequest else \
        [request.AcknowledgeTopic(topic_id=p.world.topic_id, partitions=[request.AcknowledgePartition(
            partition_index=0, acknowledgement_batches=acks or [])])]


@case(ShareFetchRequest)
def share_fetch(p: Probe) -> None:
    """Open a session (the share partition starts at the latest offset), fetch again, close it."""
    R, member = ShareFetchRequest, str(uuid.uuid4())
    common = dict(group_id=p.world.share_group, member_id=member, max_wait_ms=0, min_bytes=1, max_records=10,
                  batch_size=10)
    p.send(R(share_session_epoch=0, topics=share_partitions(R, p), **common))
    p.send(R(share_session_epoch=1, **common))
    p.send(R(share_session_epoch=-1, **common))


@case(ShareAcknowledgeRequest)
def share_acknowledge(p: Probe) -> None:
    """In a session; a record below the share-partition start offset is settled already: no error."""
    member = str(uuid.uuid4())
    p.client.request(ShareFetchRequest(group_id=p.world.share_group, member_id=member, share_session_epoch=0,
                                       max_wait_ms=0, min_bytes=1, max_records=10, batch_size=10,
                                       topics=share_partitions(ShareFetchRequest, p)), 1)
    R = ShareAcknowledgeRequest
    batch = R.AcknowledgementBatch(first_offset=0, last_offset=0, acknowledge_types=[1])
    p.send(R(group_id=p.world.share_group, member_id=member, share_session_epoch=1,
             topics=share_partitions(R, p, [batch])))
    p.send(R(group_id=p.world.share_group, member_id=member, share_session_epoch=-1))


@case(DescribeShareGroupOffsetsRequest)
def describe_share_group_offsets(p: Probe) -> None:
    R = DescribeShareGroupOffsetsRequest
    p.send(R(groups=[R.DescribeShareGroupOffsetsRequestGroup(group_id=p.world.share_group, topics=[
        R.DescribeShareGroupOffsetsRequestTopic(topic_name=p.world.topic, partitions=[0])])]))
    p.send(R(groups=[R.DescribeShareGroupOffsetsRequestGroup(group_id=p.world.share_group, topics=None)]))


def empty_share_group(p: Probe) -> str:
    """A share group whose one member joined and left: its offsets may be altered and deleted."""
    group, member = fresh("every-api-share-empty"), str(uuid.uuid4())
    p.world.ok(p.client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=0,
                                                           subscribed_topic_names=[p.world.topic]), 1))
    p.world.ok(p.client.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=-1), 1))
    return group


@case(AlterShareGroupOffsetsRequest)
def alter_share_group_offsets(p: Probe) -> None:
    R = AlterShareGroupOffsetsRequest
    p.send(R(group_id=empty_share_group(p), topics=[R.AlterShareGroupOffsetsRequestTopic(
        topic_name=p.world.topic, partitions=[R.AlterShareGroupOffsetsRequestPartition(partition_index=0,
                                                                                       start_offset=0)])]))


@case(DeleteShareGroupOffsetsRequest)
def delete_share_group_offsets(p: Probe) -> None:
    """Altered first, so the group holds the partition whose offset is deleted."""
    group = empty_share_group(p)
    A, R = AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest
    p.world.ok(p.client.request(A(group_id=group, topics=[A.AlterShareGroupOffsetsRequestTopic(
        topic_name=p.world.topic, partitions=[A.AlterShareGroupOffsetsRequestPartition(partition_index=0,
                                                                                       start_offset=0)])]), 0))
    p.send(R(group_id=group, topics=[R.DeleteShareGroupOffsetsRequestTopic(topic_name=p.world.topic)]))


def state_topics(request: type, p: Probe, **fields: Any) -> list:
    """The share partition (topic, partition 0) a share coordinator request names."""
    topic = {InitializeShareGroupStateRequest: "InitializeStateData", ReadShareGroupStateRequest: "ReadStateData",
             WriteShareGroupStateRequest: "WriteStateData", DeleteShareGroupStateRequest: "DeleteStateData",
             ReadShareGroupStateSummaryRequest: "ReadStateSummaryData"}[request]
    return [getattr(request, topic)(topic_id=p.world.topic_id, partitions=[request.PartitionData(partition=0,
                                                                                                 **fields)])]


@case(InitializeShareGroupStateRequest)
def initialize_share_group_state(p: Probe) -> None:
    R = InitializeShareGroupStateRequest
    p.send(R(group_id=fresh("every-api-state"), topics=state_topics(R, p, state_epoch=0, start_offset=0)))


@case(ReadShareGroupStateRequest)
def read_share_group_state(p: Probe) -> None:
    """A share partition whose state the world initialized."""
    R = ReadShareGroupStateRequest
    p.send(R(group_id=p.world.share_state_group, topics=state_topics(R, p, leader_epoch=p.world.leader_epoch)))


@case(WriteShareGroupStateRequest)
def write_share_group_state(p: Probe) -> None:
    R = WriteShareGroupStateRequest
    batch = R.StateBatch(first_offset=0, last_offset=0, delivery_state=2, delivery_count=1)
    p.send(R(group_id=p.world.share_state_group, topics=state_topics(
        R, p, state_epoch=0, leader_epoch=p.world.leader_epoch, start_offset=0, state_batches=[batch])))


@case(DeleteShareGroupStateRequest)
def delete_share_group_state(p: Probe) -> None:
    group = fresh("every-api-state")
    I = InitializeShareGroupStateRequest
    p.client.request(I(group_id=group, topics=state_topics(I, p, state_epoch=0, start_offset=0)), 0)
    p.send(DeleteShareGroupStateRequest(group_id=group, topics=state_topics(DeleteShareGroupStateRequest, p)))


@case(ReadShareGroupStateSummaryRequest)
def read_share_group_state_summary(p: Probe) -> None:
    R = ReadShareGroupStateSummaryRequest
    p.send(R(group_id=p.world.share_state_group, topics=state_topics(R, p, leader_epoch=p.world.leader_epoch)))


# A single node serves all but the inter-broker APIs, which only cluster members advertise.
SERVED = [(key, version) for key, h in sorted(HANDLERS.items()) if h.served(clustered=False)
          for version in range(h.min_version, h.max_version + 1)]


@pytest.mark.parametrize("api_key, version", SERVED,
                         ids=[f"{request_class(k).__name__.removesuffix('Request')}-v{v}" for k, v in SERVED])
def test_every_served_version_answers_a_realistic_request(world: World, shared_broker, api_key: int,
                                                         version: int) -> None:
    with RawClient(shared_broker.bootstrap_server) as client:
        CASES[api_key](Probe(world, client, version))


def test_the_cases_cover_what_the_broker_advertises(world: World) -> None:
    advertised = world.client.request(ApiVersionsRequest(), 3).api_keys
    assert [(k.api_key, v) for k in advertised for v in range(k.min_version, k.max_version + 1)] == SERVED
    assert sorted(CASES) == sorted({key for key, _ in SERVED})
