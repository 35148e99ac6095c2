"""The registries' election: the assignment names one leader for every member, keeps it while it
is a member, and only writing requests are sent to it."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import make_mocked_request
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from kbroker.registry.forward import writes
from kbroker.registry.leader import LeaderAssignor


def members(*urls: str) -> dict[str, ConsumerProtocolMemberMetadata]:
    return {f"member-{url}": ConsumerProtocolMemberMetadata(0, ["_schemas"], json.dumps({"url": url}).encode())
            for url in urls}


def leaders(assignor: LeaderAssignor, *urls: str) -> set[str]:
    told: list[str | None] = []
    assignor.on_leader = told.append
    for assignment in assignor.assign(None, members(*urls)).values():  # type: ignore[arg-type]
        assert assignment.assignment == []
        assignor.on_assignment(assignment)
    return set(told)  # type: ignore[arg-type]


def test_one_leader_kept_while_it_is_a_member() -> None:
    assignor = LeaderAssignor("http://b:1", lambda url: None)
    assert leaders(assignor, "http://b:1", "http://c:1") == {"http://b:1"}
    assert leaders(assignor, "http://a:1", "http://b:1", "http://c:1") == {"http://b:1"}  # no change for a newcomer
    assert leaders(assignor, "http://a:1", "http://c:1") == {"http://a:1"}  # the leader left
    metadata = assignor.metadata(["_schemas"])
    assert json.loads(metadata.user_data) == {"url": "http://b:1"}


@pytest.mark.parametrize("method, path, forwarded", [
    ("POST", "/subjects/s/versions", True),
    ("POST", "/subjects/s", False),                              # a lookup
    ("POST", "/compatibility/subjects/s/versions/latest", False),
    ("PUT", "/config/s", True),
    ("DELETE", "/subjects/s/versions/1", True),
    ("GET", "/subjects", False),
])
def test_only_writes_are_forwarded(method: str, path: str, forwarded: bool) -> None:
    assert writes(make_mocked_request(method, path)) is forwarded
