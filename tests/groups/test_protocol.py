from kbroker.groups.member import ClassicMember
from kbroker.groups.protocol import candidate_protocols, select_protocol, subscribed_topics, supports_protocols
from kbroker.groups.records import abs_java, java_string_hash, partition_for

from helpers import subscription


def member(name: str, *protocols: str, metadata: bytes = b"") -> ClassicMember:
    return ClassicMember(name, None, "c", "h", 1000, 1000, "consumer", [(p, metadata) for p in protocols])


def test_only_protocols_every_member_supports_are_candidates() -> None:
    members = [member("a", "range", "roundrobin"), member("b", "roundrobin", "sticky")]
    assert candidate_protocols(members) == {"roundrobin"}
    assert select_protocol(members) == "roundrobin"


def test_members_vote_for_their_favourite_candidate() -> None:
    members = [member("a", "sticky", "range"), member("b", "range", "sticky"), member("c", "range", "sticky")]
    assert select_protocol(members) == "range"


def test_a_joining_member_needs_a_protocol_everyone_has() -> None:
    members = [member("a", "range", "roundrobin")]
    assert supports_protocols(members, "consumer", "consumer", ["roundrobin"])
    assert not supports_protocols(members, "consumer", "consumer", ["sticky"])
    assert not supports_protocols(members, "consumer", "connect", ["range"])
    assert supports_protocols([], None, "anything", ["x"])
    assert not supports_protocols([], None, "", ["x"])
    assert not supports_protocols([], None, "consumer", [])


def test_subscriptions_are_read_from_consumer_metadata_only() -> None:
    members = [member("a", "range", metadata=subscription("t1", "t2")), member("b", "range", metadata=subscription("t3"))]
    assert subscribed_topics(members, "consumer", "range") == {"t1", "t2", "t3"}
    assert subscribed_topics(members, "connect", "range") is None
    assert subscribed_topics([member("a", "range", metadata=b"\x00")], "consumer", "range") is None


def test_group_partition_is_javas_string_hash_mod_partitions() -> None:
    assert java_string_hash("test") == 3556498
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert abs_java(-(2**31)) == 0
    assert partition_for("test", 50) == 48
    assert partition_for("polygenelubricants", 50) == 0
    assert 0 <= partition_for("ünïcode-grøup", 50) < 50
