"""What the broker counts for its Prometheus endpoint, kept cheap enough for the request path.

Hot paths call one method per partition or request. `Metrics` does nothing, so a broker started
without `--metrics-port` pays a no-op call and nothing else; `BrokerMetrics` adds to plain dicts
and lists, and prometheus-client (an optional extra) only turns them into text when scraped
(see `kbroker.metrics.exporter`). Gauges such as log end offsets are read from the broker at
scrape time, never tracked on the way.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

# Upper bounds of the request latency buckets, in milliseconds. The default long-poll fetch waits
# 500 ms, a consumer's fetch.max.wait up to seconds; produce and metadata land in the first few.
LATENCY_BUCKETS_MS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """The broker's hooks; this base ignores every call, for a broker that exports nothing."""

    def appended(self, topic: str, records: int, size: int) -> None:
        """A batch of `records` records, `size` bytes, was appended to a partition of `topic`."""

    def fetched(self, topic: str, size: int) -> None:
        """A fetch response carries `size` bytes of records from a partition of `topic`."""

    def request_done(self, api_key: int, seconds: float) -> None:
        """A request of `api_key` was answered `seconds` after its frame was read."""


class RequestStats:
    """Count and latency histogram of one API's requests."""

    __slots__ = ("buckets", "count", "total_ms")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)  # the last one is +Inf
        self.count = 0
        self.total_ms = 0.0

    def observe(self, ms: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
        self.count += 1
        self.total_ms += ms


class BrokerMetrics(Metrics):
    """Counters kept in plain dicts; the exporter reads them when Prometheus scrapes."""

    def __init__(self) -> None:
        self.messages_in: defaultdict[str, int] = defaultdict(int)
        self.bytes_in: defaultdict[str, int] = defaultdict(int)
        self.bytes_out: defaultdict[str, int] = defaultdict(int)
        self.requests: dict[int, RequestStats] = {}

    def appended(self, topic: str, records: int, size: int) -> None:
        self.messages_in[topic] += records
        self.bytes_in[topic] += size

    def fetched(self, topic: str, size: int) -> None:
        self.bytes_out[topic] += size

    def request_done(self, api_key: int, seconds: float) -> None:
        stats = self.requests.get(api_key)
        if stats is None:
            stats = self.requests[api_key] = RequestStats()
        stats.observe(seconds * 1000)


NO_METRICS = Metrics()
