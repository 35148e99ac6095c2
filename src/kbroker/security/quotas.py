"""Client quotas applied: which quota a (user, client id) falls under, its rate, its throttle time.

The stored quotas (`kbroker.admin.quotas`) are read into one table per quota key. A client is
measured under the most specific entity that has a quota for that key, in Kafka's order:

    user + client id, user + default client id, user,
    default user + client id, default user + default client id, default user,
    client id, default client id

and every client that falls under the same entity shares one rate: a quota on user alice holds
all of alice's clients together, a quota on client id c all users' clients named c. The user is
the name of the connection's principal (`User:alice` is alice, an unauthenticated client ANONYMOUS).

With no quota stored `enabled` is False, and the request path asks nothing more.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Iterable

from kproto import ErrorCode

from kbroker.security.rate import TokenBucket, WindowedRate, overdrawn_ms

if TYPE_CHECKING:
    from kbroker.admin.quotas import Entity

PRODUCE = "producer_byte_rate"
FETCH = "consumer_byte_rate"
REQUEST = "request_percentage"
MUTATION = "controller_mutation_rate"  # partitions created or deleted a second (KIP-599)
KEYS = (PRODUCE, FETCH, REQUEST, MUTATION)
CONNECTION_RATE = "connection_creation_rate"  # the one quota of an IP entity (KIP-612)
USER, CLIENT_ID = "user", "client-id"
IDLE_MS = 3_600_000  # Kafka drops a client's quota sensors after an hour without a request
SWEEP_MS = 60_000

Tags = tuple[str, str]  # (user, client id) a rate is kept under; "" where that part does not count


def entity(user: str | None = None, client_id: str | None = None, *, default_user: bool = False,
           default_client: bool = False) -> Entity:
    """An entity in the store's form: (type, name) pairs, where a None name is the type's default."""
    pairs = []
    if user is not None or default_user:
        pairs.append((USER, None if default_user else user))
    if client_id is not None or default_client:
        pairs.append((CLIENT_ID, None if default_client else client_id))
    return frozenset(pairs)


DEFAULT_USER = entity(default_user=True)
DEFAULT_CLIENT = entity(default_client=True)
DEFAULT_BOTH = entity(default_user=True, default_client=True)


def clock() -> float:
    """Milliseconds on a clock that never steps back, for rates and throttle times."""
    return time.monotonic() * 1000


def canonical_address(address: str) -> str:
    """An IP address as one spelling (`::1` for `0:0:0:0:0:0:0:1`), without an IPv6 zone."""
    return str(ipaddress.ip_address(address.partition("%")[0]))


def user_of(principal: str) -> str:
    """The quota user of a principal: its name without the `User:` type."""
    return principal.partition(":")[2] or principal


def measured_as(table: dict[Entity, float], user: str, client_id: str) -> Tags:
    """The entity whose rate this client counts towards, in Kafka's order of precedence."""
    if entity(user, client_id) in table or entity(user, default_client=True) in table:
        return user, client_id
    if entity(user) in table:
        return user, ""
    if entity(client_id=client_id, default_user=True) in table or DEFAULT_BOTH in table:
        return user, client_id
    if DEFAULT_USER in table:
        return user, ""
    return "", client_id


def limit_of(table: dict[Entity, float], tags: Tags) -> float | None:
    """The quota of the entity a rate is kept under; None for no quota."""
    user, client_id = tags
    if user and client_id:
        candidates = (entity(user, client_id), entity(user, default_client=True),
                      entity(client_id=client_id, default_user=True), DEFAULT_BOTH)
    elif user:
        candidates = (entity(user), DEFAULT_USER)
    elif client_id:
        candidates = (entity(client_id=client_id), DEFAULT_CLIENT)
    else:
        return None
    for candidate in candidates:
        if candidate in table:
            return table[candidate]
    return None


class ClientQuotas:
    """The client quotas in force and each client entity's windowed rate, per quota key."""

    def __init__(self, samples: int, window_seconds: int, mutation_samples: int = 11,
                 mutation_window_seconds: int = 1) -> None:
        self.samples = samples
        self.window_ms = window_seconds * 1000
        # A mutation bucket holds this many seconds of its quota (controller.quota.window.*, as Kafka sizes it).
        self.mutation_burst_s = mutation_samples * mutation_window_seconds
        self.enabled = False  # any client quota at all
        self.tables: dict[str, dict[Entity, float]] = {key: {} for key in KEYS}
        self.connection_rates: dict[str | None, float] = {}  # IP address (None: the default) -> connections a second
        self.rates: dict[tuple[str, Tags], WindowedRate] = {}
        self.buckets: dict[Tags, TokenBucket] = {}  # controller mutations, by the entity they count towards
        self.swept = 0.0

    def update(self, quotas: Iterable[tuple[Entity, dict[str, float]]]) -> None:
        """Apply the stored quotas, at once: rates already measured keep counting under the new limits."""
        tables: dict[str, dict[Entity, float]] = {key: {} for key in KEYS}
        connection_rates: dict[str | None, float] = {}
        for stored, values in quotas:
            for key, value in values.items():
                if key in tables:
                    tables[key][stored] = value
                elif key == CONNECTION_RATE:
                    ((_, address),) = stored  # an IP entity is the IP alone
                    connection_rates[None if address is None else canonical_address(address)] = value
        self.tables = tables
        self.connection_rates = connection_rates
        self.enabled = any(tables.values())

    def connection_rate(self, address: str) -> float | None:
        """The most connections a second `address` (canonical) may open: its own IP quota, else the
        default IP's; None when neither is set."""
        rates = self.connection_rates
        return rates.get(address, rates.get(None)) if rates else None

    def limit(self, key: str, principal: str, client_id: str) -> float | None:
        """The quota that applies to this client for `key`; None when none does."""
        table = self.tables[key]
        return limit_of(table, measured_as(table, user_of(principal), client_id)) if table else None

    def record(self, key: str, principal: str, client_id: str, value: float, now: float) -> int:
        """Count `value` (bytes, or percent-seconds of request time) for this client; the milliseconds it
        must then be throttled for, 0 when it is within its quota (or has none)."""
        found = self._measured(key, principal, client_id, now)
        if found is None:
            return 0
        rate, bound = found
        rate.record(value, now)
        throttle = rate.throttle_ms(bound, now)
        if key == REQUEST:  # Kafka holds a client over its request quota for at most one window
            throttle = min(throttle, self.window_ms)
        return throttle

    def unrecord(self, key: str, principal: str, client_id: str, value: float, now: float) -> None:
        """Take back a recorded value: a throttled fetch is answered empty, so its bytes did not leave."""
        found = self._measured(key, principal, client_id, now)
        if found is not None:
            found[0].record(-value, now)

    def window_max(self, key: str, principal: str, client_id: str) -> float | None:
        """The most one answer may carry without being throttled for sure, as Kafka caps a fetch:
        the quota over samples - 1 windows. None with no quota."""
        bound = self.limit(key, principal, client_id)
        return None if bound is None else bound * (self.samples - 1) * self.window_ms / 1000

    def _measured(self, key: str, principal: str, client_id: str, now: float) -> tuple[WindowedRate, float] | None:
        """The rate this client counts towards for `key`, and its quota; None without a quota."""
        table = self.tables[key]
        if not table:
            return None
        tags = measured_as(table, user_of(principal), client_id)
        bound = limit_of(table, tags)
        return None if bound is None else (self.rate_of(key, tags, now), bound)

    def mutation_quota(self, principal: str, client_id: str, strict: bool) -> MutationQuota:
        """This client's controller mutation quota for one request: `strict` for the versions that
        may refuse a topic with THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, CreatePartitions v3+,
        DeleteTopics v5+), else permissive (it only throttles); UNBOUNDED without a quota."""
        table = self.tables[MUTATION]
        if not table:
            return UNBOUNDED
        tags = measured_as(table, user_of(principal), client_id)
        bound = limit_of(table, tags)
        if bound is None:
            return UNBOUNDED
        bucket = self.buckets.get(tags)
        if bucket is None:
            bucket = self.buckets[tags] = TokenBucket()
        return MutationQuota(bucket, bound, self.mutation_burst_s * bound, strict)

    def rate_of(self, key: str, tags: Tags, now: float) -> WindowedRate:
        """The windowed rate of `key` kept for `tags`, made on first use; rates idle for an hour
        are dropped, as Kafka expires its quota sensors."""
        if now - self.swept >= SWEEP_MS:
            self.swept = now
            self.rates = {name: rate for name, rate in self.rates.items() if now - rate.last_record < IDLE_MS}
            self.buckets = {name: bucket for name, bucket in self.buckets.items() if now - bucket.last_record < IDLE_MS}
        rate = self.rates.get((key, tags))
        if rate is None:
            rate = self.rates[(key, tags)] = WindowedRate(self.samples, self.window_ms)
        return rate


class MutationQuota:
    """A request's view of its client's controller mutation quota, as Kafka's strict and
    permissive ControllerMutationQuota: each topic's partitions are counted as it is created or
    deleted. A strict quota refuses a mutation while the bucket is overdrawn (the one that
    overdraws it still passes); a permissive one takes every mutation and only throttles. Without
    a bucket, no quota applies."""

    def __init__(self, bucket: TokenBucket | None, bound: float = 0.0, burst: float = 0.0, strict: bool = False) -> None:
        self.bucket = bucket
        self.bound = bound
        self.burst = burst
        self.strict = strict
        self._throttle_ms = 0
        self._throttled_at = 0.0

    def admit(self, partitions: int) -> tuple[ErrorCode, str | None]:
        """Count a mutation of `partitions` partitions: NONE, or THROTTLING_QUOTA_EXCEEDED and why
        from a strict quota while it is overdrawn (then nothing is counted)."""
        if self.bucket is None:
            return ErrorCode.NONE, None
        now = clock()
        if self.strict:
            tokens = self.bucket.measure(self.bound, self.burst, now)
            if tokens < 0:
                self._throttled(tokens, now)
                return ErrorCode.THROTTLING_QUOTA_EXCEEDED, "The throttling quota has been exceeded."
            self.bucket.take(partitions, self.bound, self.burst, now)
        elif (tokens := self.bucket.take(partitions, self.bound, self.burst, now)) < 0:
            self._throttled(tokens, now)
        return ErrorCode.NONE, None

    def throttle_ms(self) -> int:
        """The throttle time the answer carries: the last one found, less the time since."""
        return max(0, int(self._throttle_ms - (clock() - self._throttled_at)))

    def _throttled(self, tokens: float, now: float) -> None:
        self._throttle_ms = overdrawn_ms(tokens, self.bound)
        self._throttled_at = now


UNBOUNDED = MutationQuota(None)
