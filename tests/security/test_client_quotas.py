"""Client quotas: Kafka's windowed rate and throttle time, its order of precedence among quota
entities, and stored quotas taking effect at once and again after a restart."""

from __future__ import annotations

import pytest

from kbroker.admin.quotas import QuotaOp, QuotaStore
from kbroker.security.quotas import FETCH, PRODUCE, REQUEST, ClientQuotas, entity, limit_of, measured_as
from kbroker.security.rate import TokenBucket, WindowedRate, overdrawn_ms

SECOND = 1000.0


def test_a_first_burst_is_spread_over_samples_minus_one_windows() -> None:
    rate = WindowedRate(samples=11, window_ms=SECOND)
    rate.record(1000, now=0)
    assert rate.measure(0) == pytest.approx(100)  # 1000 bytes over 10 s
    assert rate.span(0) == 10 * SECOND


def test_a_steady_rate_is_measured_over_the_samples_kept() -> None:
    rate = WindowedRate(samples=11, window_ms=SECOND)
    for tick in range(30 * 10):  # 100 bytes every 100 ms for 30 s: 1000 bytes a second
        rate.record(100, now=tick * 100)
    assert rate.measure(30 * SECOND) == pytest.approx(1000, rel=0.1)


def test_throttle_time_is_the_pause_that_brings_the_rate_back_to_the_quota() -> None:
    rate = WindowedRate(samples=11, window_ms=SECOND)
    rate.record(1000, now=0)  # 100/s over a 10 s span
    assert rate.throttle_ms(bound=50, now=0) == 10_000  # (100 - 50) / 50 * 10 s
    assert rate.throttle_ms(bound=100, now=0) == 0
    assert rate.throttle_ms(bound=80, now=0) == 2_500


def test_samples_idle_for_the_whole_span_are_dropped() -> None:
    rate = WindowedRate(samples=3, window_ms=SECOND)
    rate.record(500, now=0)
    assert rate.measure(2 * SECOND) > 0
    assert rate.measure(3 * SECOND) == 0


def test_samples_are_reused_in_a_ring_of_samples_plus_one() -> None:
    rate = WindowedRate(samples=2, window_ms=SECOND)
    for second in range(10):
        rate.record(10, now=second * SECOND)
    assert len(rate.samples) == 3


ALICE, BOB = "alice", "bob"
LEVELS = [
    (entity(ALICE, "app"), (ALICE, "app")),
    (entity(ALICE, default_client=True), (ALICE, "app")),
    (entity(ALICE), (ALICE, "")),
    (entity(client_id="app", default_user=True), (ALICE, "app")),
    (entity(default_user=True, default_client=True), (ALICE, "app")),
    (entity(default_user=True), (ALICE, "")),
    (entity(client_id="app"), ("", "app")),
    (entity(default_client=True), ("", "app")),
]


@pytest.mark.parametrize("level", range(len(LEVELS)))
def test_the_most_specific_entity_with_a_quota_wins_in_kafkas_order(level: int) -> None:
    """Each level, with every less specific level also set: the client falls under that level."""
    table = {stored: float(index + 1) for index, (stored, _) in enumerate(LEVELS) if index >= level}
    tags = measured_as(table, ALICE, "app")
    assert tags == LEVELS[level][1]
    assert limit_of(table, tags) == level + 1


def test_without_a_matching_entity_there_is_no_quota() -> None:
    table = {entity(BOB): 10.0, entity(client_id="other"): 20.0}
    assert limit_of(table, measured_as(table, ALICE, "app")) is None


def test_clients_under_one_user_quota_share_its_rate() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([(entity(ALICE), {PRODUCE: 100.0})])
    assert quotas.record(PRODUCE, "User:alice", "one", 600, now=0) == 0
    assert quotas.record(PRODUCE, "User:alice", "two", 600, now=0) == 2_000  # 120/s against 100/s over 10 s
    assert quotas.record(PRODUCE, "User:bob", "two", 10_000, now=0) == 0


def test_no_quota_means_disabled_and_nothing_recorded() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([])
    assert not quotas.enabled
    assert quotas.record(FETCH, "User:ANONYMOUS", "c", 10**9, now=0) == 0
    assert quotas.rates == {}


def test_the_default_user_quota_applies_to_anonymous_clients() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([(entity(default_user=True), {FETCH: 10.0})])
    assert quotas.limit(FETCH, "User:ANONYMOUS", "c") == 10.0


def test_request_throttle_is_held_to_one_window() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=2)
    quotas.update([(entity(client_id="c"), {REQUEST: 1.0})])
    assert quotas.record(REQUEST, "User:ANONYMOUS", "c", 500.0, now=0) == 2_000


def test_a_throttled_value_can_be_taken_back() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([(entity(client_id="c"), {FETCH: 100.0})])
    assert quotas.record(FETCH, "User:ANONYMOUS", "c", 5000, now=0) > 0
    quotas.unrecord(FETCH, "User:ANONYMOUS", "c", 5000, now=0)
    assert quotas.record(FETCH, "User:ANONYMOUS", "c", 500, now=0) == 0


def test_a_fetch_may_carry_the_quota_over_samples_minus_one_windows() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([(entity(client_id="c"), {FETCH: 1000.0})])
    assert quotas.window_max(FETCH, "User:ANONYMOUS", "c") == 10_000
    assert quotas.window_max(FETCH, "User:ANONYMOUS", "other") is None
    assert quotas.window_max(PRODUCE, "User:ANONYMOUS", "c") is None


def test_stored_quotas_apply_at_once_and_after_a_restart(tmp_path) -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    store = QuotaStore(tmp_path, quotas.update)
    store.alter([("user", "alice")], [QuotaOp(PRODUCE, 1024, False)], validate_only=False)
    assert quotas.limit(PRODUCE, "User:alice", "c") == 1024
    store.alter([("user", "alice")], [QuotaOp(PRODUCE, 0, True)], validate_only=False)
    assert not quotas.enabled
    store.alter([("user", None), ("client-id", "c")], [QuotaOp(FETCH, 2048, False)], validate_only=False)

    restarted = ClientQuotas(samples=11, window_seconds=1)
    QuotaStore(tmp_path, restarted.update)
    assert restarted.limit(FETCH, "User:bob", "c") == 2048
    assert restarted.limit(PRODUCE, "User:bob", "c") is None


def test_a_validate_only_change_applies_nothing(tmp_path) -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    store = QuotaStore(tmp_path, quotas.update)
    store.alter([("client-id", "c")], [QuotaOp(PRODUCE, 1024, False)], validate_only=True)
    assert not quotas.enabled


def test_a_rate_idle_for_an_hour_is_dropped() -> None:
    quotas = ClientQuotas(samples=11, window_seconds=1)
    quotas.update([(entity(client_id="c"), {PRODUCE: 100.0}), (entity(client_id="d"), {PRODUCE: 100.0})])
    quotas.record(PRODUCE, "User:ANONYMOUS", "c", 10, now=0)
    quotas.record(PRODUCE, "User:ANONYMOUS", "d", 10, now=3_600_000)
    assert set(quotas.rates) == {(PRODUCE, ("", "d"))}


def test_a_token_bucket_starts_full_refills_at_the_quota_and_may_be_overdrawn() -> None:
    bucket = TokenBucket()
    assert bucket.measure(2, 22, now=1_000) == 22  # eleven one-second windows at two a second
    assert bucket.take(30, 2, 22, now=1_000) == -8
    assert overdrawn_ms(-8, 2) == 4_000  # four seconds of refill back to zero
    assert bucket.measure(2, 22, now=2_500) == -5
    assert bucket.measure(2, 22, now=60_000) == 22  # never above the burst


def test_ip_connection_rates_are_kept_by_canonical_address_with_a_default() -> None:
    quotas = ClientQuotas(11, 1)
    quotas.update([(frozenset({("ip", "0:0:0:0:0:0:0:1")}), {"connection_creation_rate": 5}),
                   (frozenset({("ip", None)}), {"connection_creation_rate": 20})])
    assert quotas.connection_rate("::1") == 5
    assert quotas.connection_rate("127.0.0.1") == 20
    assert not quotas.enabled  # connection quotas are applied at accept, not on the request path
