"""Share group requests by hand, for tests that need an exact answer field."""

from __future__ import annotations

import uuid

from kproto.messages import MetadataRequest, ShareFetchRequest, ShareFetchResponse

from rawclient import RawClient


def topic_id(client: RawClient, topic: str) -> uuid.UUID:
    return client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                          12).topics[0].topic_id


def open_session(client: RawClient, group: str, member: str, topic: str, wait_ms: int = 0) -> ShareFetchResponse:
    """ShareFetch v1 at epoch 0 for partition 0 of `topic`: opens the member's share session and takes what it can."""
    R = ShareFetchRequest
    return client.request(R(group_id=group, member_id=member, share_session_epoch=0, max_wait_ms=wait_ms, min_bytes=1,
                            max_records=100, batch_size=100, topics=[R.FetchTopic(
                                topic_id=topic_id(client, topic), partitions=[R.FetchPartition(partition_index=0)])]),
                          1)
