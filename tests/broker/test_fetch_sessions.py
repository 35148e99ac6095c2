"""Fetch session cache: creation, epochs, eviction and closing, as KIP-227 defines them."""

import pytest

from kproto import ErrorCode
from kbroker.fetch_sessions import MAX_EPOCH, FetchSessionCache, FetchSessionError, next_epoch


def test_new_session_expects_epoch_one_then_counts_up():
    cache = FetchSessionCache(slots=10)
    session = cache.new_session()
    assert session.epoch == 1
    assert cache.resume(session.session_id, 1) is session
    assert cache.resume(session.session_id, 2) is session


def test_wrong_epoch_is_refused():
    cache = FetchSessionCache(slots=10)
    session = cache.new_session()
    with pytest.raises(FetchSessionError) as err:
        cache.resume(session.session_id, 5)
    assert err.value.error == ErrorCode.INVALID_FETCH_SESSION_EPOCH


def test_unknown_session_is_refused():
    with pytest.raises(FetchSessionError) as err:
        FetchSessionCache(slots=10).resume(12345, 1)
    assert err.value.error == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_least_recently_used_session_is_evicted_when_full():
    cache = FetchSessionCache(slots=2)
    first, second = cache.new_session(), cache.new_session()
    cache.resume(first.session_id, 1)  # first is now the most recently used
    cache.new_session()
    assert first.session_id in cache.sessions
    assert second.session_id not in cache.sessions


def test_no_slots_means_sessionless_fetches():
    assert FetchSessionCache(slots=0).new_session() is None


def test_closing_removes_the_session():
    cache = FetchSessionCache(slots=2)
    session = cache.new_session()
    cache.close(session.session_id)
    with pytest.raises(FetchSessionError):
        cache.resume(session.session_id, 1)


def test_epoch_wraps_to_one():
    assert next_epoch(MAX_EPOCH) == 1
    assert next_epoch(0) == 1
