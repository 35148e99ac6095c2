"""Hypothesis strategies derived from kproto's message descriptions.

`message(cls, version)` draws objects that are valid at that version: every field on the wire
gets a value in range for its type (null where the version allows it), tagged fields are
sometimes set and sometimes left at their defaults, and fields absent from the version keep
their defaults, so that encoding never refuses the object.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from kproto import messages
from kproto.model import Message
from kproto.schema.types import FieldSpec, StructSpec

INT_RANGES = {
    "int8": (-(1 << 7), (1 << 7) - 1),
    "int16": (-(1 << 15), (1 << 15) - 1),
    "uint16": (0, (1 << 16) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "uint32": (0, (1 << 32) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
}

#: Small collections keep deep messages (Fetch, Metadata) quick to draw and encode.
MAX_ITEMS = 2

ZERO_UUID = UUID(int=0)
KEEP = object()  # drawn for a tagged field that keeps its default


def all_message_classes() -> list[type[Message]]:
    return [getattr(messages, name) for name in sorted(messages.MODULES)]


def scalar(type_name: str) -> st.SearchStrategy[Any]:
    """Values of one of Kafka's primitive types."""
    if type_name in INT_RANGES:
        low, high = INT_RANGES[type_name]
        return st.integers(low, high) | st.sampled_from([low, high, 0, -1 if low else 1])
    if type_name == "bool":
        return st.booleans()
    if type_name == "float64":
        return st.floats(allow_nan=False)
    if type_name == "string":
        return st.text(max_size=12)
    if type_name in ("bytes", "records"):
        return st.binary(max_size=24)
    if type_name == "uuid":
        return st.uuids() | st.just(ZERO_UUID)
    raise AssertionError(f"no strategy for {type_name}")


def field_value(owner: type[Message], f: FieldSpec, version: int) -> st.SearchStrategy[Any]:
    """Values a field may hold at `version` (the caller has checked that it is on the wire)."""
    if f.is_array:
        element = (struct_value(owner, f.struct, version) if f.struct is not None
                   else scalar(f.element_type))
        values: st.SearchStrategy[Any] = st.lists(element, max_size=MAX_ITEMS)
    elif f.struct is not None:
        values = struct_value(owner, f.struct, version)
    else:
        values = scalar(f.type)
    if f.nullable_in(version):
        values = st.none() | values
    return values


@lru_cache(maxsize=None)
def struct_value(owner: type[Message], spec: StructSpec, version: int) -> st.SearchStrategy[Any]:
    """Objects of one struct (or the message itself) with the fields of `version` drawn."""
    cls = owner if spec is owner.SPEC.body else getattr(owner, spec.name)
    flexible = owner.SPEC.is_flexible(version)
    drawn: dict[str, st.SearchStrategy[Any]] = {}
    for f in spec.fields:
        if not f.present_in(version):
            continue  # absent fields keep their defaults
        values = st.deferred(lambda f=f: field_value(owner, f, version))
        if flexible and f.tagged_in(version):
            values = st.just(KEEP) | values  # a tagged field is often left at its default
        drawn[f.attr] = values

    def build(kwargs: dict[str, Any]) -> Any:
        return cls(**{name: value for name, value in kwargs.items() if value is not KEEP})

    return st.fixed_dictionaries(drawn).map(build)


def message(cls: type[Message], version: int) -> st.SearchStrategy[Message]:
    """Objects of `cls` valid for encoding at `version`."""
    return struct_value(cls, cls.SPEC.body, version)


def versions(cls: type[Message]) -> range:
    low, high = cls.SPEC.versions
    return range(low, high + 1)
