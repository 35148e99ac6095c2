"""kproto: Apache Kafka's wire protocol as a sans-IO library."""

from kproto.exceptions import ProtocolError

__all__ = ["ProtocolError"]
