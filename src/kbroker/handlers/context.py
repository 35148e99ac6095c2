"""What a handler knows about the request it is answering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kproto.messages import RequestHeader

if TYPE_CHECKING:
    from kbroker.node import Node


@dataclass(slots=True)
class RequestContext:
    broker: Node
    header: RequestHeader
    client_host: str
    #: Who sent the request: the connection's authenticated principal.
    principal: str = "User:ANONYMOUS"
    #: The name of the listener the request came in on (None where no listener is involved).
    listener: str | None = None
    #: The request's size in bytes, header included, as Kafka counts it against producer_byte_rate.
    size: int = 0
    #: Milliseconds a byte-rate quota throttles this client for, set by Produce and Fetch.
    throttle_time_ms: int = 0
    #: Set for requests no client quota applies to: a follower's fetch.
    quota_exempt: bool = False
    #: Set by a handler to have the connection closed after the response (or instead of it).
    close_connection: bool = False
    #: (partition answer, future of its error code) for a produce whose answer waits: for a
    #: flush.messages flush, and for replication (acks=all in a cluster).
    flush_waits: list[tuple[Any, Any]] = field(default_factory=list)
    replication_waits: list[tuple[Any, Any]] = field(default_factory=list)

    @property
    def api_version(self) -> int:
        return self.header.request_api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or ""
