"""A windowed rate measured as Kafka measures client quotas.

Kafka keeps `quota.window.num` samples of `quota.window.size.seconds` each; a value is added to
the current sample, and a new sample starts once the current one is a window old. The rate is the
sum of the samples over the time they cover, where that time is never taken as less than
`samples - 1` whole windows: a client's first burst is spread over ten seconds (by default), not
over the few milliseconds it took. A sample with no value recorded for `samples` windows is
dropped (reset), so a client that paused starts afresh.

Times are in milliseconds, as in Kafka, so that throttle times come out in Kafka's unit.
"""

from __future__ import annotations


class Sample:
    """The sum of what was recorded in one window, and when that window started."""

    __slots__ = ("start", "last", "value")

    def __init__(self, now: float) -> None:
        self.start = now
        self.last = now
        self.value = 0.0

    def reset(self, now: float) -> None:
        self.start = self.last = now
        self.value = 0.0


class WindowedRate:
    """Kafka's `Rate` over a windowed sum: per-second rate of the values recorded."""

    __slots__ = ("samples", "window_ms", "kept", "current", "last_record")

    def __init__(self, samples: int, window_ms: float) -> None:
        self.kept = samples
        self.window_ms = window_ms
        # One more slot than `samples`: the oldest may still overlap the measured span.
        self.samples: list[Sample] = []
        self.current = 0
        self.last_record = 0.0

    def record(self, value: float, now: float) -> None:
        sample = self._current(now)
        if now - sample.start >= self.window_ms:
            sample = self._advance(now)
        sample.value += value
        sample.last = now
        self.last_record = now

    def measure(self, now: float) -> float:
        """The rate per second at `now`."""
        self._purge(now)
        total = sum(sample.value for sample in self.samples)
        return total / (self.span(now) / 1000)

    def span(self, now: float) -> float:
        """The milliseconds the rate is taken over: since the oldest sample, at least samples - 1 windows."""
        self._purge(now)
        elapsed = now - min((sample.start for sample in self.samples), default=now)
        whole = int(elapsed // self.window_ms)
        if whole < self.kept - 1:
            elapsed += (self.kept - 1 - whole) * self.window_ms
        return max(elapsed, 1.0)

    def throttle_ms(self, bound: float, now: float) -> int:
        """How long the client must stay quiet for the rate to come back to `bound`: 0 when within it.

        At rate O over span W, a pause X brings it to O * W / (W + X); for that to equal the bound
        T, X = (O - T) / T * W.
        """
        observed = self.measure(now)
        if observed <= bound:
            return 0
        return int((observed - bound) / bound * self.span(now) + 0.5)  # rounded half up, as Java's Math.round

    def _current(self, now: float) -> Sample:
        if not self.samples:
            self.samples.append(Sample(now))
        return self.samples[self.current]

    def _advance(self, now: float) -> Sample:
        self.current = (self.current + 1) % (self.kept + 1)
        if self.current >= len(self.samples):
            self.samples.append(Sample(now))
        else:
            self.samples[self.current].reset(now)
        return self.samples[self.current]

    def _purge(self, now: float) -> None:
        expiry = self.kept * self.window_ms
        for sample in self.samples:
            if now - sample.last >= expiry:
                sample.reset(now)


class TokenBucket:
    """Kafka's token bucket for controller mutation quotas (KIP-599): it holds at most `samples`
    windows' worth of the quota, starts full, refills at the quota a second, and each mutation takes
    its partitions out of it. It may go below zero; while it is, the client is over its quota, for
    as long as the refill takes to bring it back to zero."""

    __slots__ = ("tokens", "updated", "last_record")

    def __init__(self) -> None:
        self.tokens: float | None = None  # full, at the first look
        self.updated = 0.0
        self.last_record = 0.0

    def measure(self, bound: float, burst: float, now: float) -> float:
        """The tokens left at `now` (ms) for a quota of `bound` a second and at most `burst` tokens."""
        if self.tokens is None:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + bound * (now - self.updated) / 1000)
        self.updated = now
        return self.tokens

    def take(self, value: float, bound: float, burst: float, now: float) -> float:
        """Take `value` tokens; the tokens left, below zero when that overdraws the bucket."""
        self.tokens = min(burst, self.measure(bound, burst, now) - value)
        self.last_record = now
        return self.tokens


def overdrawn_ms(tokens: float, bound: float) -> int:
    """How long a bucket `tokens` below zero takes to refill to zero at `bound` a second."""
    return int(-tokens / bound * 1000 + 0.5) if tokens < 0 else 0
