"""The vocabulary of kproto's declarative message descriptions.

A description is plain data: which fields a message has, in which versions each one is on the
wire, which versions may carry null, which are tagged, and their defaults. The generated modules
beside this one are written in this vocabulary; `kproto.codec` compiles them into functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Upper bound standing for "and every later version" in an open range such as "3+".
OPEN = 0x7FFF

Versions = tuple[int, int]
NO_VERSIONS: Versions = (0, -1)

#: Kafka's primitive type names, as they appear in the definitions.
PRIMITIVES = frozenset(
    {"bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64",
     "string", "bytes", "records", "uuid"}
)


class _Zero:
    """Marks a field whose default is its type's zero value: 0, False, "", b"", the zero uuid,
    an empty list or a struct of defaults (made fresh for each object)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ZERO"


ZERO = _Zero()


def in_range(version: int, versions: Versions) -> bool:
    return versions[0] <= version <= versions[1]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a struct.

    `type` is Kafka's type name: a primitive, a struct name, or `[]` followed by either.
    `struct` holds the element (or value) struct when the type names one.
    """

    name: str  # Kafka's name, e.g. "ThrottleTimeMs"
    attr: str  # the Python attribute, e.g. "throttle_time_ms"
    type: str
    versions: Versions
    nullable: Versions = NO_VERSIONS
    tag: int | None = None
    tagged: Versions = NO_VERSIONS
    default: Any = ZERO  # the Python value; None is null
    ignorable: bool = False
    flexible: Versions | None = None  # field-level override (only RequestHeader.ClientId)
    struct: StructSpec | None = None

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    def present_in(self, version: int) -> bool:
        return in_range(version, self.versions)

    def nullable_in(self, version: int) -> bool:
        return in_range(version, self.nullable)

    def tagged_in(self, version: int) -> bool:
        return self.tag is not None and in_range(version, self.tagged)


@dataclass(frozen=True, slots=True)
class StructSpec:
    """A named group of fields: a message body or a nested struct."""

    name: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """A top-level description: a request, a response, a header or a data record."""

    name: str
    kind: str  # "request", "response", "header" or "data"
    api_key: int | None
    versions: Versions
    flexible: Versions
    body: StructSpec
    sources: tuple[tuple[str, Versions], ...] = field(default=())  # definition file, versions it owns
    deprecated: Versions = NO_VERSIONS
    latest_unstable: bool = False

    def is_flexible(self, version: int) -> bool:
        return in_range(version, self.flexible)
