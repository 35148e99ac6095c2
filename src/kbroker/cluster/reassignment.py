"""Moving a partition's replicas between brokers (KIP-455), as Kafka's controller does it.

While a move is under way the partition has every replica of both sets: the target replicas
first (so the first of them is the preferred leader), then the original ones not in the target.
New replicas fetch until they join the ISR; once every target replica is in sync, the partition
keeps only the target set (a new leader from it if the old one is leaving) and the removed
replicas are stopped and deleted. ZooKeeper's topic node records the replicas being added and
removed, so a new controller carries on with a move its predecessor started.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto import ErrorCode


@dataclass(frozen=True)
class Move:
    original: tuple[int, ...]
    target: tuple[int, ...]

    @property
    def full(self) -> list[int]:
        return list(self.target) + [r for r in self.original if r not in self.target]

    @property
    def adding(self) -> list[int]:
        return [r for r in self.target if r not in self.original]

    @property
    def removing(self) -> list[int]:
        return [r for r in self.original if r not in self.target]

    @classmethod
    def recorded(cls, full: list[int], adding: list[int], removing: list[int]) -> Move:
        """The move a topic node's replica lists describe."""
        return cls(tuple(r for r in full if r not in adding), tuple(r for r in full if r not in removing))


def target_problem(target: list[int], registered: set[int]) -> tuple[ErrorCode, str] | None:
    """Why a requested replica list cannot be a partition's, in Kafka's words; None if it can."""
    if not target:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."
    if len(set(target)) != len(target):
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes duplicate replicas."
    unknown = [r for r in target if r not in registered]
    if unknown:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, (
            f"The manual partition assignment includes broker {unknown[0]}, but no such broker is registered.")
    return None
