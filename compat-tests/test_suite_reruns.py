"""The kafka-python suite runner's reruns: a test listed as flaky is run again only when it fails
the way its entry says; any other failure of it counts at once. The suite runs are stood in for,
since what is tested is the runner's choice, not a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_python_suite import run as suite

TEST = "test/integration/test_consumer_integration.py::test_heartbeat_thread"


@pytest.fixture
def flaky(tmp_path: Path) -> suite.Expected:
    listed = tmp_path / "flaky.txt"
    listed.write_text(f"{TEST}  /Timeout/  # a race in the client\n")
    return suite.Expected.load(listed)


def outcomes_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flaky: suite.Expected,
                  first_failure: str) -> suite.Outcomes:
    runs: list[list[str] | None] = []

    def run_suite(bootstrap, workdir, log=None, tests=None, **options):
        runs.append(tests)
        return {TEST: ("failed", first_failure)} if tests is None else {TEST: ("passed", "")}
    monkeypatch.setattr(suite, "run_suite", run_suite)
    return suite.run_with_reruns("127.0.0.1:1", tmp_path, flaky, tmp_path / "suite.log")


def test_a_flaky_test_failing_as_listed_is_run_again(monkeypatch, tmp_path, flaky) -> None:
    outcomes = outcomes_with(monkeypatch, tmp_path, flaky, "Failed: Timeout >120.0s")
    assert outcomes.results[TEST] == ("passed", "")
    assert outcomes.reran == {TEST: "Failed: Timeout >120.0s"}


def test_a_flaky_test_failing_otherwise_counts_at_once(monkeypatch, tmp_path, flaky) -> None:
    outcomes = outcomes_with(monkeypatch, tmp_path, flaky, "AssertionError: assert last_recv > start")
    assert outcomes.results[TEST] == ("failed", "AssertionError: assert last_recv > start")
    assert outcomes.reran == {}


def test_every_listed_flaky_test_says_how_it_fails() -> None:
    listed = suite.Expected.load(suite.FLAKY)
    assert listed.reasons and set(listed.signatures) == set(listed.reasons)
