"""kafka-python's own integration suite (test/integration of its 3.0.12 sdist) as one compat test,
and its SASL tests (which skip themselves against an external broker) as another.

It passes when every suite test's outcome is the expected one: a pass, or a failure listed with
its reason in kafka_python_suite/expected_failures.txt (expected_failures.tansu.txt for Tansu).
The failure message lists each unexpected failure, unexpected pass and stale entry. A test listed
in kafka_python_suite/flaky.txt (a race in the client, with its analysis) that fails is run once more,
alone, and its second outcome counts; that it had to be is said in the run's warnings.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from brokerproc import HOST, BrokerProcess, free_port
from kafka_python_suite import run as suite
from kbroker.tools.client import Client
from kbroker.tools.scram_users import alter_users

TOTAL_TIMEOUT = int(os.environ.get("COMPAT_SUITE_TIMEOUT", "2400"))

TEST_TIMEOUT = int(os.environ.get("COMPAT_SUITE_TEST_TIMEOUT", "120"))
FLAKY = suite.Expected.load(suite.FLAKY)

pytestmark = [pytest.mark.slow,
              pytest.mark.timeout(TOTAL_TIMEOUT + suite.rerun_timeout(TEST_TIMEOUT, len(FLAKY.reasons)) + 120)]


@pytest.mark.broker_config(suite.BROKER_CONFIG)
def test_kafka_python_integration_suite(kafka_broker: BrokerProcess, tmp_path: Path) -> None:
    listed = suite.expected_file_for(kafka_broker.kind)
    expected = suite.Expected.load(listed if listed.exists() else None)
    log = tmp_path / "suite.log"
    outcomes = suite.run_with_reruns(kafka_broker.bootstrap_server, tmp_path, FLAKY, log,
                                     kafka_version=os.environ.get("COMPAT_KAFKA_VERSION", suite.DEFAULT_KAFKA_VERSION),
                                     per_test_timeout=TEST_TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    verdict = suite.Verdict(outcomes.results, expected, reran=outcomes.reran, flaky=FLAKY, rerun_log=outcomes.rerun_log)
    assert verdict.ok, f"{verdict.report()}\n(suite output: {log})"
    if outcomes.reran:  # said in the run's warnings summary, so that a flaky test that keeps failing is seen
        warnings.warn(f"kafka-python suite: {verdict.report()}", stacklevel=1)


def test_kafka_python_sasl_integration_tests(tmp_path: Path) -> None:
    """Its SASL tests (admin, produce and consume, a bare client) with PLAIN, SCRAM-SHA-256 and
    SCRAM-SHA-512 on a SASL_PLAINTEXT listener, where the suite's user exists for each."""
    sasl_port = free_port()
    user, password = suite.SASL_USER, suite.SASL_PASSWORD
    config = {**suite.BROKER_CONFIG, "listeners": f"PLAINTEXT://{HOST}:{{port}},SASL_PLAINTEXT://{HOST}:{sasl_port}",
              "sasl.enabled.mechanisms": ",".join(suite.SASL_MECHANISMS),
              "sasl.jaas.config": f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";'}
    broker = BrokerProcess(tmp_path / "broker", config).start()
    try:
        with Client(broker.bootstrap_server) as admin:
            alter_users(admin, user, {m: f"password={password}" for m in suite.SASL_MECHANISMS if m != "PLAIN"}, [])
        log = tmp_path / "suite.log"
        results = suite.run_suite(broker.bootstrap_server, tmp_path, per_test_timeout=60, total_timeout=600, log=log,
                                  sasl_listener=f"{HOST}:{sasl_port}")
    finally:
        broker.stop()
    verdict = suite.Verdict(results, suite.Expected())
    assert verdict.ok, f"{verdict.report()}\n(suite output: {log})"
    assert verdict.counts() == {"passed": 9, "failed": 0, "error": 0, "skipped": 0}, verdict.report()
