"""Base classes of the generated message classes.

Generated classes declare `__slots__` and a keyword-only `__init__`; these bases give them
equality, a readable repr and conversion to plain dicts, all driven by `__slots__`.

A decoded struct leaves a struct-valued field unset when the bytes did not carry it (a tagged
field such as FetchResponse's `diverging_epoch`, or a field its version lacks): most are never
read, and making a struct of defaults for each would cost more than the rest of the decode.
`lazy_default` gives such a class a `__getattr__` that makes the struct of defaults on first
read and keeps it, so the field reads, compares and changes as if it had been set all along.
Only those few classes get the hook: any `__getattr__` makes every attribute read of its class
slower.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, ClassVar
from uuid import UUID

from kproto.schema.types import MessageSpec

ZERO_UUID = UUID(int=0)

#: Slot holding tagged fields this version of kproto does not know: {tag: raw bytes}, or None.
UNKNOWN_TAGS = "_unknown_tags"


class Struct:
    """A value of one of Kafka's structs: a message body or an element of an array field."""

    __slots__ = ()
    #: Every slot's value at once, in slot order: one C call, for equality.
    _values: ClassVar[Callable[[Any], Any]]
    #: Field name -> class, for fields a decoder may leave unset (see `lazy_default`).
    _lazy_defaults: ClassVar[dict[str, Callable[[], Struct]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__slots__:
            cls._values = attrgetter(*cls.__slots__)

    def _fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.__slots__ if name != UNKNOWN_TAGS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        values = self._values
        return values(self) == values(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__qualname__}({inner})"

    def to_dict(self) -> dict[str, Any]:
        """The value as nested dicts and lists, for logging, JSON output and tests."""
        return {name: _plain(getattr(self, name)) for name in self._fields()}

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        """For copy and pickle: a decoded record set, a view of its frame, goes as bytes (views do not pickle)."""
        state = {}
        for name in self.__slots__:
            value = getattr(self, name)
            state[name] = bytes(value) if type(value) is memoryview else value
        return None, state


class Message(Struct):
    """A top-level message: a request, a response, a header or a data record."""

    __slots__ = ()
    SPEC: ClassVar[MessageSpec]
    API_KEY: ClassVar[int | None] = None


def lazy_default(cls: type[Struct], name: str, make: Callable[[], Struct]) -> None:
    """Let instances of `cls` leave field `name` unset: its first read stores and returns `make()`."""
    if "_lazy_defaults" not in cls.__dict__:
        cls._lazy_defaults = {}
        cls.__getattr__ = _made_on_first_read  # type: ignore[attr-defined]
    cls._lazy_defaults[name] = make


def _made_on_first_read(self: Struct, name: str) -> Any:
    """Called only for a slot that is unset: fill a lazily defaulted field, refuse anything else."""
    make = type(self)._lazy_defaults.get(name)
    if make is None:
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)
    value = make()
    setattr(self, name, value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
