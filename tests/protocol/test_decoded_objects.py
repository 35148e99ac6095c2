"""What decoding hands out: record sets as views of the frame, tagged structs made on first read,
UUIDs made without UUID's argument checks, lengths read inline. Each must behave exactly as the
plain values a caller builds with the message classes.
"""

from __future__ import annotations

import copy
import pickle
from uuid import UUID, uuid4

import pytest

from kproto import ProtocolError, codec
from kproto.codec import decode, encode, read_uuid, read_uvarint, uvarint
from kproto.messages import (
    FetchResponse,
    HeartbeatResponse,
    MetadataResponse,
    ProduceRequest,
    SaslAuthenticateRequest,
)


def fetch_response(records: bytes, **partition: object) -> FetchResponse:
    return FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic_id=UUID(int=7), partitions=[
        FetchResponse.PartitionData(partition_index=0, high_watermark=10, records=records, **partition)])])


def only_partition(response: FetchResponse) -> FetchResponse.PartitionData:
    return response.responses[0].partitions[0]


# ---------------------------------------------------------------- tagged structs of defaults


def test_absent_tagged_struct_reads_as_its_defaults() -> None:
    decoded = only_partition(decode(FetchResponse, 18, encode(fetch_response(b"r"), 18)))
    assert decoded.diverging_epoch == FetchResponse.EpochEndOffset()
    assert decoded.current_leader == FetchResponse.LeaderIdAndEpoch(leader_id=-1, leader_epoch=-1)
    assert decoded.snapshot_id.end_offset == -1
    assert decoded.current_leader is decoded.current_leader, "made once, then kept"
    assert decoded == only_partition(fetch_response(b"r"))


def test_absent_tagged_struct_changes_like_any_field() -> None:
    """A default made on first read belongs to its object: changing it is written, and shared by none."""
    data = encode(fetch_response(b"r"), 18)
    first, second = (only_partition(decode(FetchResponse, 18, data)) for _ in range(2))
    first.current_leader.leader_id = 3
    assert second.current_leader.leader_id == -1
    again = only_partition(decode(FetchResponse, 18, encode(FetchResponse(responses=[
        FetchResponse.FetchableTopicResponse(topic_id=UUID(int=7), partitions=[first])]), 18)))
    assert again.current_leader == FetchResponse.LeaderIdAndEpoch(leader_id=3, leader_epoch=-1)
    second.snapshot_id = FetchResponse.SnapshotId(end_offset=5, epoch=1)
    assert second.snapshot_id.end_offset == 5


def test_absent_tagged_struct_in_every_view_of_the_object() -> None:
    decoded = decode(FetchResponse, 18, encode(fetch_response(b"r"), 18))
    partition = only_partition(decoded)
    assert "diverging_epoch=FetchResponse.EpochEndOffset(epoch=-1, end_offset=-1)" in repr(only_partition(
        decode(FetchResponse, 18, encode(fetch_response(b"r"), 18))))
    assert partition.to_dict()["current_leader"] == {"leader_id": -1, "leader_epoch": -1}
    for twin in (copy.copy(decoded), copy.deepcopy(decoded), pickle.loads(pickle.dumps(decoded))):
        assert twin == decoded
        assert encode(twin, 18) == encode(decoded, 18)


def test_present_tagged_struct_is_decoded() -> None:
    leader = FetchResponse.LeaderIdAndEpoch(leader_id=2, leader_epoch=9)
    decoded = only_partition(decode(FetchResponse, 18, encode(fetch_response(b"r", current_leader=leader), 18)))
    assert decoded.current_leader == leader
    assert decoded.diverging_epoch == FetchResponse.EpochEndOffset()


def test_unknown_attributes_still_fail() -> None:
    decoded = only_partition(decode(FetchResponse, 18, encode(fetch_response(b"r"), 18)))
    with pytest.raises(AttributeError, match="no attribute 'leader'"):
        decoded.leader  # noqa: B018 - the read is the test
    assert not hasattr(decoded, "leader")


def test_a_struct_field_a_version_lacks_reads_as_its_defaults() -> None:
    """Fetch v11 has no tagged fields at all: the v12 structs are defaults there."""
    data = encode(fetch_response(b"r"), 11)
    decoded = decode(FetchResponse, 11, data)
    assert only_partition(decoded).snapshot_id == FetchResponse.SnapshotId()
    assert encode(decoded, 11) == data


# ---------------------------------------------------------------- record sets


@pytest.mark.parametrize("size", [0, 1, 126, 127, 128, 16382, 16383, 16384, 70000])
def test_records_decode_as_a_read_only_view(size: int) -> None:
    """Sizes either side of the one-, two- and three-byte compact lengths."""
    records = bytes(range(256)) * (size // 256) + bytes(size % 256)
    request = ProduceRequest(acks=-1, timeout_ms=100, topic_data=[ProduceRequest.TopicProduceData(
        topic_id=UUID(int=1), partition_data=[ProduceRequest.PartitionProduceData(index=0, records=records)])])
    data = encode(request, 13)
    decoded = decode(ProduceRequest, 13, data).topic_data[0].partition_data[0].records
    assert isinstance(decoded, memoryview) and decoded.readonly
    assert decoded == records and bytes(decoded) == records and len(decoded) == size
    assert decode(ProduceRequest, 13, data) == request
    assert encode(decode(ProduceRequest, 13, data), 13) == data


def test_records_decoded_from_a_bytearray_are_writable_views_of_it() -> None:
    """The broker stamps a produced batch where it was received: no copy of the frame."""
    frame = bytearray(encode(fetch_response(b"batch"), 16))
    decoded = only_partition(decode(FetchResponse, 16, frame))
    assert not decoded.records.readonly
    decoded.records[:2] = b"BA"
    assert bytes(decoded.records) == b"BAtch" and b"BAtch" in frame


def test_messages_without_records_copy_a_mutable_buffer() -> None:
    """Their bytes fields are bytes, which the caller's later writes cannot change."""
    frame = bytearray(encode(SaslAuthenticateRequest(auth_bytes=b"secret"), 2))
    decoded = decode(SaslAuthenticateRequest, 2, frame)
    frame[:] = bytes(len(frame))
    assert decoded.auth_bytes == b"secret" and type(decoded.auth_bytes) is bytes


@pytest.mark.parametrize("size", [200, 20000])
def test_truncated_multi_byte_lengths_name_the_field(size: int) -> None:
    """Two- and three-byte compact lengths: cut inside the varint, or short of what it declares."""
    data = encode(SaslAuthenticateRequest(auth_bytes=bytes(size)), 2)
    length = uvarint(size + 1)
    for cut in range(1, len(length)):
        with pytest.raises(ProtocolError, match=r"SaslAuthenticateRequest\.AuthBytes: truncated varint at byte \d"):
            decode(SaslAuthenticateRequest, 2, data[:cut])
    records = encode(fetch_response(bytes(size)), 16)
    at = records.index(length + bytes(8)) + len(length)  # where the record set starts
    with pytest.raises(ProtocolError, match=rf"PartitionData\.Records: length {size} at byte {at} exceeds"):
        decode(FetchResponse, 16, records[:at + size - 1])


# ---------------------------------------------------------------- uuids and varints


def test_read_uuid_makes_what_uuid_makes() -> None:
    for value in (uuid4(), UUID(int=1), UUID(int=(1 << 128) - 1)):
        made = read_uuid(value.bytes)
        assert made == value and hash(made) == hash(value) and str(made) == str(value)
        assert made.is_safe == value.is_safe and made.version == value.version
        assert pickle.loads(pickle.dumps(made)) == value
        with pytest.raises(TypeError):
            made.int = 5  # UUIDs stay immutable
    assert read_uuid(bytes(16)) == UUID(int=0)


def test_topic_ids_decode_to_uuids() -> None:
    topic_id = uuid4()
    response = MetadataResponse(topics=[MetadataResponse.MetadataResponseTopic(name="t", topic_id=topic_id)])
    assert decode(MetadataResponse, 12, encode(response, 12)).topics[0].topic_id == topic_id


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21, (1 << 28) - 1, 1 << 28,
                                   (1 << 32) - 1, (1 << 35) - 1])
def test_read_uvarint_near_and_far_from_the_end(value: int) -> None:
    """With bytes to spare after the varint or none: both read the same."""
    encoded = uvarint(value)
    for padding in (0, 1, 5):
        data = b"\x00" + encoded + bytes(padding)
        assert read_uvarint(data, 1, len(data), "x") == (value, 1 + len(encoded))


@pytest.mark.parametrize("padding", [0, 5])
def test_read_uvarint_refuses_six_bytes(padding: int) -> None:
    data = b"\xff" * 5 + b"\x01" + bytes(padding)
    with pytest.raises(ProtocolError, match="x: varint longer than 5 bytes at byte 0"):
        read_uvarint(data, 0, len(data), "x")


def test_uuid_cache_stays_bounded() -> None:
    """Decoded UUIDs are kept for reuse (topic ids repeat), but a stream of new ones cannot grow the cache."""
    ids = [uuid4() for _ in range(codec._UUIDS_KEPT + 100)]
    assert [read_uuid(u.bytes) for u in ids] == ids
    assert len(codec._UUIDS) <= codec._UUIDS_KEPT
    assert read_uuid(ids[-1].bytes) is read_uuid(ids[-1].bytes)


def test_a_fixed_run_and_the_byte_after_it_are_checked_as_one_but_named_apart() -> None:
    data = encode(HeartbeatResponse(throttle_time_ms=5, error_code=0), 4)  # int32, int16, tag count
    with pytest.raises(ProtocolError, match=r"ThrottleTimeMs\.\.ErrorCode: needs 6 bytes at byte 0, 3 left"):
        decode(HeartbeatResponse, 4, data[:3])
    with pytest.raises(ProtocolError, match=r"HeartbeatResponse tagged fields: needs 1 bytes at byte 6, 0 left"):
        decode(HeartbeatResponse, 4, data[:6])
    fetch = encode(fetch_response(b"r"), 18)  # int32, int16, int32, then the compact count of responses
    with pytest.raises(ProtocolError, match=r"FetchResponse\.Responses: needs 1 bytes at byte 10, 0 left"):
        decode(FetchResponse, 18, fetch[:10])
