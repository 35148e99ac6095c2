"""Compatibility levels and what each checks, as Confluent's registry defines them.

BACKWARD: the new schema reads data written with the previous one (consumers upgrade first).
FORWARD: the previous schema reads data written with the new one (producers upgrade first).
FULL: both. The _TRANSITIVE forms check against every live version, not just the latest.
NONE checks nothing.
"""

from __future__ import annotations

from kbroker.registry import errors
from kbroker.registry.schemas import ParsedSchema

LEVELS = ("NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE")
DEFAULT_LEVEL = "BACKWARD"


def level_named(value: object) -> str:
    """The level a request names (any case), or INVALID_COMPATIBILITY_LEVEL (42203)."""
    level = value.upper() if isinstance(value, str) else None
    if level not in LEVELS:
        raise errors.invalid_compatibility(value)
    return level


def problems(level: str, new: ParsedSchema, previous: list[ParsedSchema]) -> list[str]:
    """Why `new` may not follow `previous` (oldest first) under `level`; empty when it may."""
    if level == "NONE" or not previous:
        return []
    against = previous if level.endswith("_TRANSITIVE") else previous[-1:]
    kind = level.removesuffix("_TRANSITIVE")
    found: list[str] = []
    for old in reversed(against):
        if kind in ("BACKWARD", "FULL"):
            found += [f"reader {problem}" for problem in new.read_problems(old)]
        if kind in ("FORWARD", "FULL"):
            found += [f"writer {problem}" for problem in old.read_problems(new)]
        if found:
            break
    return found
