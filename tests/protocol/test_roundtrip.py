"""Every message class at every version: encode, decode, compare, and encode again to the same bytes.

Values come from strategies derived from the descriptions (see spec_strategies). A second set
of tests injects tagged fields kproto does not know into flexible encodings and checks that they
survive decoding and are written back unchanged, as Kafka's own classes do.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.codec import decode, encode, uvarint
from kproto.model import Message
from spec_strategies import all_message_classes, message, versions

CASES = [pytest.param(cls, v, id=f"{cls.__name__}-v{v}") for cls in all_message_classes() for v in versions(cls)]
FLEXIBLE = [p for p in CASES if p.values[0].SPEC.is_flexible(p.values[1])]

#: Tags far above any Kafka assigns, so they are unknown to every struct.
UNKNOWN_TAGS = st.dictionaries(st.integers(1000, 1 << 20), st.binary(max_size=10), min_size=1, max_size=3)

SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


def roundtrip(cls: type[Message], version: int, obj: Message) -> bytes:
    data = encode(obj, version)
    back = decode(cls, version, data)
    assert back == obj
    assert encode(back, version) == data
    return data


@pytest.mark.parametrize(("cls", "version"), CASES)
def test_defaults_round_trip(cls: type[Message], version: int) -> None:
    roundtrip(cls, version, cls())


@pytest.mark.parametrize(("cls", "version"), CASES)
def test_random_values_round_trip(cls: type[Message], version: int) -> None:
    """In flexible versions the object also carries unknown tags, sometimes."""
    tags = UNKNOWN_TAGS if cls.SPEC.is_flexible(version) else st.none()

    @SETTINGS
    @given(message(cls, version), st.none() | tags)
    def check(obj: Message, unknown: dict[int, bytes] | None) -> None:
        obj._unknown_tags = unknown
        roundtrip(cls, version, obj)

    check()


#: Tags above any Kafka assigns; one value long enough to need a two-byte size.
INJECTED = {1000: b"x", 5000: bytes(130), 70000: b""}


@pytest.mark.parametrize(("cls", "version"), FLEXIBLE)
def test_unknown_tags_injected_into_bytes_survive(cls: type[Message], version: int) -> None:
    """A message with no tagged field set ends in an empty tag section; replace it with unknown tags."""
    obj = cls()
    data = encode(obj, version)
    assert data.endswith(b"\x00")
    section = [uvarint(len(INJECTED))]
    for tag in sorted(INJECTED):
        section += [uvarint(tag), uvarint(len(INJECTED[tag])), INJECTED[tag]]
    injected = data[:-1] + b"".join(section)
    back = decode(cls, version, injected)
    assert back._unknown_tags == INJECTED
    assert encode(back, version) == injected
    back._unknown_tags = None
    assert back == obj
