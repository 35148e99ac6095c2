"""A warning repeated by a failing resource is logged once per interval, with a count of the rest."""

from __future__ import annotations

import logging

from kbroker import throttled_log
from kbroker.throttled_log import ThrottledWarning


def test_repeats_within_the_interval_are_counted_not_logged(caplog, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(throttled_log.time, "monotonic", lambda: now[0])
    warning = ThrottledWarning(logging.getLogger("kbroker.test"), interval=10)
    with caplog.at_level(logging.WARNING, logger="kbroker.test"):
        for _ in range(1000):
            warning.warn("out of %s", "descriptors")
        now[0] += 10
        warning.warn("out of %s", "descriptors")
    assert [r.getMessage() for r in caplog.records] == [
        "out of descriptors", "out of descriptors (and 999 more times in the last 10 s)"]
