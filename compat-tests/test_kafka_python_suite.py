"""kafka-python's own integration suite (test/integration of its 3.0.12 sdist) as one compat test.

It passes when every suite test's outcome is the expected one: a pass, or a failure listed with
its reason in kafka_python_suite/expected_failures.txt (expected_failures.tansu.txt for Tansu).
The failure message lists each unexpected failure, unexpected pass and stale entry.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brokerproc import BrokerProcess
from kafka_python_suite import run as suite

TOTAL_TIMEOUT = int(os.environ.get("COMPAT_SUITE_TIMEOUT", "2400"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TOTAL_TIMEOUT + 120)]


@pytest.mark.broker_config(suite.BROKER_CONFIG)
def test_kafka_python_integration_suite(kafka_broker: BrokerProcess, tmp_path: Path) -> None:
    listed = suite.expected_file_for(kafka_broker.kind)
    expected = suite.Expected.load(listed if listed.exists() else None)
    log = tmp_path / "suite.log"
    results = suite.run_suite(kafka_broker.bootstrap_server, tmp_path,
                              os.environ.get("COMPAT_KAFKA_VERSION", suite.DEFAULT_KAFKA_VERSION),
                              per_test_timeout=int(os.environ.get("COMPAT_SUITE_TEST_TIMEOUT", "120")),
                              total_timeout=TOTAL_TIMEOUT, log=log)
    verdict = suite.Verdict(results, expected)
    assert verdict.ok, f"{verdict.report()}\n(suite output: {log})"
