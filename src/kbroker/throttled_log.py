"""A warning that a failing resource would repeat thousands of times a second, logged at a bounded rate."""

from __future__ import annotations

import logging
import time

WARNING_INTERVAL_S = 10.0  # one line per failing resource and interval: readable, and a log that cannot fill a disk


class ThrottledWarning:
    """Logs the first warning at once, then at most one per `interval` seconds, counting those held back."""

    def __init__(self, logger: logging.Logger, interval: float = WARNING_INTERVAL_S) -> None:
        self.logger = logger
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            message += " (and %d more times in the last %.0f s)"
            args = (*args, self._held, self.interval)
        self.logger.warning(message, *args)
        self._next = now + self.interval
        self._held = 0
