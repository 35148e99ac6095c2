"""Group configs' own rules: java.time.Duration's grammar for by_duration, and the checks on a group's whole set."""

from __future__ import annotations

import pytest

from kbroker.config import load_broker_config
from kbroker.groups.group_configs import InvalidGroupConfig, check, duration_ms


@pytest.mark.parametrize("text, ms", [("PT1H", 3_600_000), ("P1D", 86_400_000), ("PT0.5S", 500), ("pt2m", 120_000),
                                      ("P1DT1S", 86_401_000), ("PT", None), ("P", None), ("-PT1H", None), ("1H", None)])
def test_durations_read_as_java_reads_them(text: str, ms: int | None) -> None:
    assert duration_ms(text) == ms


def test_a_group_is_checked_with_the_brokers_values_for_the_keys_it_leaves_out() -> None:
    config = load_broker_config(environ={}, overrides={"group.share.heartbeat.interval.ms": "10000",
                                                       "group.share.min.session.timeout.ms": "6000"})
    assert check({"share.session.timeout.ms": "12000"}, config) == {"share.session.timeout.ms": 12000}
    with pytest.raises(InvalidGroupConfig, match="share.session.timeout.ms must be greater than share.heartbeat"):
        check({"share.session.timeout.ms": "10000"}, config)
