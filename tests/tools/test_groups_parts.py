"""Pieces of `kbroker groups` that need no broker: reset scenarios, assignments, tables."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from kproto.codec import encode
from kproto.messages import ConsumerProtocolAssignment

from kbroker.tools.group_admin import Group, Listing, Member, decode_assignment
from kbroker.tools.group_views import (
    RESET_COLUMNS,
    assignment_text,
    list_columns,
    listing_row,
    member_row,
    members_columns,
    offsets_columns,
    print_table,
    state_columns,
    state_row,
)
from kbroker.tools.groups import groups
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
    assert scenario_from(False, False, None, None, None, None, to_current=True) == Scenario("current")
    with pytest.raises(click.UsageError):
        scenario_from(False, True, None, None, None, None, to_current=True)
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
    print_table(RESET_COLUMNS, [{"group": "g", "topic": "t", "partition": 0, "new_offset": None}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ""
    assert lines[1] == "GROUP".ljust(30) + " " + "TOPIC".ljust(30) + " PARTITION  NEW-OFFSET"
    assert lines[2] == "g".ljust(30) + " " + "t".ljust(30) + " 0          -"


def test_assignments_read_as_kafka_prints_them() -> None:
    assert assignment_text({"b": [0], "a": [2, 10, 1]}) == "a:1,10,2;b:0"  # partitions sorted as text
    assert assignment_text({}) == "-"


def classic_and_kip848_members() -> tuple[Group, Group]:
    classic = Group("g", "Stable", "consumer", "range", (1, "127.0.0.1:9092"),
                    [Member("m-1", "app", "/127.0.0.1", [("t", 0), ("t", 1)])])
    kip848 = Group("h", "Stable", "consumer", "uniform", (1, "127.0.0.1:9092"),
                   [Member("m-2", "app", "/127.0.0.1", [("t", 1)], "static-1", 5, [("t", 0), ("t", 1)])],
                   group_type="Consumer", group_epoch=5, target_assignment_epoch=5)
    return classic, kip848


def test_members_view_gains_instance_ids_and_epochs(capsys) -> None:
    classic, kip848 = classic_and_kip848_members()
    rows = [member_row(classic, m) for m in classic.members]
    print_table(members_columns(rows, verbose=True), rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
                                "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]
    assert lines[2].split() == ["g", "m-1", "/127.0.0.1", "app", "2", "-", "t:0,1", "-", "-"]
    assert lines[1].index("#PARTITIONS") + 16 == lines[1].index("CURRENT-EPOCH")  # 15 wide, then a space
    rows = [member_row(kip848, m) for m in kip848.members]
    print_table(members_columns(rows, verbose=False), rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
    print_table(members_columns(rows, verbose=True), rows)
    assert capsys.readouterr().out.splitlines()[2].split() == [
        "h", "m-2", "static-1", "/127.0.0.1", "app", "1", "5", "t:1", "5", "t:0,1"]


def test_state_and_offsets_views_with_and_without_verbose(capsys) -> None:
    classic, kip848 = classic_and_kip848_members()
    for group, verbose, expected in [
            (classic, False, ["g", "127.0.0.1:9092", "(1)", "range", "Stable", "1"]),
            (classic, True, ["g", "127.0.0.1:9092", "(1)", "range", "Stable", "-", "-", "1"]),
            (kip848, True, ["h", "127.0.0.1:9092", "(1)", "uniform", "Stable", "5", "5", "1"])]:
        print_table(state_columns(verbose), [state_row(group)])
        header, row = capsys.readouterr().out.splitlines()[1:]
        assert header.split()[-3:] == (["GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS"] if verbose
                                       else ["ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"])
        assert row.split() == expected
        assert "127.0.0.1:9092  (1)" in row  # two spaces, as Kafka writes the coordinator
    assert [h for h, _, _ in offsets_columns(True)][:5] == ["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH",
                                                            "CURRENT-OFFSET"]
    assert "LEADER-EPOCH" not in [h for h, _, _ in offsets_columns(False)]


def test_list_table_pads_the_group_column_ten_past_the_longest_name(capsys) -> None:
    rows = [listing_row(Listing("a-rather-long-group-name", "consumer", "stable", "classic")),
            listing_row(Listing("old", "", "", ""))]
    assert [(r["type"], r["state"]) for r in rows] == [("Classic", "Stable"), ("Unknown", "Unknown")]
    print_table(list_columns(rows, with_type=True, with_state=True), rows, blank_line=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "GROUP".ljust(34) + " " + "TYPE".ljust(20) + " STATE"
    assert lines[1] == "a-rather-long-group-name".ljust(34) + " " + "Classic".ljust(20) + " Stable"


@pytest.mark.parametrize("args, message", [
    (["--describe", "--group", "g", "--members", "--state"], "at most one of"),
    (["--describe", "--group", "g", "--state", "Stable"], "does not take a value for --state"),
    (["--list", "--verbose"], "go with --describe"),
    (["--describe", "--group", "g", "--type"], "--type goes with --list"),
    (["--delete", "--group", "g", "--state"], "--state goes with --describe or --list"),
    (["--list", "--state", "stable,sleepy"], "Invalid state list 'stable,sleepy'. Valid states are:"),
    (["--list", "--type", "classic,other"], "Invalid types list 'classic,other'. Valid types are: Consumer, Classic"),
    (["--describe", "--group", "g", "--topic", "t"], "--topic goes with --reset-offsets or --delete-offsets"),
    (["--delete", "--group", "g", "--topic", "t"], "does not support topic-specific offset deletion"),
])
def test_sub_options_are_checked_before_any_broker_is_asked(args: list[str], message: str) -> None:
    result = CliRunner().invoke(groups, [*args, "--bootstrap-server", "127.0.0.1:1"])
    assert result.exit_code == 2 and message in result.output


def test_one_action_is_required() -> None:
    result = CliRunner().invoke(groups, ["--list", "--delete"])
    assert result.exit_code == 2 and "exactly one of" in result.output
