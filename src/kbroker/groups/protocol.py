"""Choosing a classic group's protocol, and reading the consumer protocol's subscriptions.

Each member lists the protocols (assignors, for consumers) it supports in order of preference.
The group may only use a protocol every member supports; among those, each member votes for its
own favourite and the most voted wins, as in Kafka. Kafka leaves ties to hash-map order; we break
them by the order of first appearance in the members' votes, so the result is deterministic.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Iterable

from kproto import ProtocolError
from kproto.codec import compiled
from kproto.messages import ConsumerProtocolSubscription

from kbroker.groups.member import ClassicMember

CONSUMER_PROTOCOL_TYPE = "consumer"


def candidate_protocols(members: Iterable[ClassicMember]) -> set[str]:
    """The protocols every member supports."""
    common: set[str] | None = None
    for member in members:
        names = set(member.protocol_names())
        common = names if common is None else common & names
    return common or set()


def select_protocol(members: list[ClassicMember]) -> str:
    if not members:
        raise ValueError("an empty group has no protocol")
    candidates = candidate_protocols(members)
    votes = Counter(member.vote(candidates) for member in members)
    return max(votes, key=votes.__getitem__)  # first of the best: Counter keeps insertion order


def supports_protocols(members: list[ClassicMember], group_protocol_type: str | None, protocol_type: str,
                       protocols: Iterable[str]) -> bool:
    """Whether a member with these protocols may join: an empty group takes anything non-empty;
    otherwise the type must match and one of its protocols must be supported by every member."""
    names = list(protocols)
    if not members:
        return bool(protocol_type) and bool(names)
    if group_protocol_type != protocol_type:
        return False
    common = candidate_protocols(members)
    return any(name in common for name in names)


def subscribed_topics(members: list[ClassicMember], protocol_type: str | None,
                      protocol: str | None) -> set[str] | None:
    """The topics a consumer group's members subscribe to, or None when unknown.

    Only the `consumer` protocol type has readable metadata; every version of its subscription
    starts with version 0's fields, so reading those is enough.
    """
    if protocol_type != CONSUMER_PROTOCOL_TYPE:
        return None
    if not members:
        return set()
    if protocol is None:
        return None
    topics: set[str] = set()
    for member in members:
        data = member.metadata(protocol)
        try:
            subscription = decode_subscription_v0(data)
        except (ProtocolError, struct.error, ValueError):
            return None
        topics.update(subscription.topics)
    return topics


def decode_subscription_v0(data: bytes) -> ConsumerProtocolSubscription:
    """The v0 prefix of a consumer subscription (version int16, then the v0 fields); later
    versions only append fields, so trailing bytes are expected and ignored."""
    if len(data) < 2:
        raise ValueError("subscription too short")
    obj, _ = compiled(ConsumerProtocolSubscription, 0)[0](bytes(data), 2, len(data))
    return obj
