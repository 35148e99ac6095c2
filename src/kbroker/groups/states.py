"""The classic group state machine, written as data.

A classic group moves through five states. The table below is the whole rule book: a
transition is legal only when the current state is listed among the target's allowed previous
states, exactly as Apache Kafka's ClassicGroupState defines them. Everything else in the
coordinator asks this module instead of comparing states ad hoc.

    Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
    CompletingRebalance --leader's SyncGroup--> Stable
    Stable / CompletingRebalance --join, leave, expiry--> PreparingRebalance
    PreparingRebalance --nobody rejoined--> Empty
    any --group deleted or unloaded--> Dead
"""

from __future__ import annotations

import enum


class GroupState(enum.Enum):
    """The state names are the strings Kafka puts on the wire (DescribeGroups, ListGroups)."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


EMPTY = GroupState.EMPTY
PREPARING_REBALANCE = GroupState.PREPARING_REBALANCE
COMPLETING_REBALANCE = GroupState.COMPLETING_REBALANCE
STABLE = GroupState.STABLE
DEAD = GroupState.DEAD

#: target state -> the states a group may be in to move there
VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    EMPTY: frozenset({PREPARING_REBALANCE}),
    PREPARING_REBALANCE: frozenset({STABLE, COMPLETING_REBALANCE, EMPTY}),
    COMPLETING_REBALANCE: frozenset({PREPARING_REBALANCE}),
    STABLE: frozenset({COMPLETING_REBALANCE}),
    DEAD: frozenset({STABLE, PREPARING_REBALANCE, COMPLETING_REBALANCE, EMPTY, DEAD}),
}

#: states from which a join, leave or expiry starts a new rebalance
CAN_REBALANCE = VALID_PREVIOUS[PREPARING_REBALANCE]


class IllegalTransition(RuntimeError):
    """A bug in the coordinator: it tried a move the table forbids."""


def check_transition(current: GroupState, target: GroupState) -> None:
    if current not in VALID_PREVIOUS[target]:
        raise IllegalTransition(f"group cannot move from {current} to {target}")


def parse_state(name: str) -> GroupState | None:
    """A state from a ListGroups filter: Kafka compares them case-insensitively."""
    wanted = name.strip().lower()
    return next((state for state in GroupState if state.value.lower() == wanted), None)
