"""bench.stored's pure parts: when it measures, how probe samples become stalls, the table."""

from __future__ import annotations

from bench.stored import render, schedule, stalls


def test_schedule_measures_after_each_quarter_up_to_the_target():
    assert schedule(20, 4) == [5, 10, 15, 20]
    assert schedule(1, 2) == [0.5, 1]


def test_consecutive_slow_probes_are_one_stall_worst_first():
    ms = 1_000_000
    samples = [(0, 2.0), (10 * ms, 150.0), (20 * ms, 400.0), (30 * ms, 120.0), (40 * ms, 3.0),
               (50 * ms, 900.0), (60 * ms, 1.0)]
    assert stalls(list(reversed(samples)), threshold_ms=100) == [(50 * ms, 900.0, 1), (10 * ms, 400.0, 3)]


def test_a_stall_at_the_end_of_the_samples_is_counted():
    assert stalls([(0, 1.0), (1, 200.0)], threshold_ms=100) == [(1, 200.0, 1)]
    assert stalls([(0, 1.0)], threshold_ms=100) == []


def test_table_has_a_column_per_point_and_only_rows_some_point_has():
    table = render([("empty", {"produce MB/s": 512.345, "open files": 80}),
                    ("5 GB", {"produce MB/s": 0.5, "open files": 97, "stored GB": 5.01})]).splitlines()
    assert table[0] == "| measure | empty | 5 GB |"
    assert table[1] == "|---|---|---|"
    assert table[2:] == ["| stored GB | - | 5.01 |", "| produce MB/s | 512 | 0.500 |", "| broker open files | 80 | 97 |"]
