"""Pieces of `kbroker groups` that need no broker: reset scenarios, assignments, tables."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from kproto.codec import encode
from kproto.messages import ConsumerProtocolAssignment

from kbroker.tools.group_admin import decode_assignment
from kbroker.tools.groups import VIEWS, groups, print_table
from kbroker.tools.reset_plan import (
    Scenario,
    export_csv,
    parse_datetime,
    parse_duration,
    parse_topic_specs,
    read_plan,
    scenario_from,
)


def test_durations_read_as_java_duration_parse_reads_them() -> None:
    assert parse_duration("PT1H") == 3_600_000
    assert parse_duration("P1DT2H30M") == (26 * 60 + 30) * 60_000
    assert parse_duration("PT15.5S") == 15_500
    for bad in ("P", "1H", "PT", "P1H"):
        with pytest.raises(click.BadParameter):
            parse_duration(bad)


def test_datetimes_take_an_optional_zone() -> None:
    assert parse_datetime("2024-05-01T12:00:00.000Z") == 1_714_564_800_000
    assert parse_datetime("2024-05-01T14:00:00+02:00") == 1_714_564_800_000
    with pytest.raises(click.BadParameter):
        parse_datetime("yesterday")


def test_exactly_one_scenario() -> None:
    assert scenario_from(False, False, None, None, -3, None) == Scenario("shift", -3)
    assert scenario_from(False, False, None, None, None, "PT1S", now_ms=5000) == Scenario("timestamp", 4000)
    with pytest.raises(click.UsageError):
        scenario_from(True, True, None, None, None, None)
    with pytest.raises(click.UsageError):
        scenario_from(False, False, None, None, None, None)


def test_plans_export_as_csv_and_read_back(tmp_path) -> None:
    plans = {"app": {("orders", 1): 7, ("orders", 0): 3}, "a,b": {("t", 0): 0}}
    assert export_csv({"app": plans["app"]}, with_group=False) == "orders,0,3\norders,1,7\n"
    text = export_csv(plans, with_group=True)
    assert text == 'app,orders,0,3\napp,orders,1,7\n"a,b",t,0,0\n'
    path = tmp_path / "plan.csv"
    path.write_text(text + "\n")
    assert read_plan(path, ("app", "a,b")) == plans
    assert read_plan(path, ("app",)) == plans  # four columns: the groups come from the file
    path.write_text("orders,0,3\n\norders,1,7\n")
    assert read_plan(path, ("app",)) == {"app": plans["app"]}
    from_file = scenario_from(False, False, None, None, None, None, path, ("app",))
    assert from_file == Scenario("file", plans={"app": plans["app"]})
    for bad in ("orders,zero,3\n", "orders,0\n"):
        path.write_text(bad)
        with pytest.raises(click.BadParameter, match="line 1"):
            read_plan(path, ("app",))
    with pytest.raises(click.BadParameter):
        read_plan(tmp_path / "missing.csv", ("app",))


def test_topic_specs_with_and_without_partitions() -> None:
    assert parse_topic_specs(("a", "b:2,0")) == {"a": None, "b": [0, 2]}
    with pytest.raises(click.BadParameter):
        parse_topic_specs(("b:x",))


def test_consumer_assignments_decode_whatever_their_version() -> None:
    body = ConsumerProtocolAssignment(assigned_partitions=[
        ConsumerProtocolAssignment.TopicPartition(topic="t", partitions=[1, 0])])
    for version in (0, 3):
        data = version.to_bytes(2, "big") + encode(body, version)
        assert decode_assignment(data) == [("t", 0), ("t", 1)]
    assert decode_assignment(b"") == []


def test_tables_pad_columns_and_print_missing_values_as_dashes(capsys) -> None:
    print_table(VIEWS["reset"], [{"group": "g", "topic": "t", "partition": 0, "new_offset": None}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ""
    assert lines[1] == "GROUP".ljust(30) + " " + "TOPIC".ljust(30) + " PARTITION  NEW-OFFSET"
    assert lines[2] == "g".ljust(30) + " " + "t".ljust(30) + " 0          -"


def test_one_action_is_required() -> None:
    result = CliRunner().invoke(groups, ["--list", "--delete"])
    assert result.exit_code == 2 and "exactly one of" in result.output
