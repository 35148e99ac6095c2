import pytest

from kbroker.groups.states import (
    COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE, VALID_PREVIOUS, GroupState, IllegalTransition,
    check_transition, parse_state,
)

ALLOWED = {
    (PREPARING_REBALANCE, EMPTY), (EMPTY, PREPARING_REBALANCE), (STABLE, PREPARING_REBALANCE),
    (COMPLETING_REBALANCE, PREPARING_REBALANCE), (PREPARING_REBALANCE, COMPLETING_REBALANCE),
    (COMPLETING_REBALANCE, STABLE),
    (STABLE, DEAD), (PREPARING_REBALANCE, DEAD), (COMPLETING_REBALANCE, DEAD), (EMPTY, DEAD), (DEAD, DEAD),
}


@pytest.mark.parametrize("current", list(GroupState))
@pytest.mark.parametrize("target", list(GroupState))
def test_every_transition_follows_kafkas_table(current: GroupState, target: GroupState) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_table_covers_every_state() -> None:
    assert set(VALID_PREVIOUS) == set(GroupState)


def test_state_names_parse_case_insensitively() -> None:
    assert parse_state(" stable ") is STABLE
    assert parse_state("PREPARINGREBALANCE") is PREPARING_REBALANCE
    assert parse_state("nope") is None
    assert str(COMPLETING_REBALANCE) == "CompletingRebalance"
