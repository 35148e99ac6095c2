"""Base classes of the generated message classes.

Generated classes declare `__slots__` and a keyword-only `__init__`; these bases give them
equality, a readable repr and conversion to plain dicts, all driven by `__slots__`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from kproto.schema.types import MessageSpec

ZERO_UUID = UUID(int=0)

#: Slot holding tagged fields this version of kproto does not know: {tag: raw bytes}, or None.
UNKNOWN_TAGS = "_unknown_tags"


class Struct:
    """A value of one of Kafka's structs: a message body or an element of an array field."""

    __slots__ = ()

    def _fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.__slots__ if name != UNKNOWN_TAGS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__qualname__}({inner})"

    def to_dict(self) -> dict[str, Any]:
        """The value as nested dicts and lists, for logging, JSON output and tests."""
        return {name: _plain(getattr(self, name)) for name in self._fields()}


class Message(Struct):
    """A top-level message: a request, a response, a header or a data record."""

    __slots__ = ()
    SPEC: ClassVar[MessageSpec]
    API_KEY: ClassVar[int | None] = None


def _plain(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
