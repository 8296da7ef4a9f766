"""Cursor state of an incremental read: start, checkpoint, resume, finish."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from hypothesis import given
from hypothesis import strategies as s

from source_listmonk import state as st

UTC = timezone.utc
moments = s.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=s.just(UTC))
maybe_moments = s.none() | moments


def read_state(cursor: Optional[datetime] = None, pending: Optional[datetime] = None, last_id: int = 0) -> st.ReadState:
    return st.ReadState(cursor=cursor, pending_high_water=pending, last_id=last_id)


@given(maybe_moments, maybe_moments)
def test_a_finished_read_never_moves_the_cursor_backwards(cursor: Optional[datetime], high_water: Optional[datetime]) -> None:
    done = st.finish(st.begin(read_state(cursor), high_water))
    assert not done.in_progress and done.last_id == 0
    if cursor is not None:
        assert done.cursor is not None and done.cursor >= cursor
    if high_water is not None:
        assert done.cursor is not None and done.cursor >= high_water


@given(moments, moments, s.integers(min_value=1, max_value=10**9))
def test_given_interrupted_read_when_begun_again_then_it_resumes_with_the_same_high_water(
    cursor: datetime, first_high_water: datetime, last_id: int
) -> None:
    interrupted = st.advance(st.begin(read_state(cursor), first_high_water), last_id)
    resumed = st.begin(st.load_state(st.ReadState, st.dump_state(interrupted)), first_high_water + timedelta(hours=1))
    assert resumed == interrupted
    assert resumed.last_id == last_id


@given(s.lists(s.integers(min_value=0, max_value=10**9), max_size=20))
def test_keyset_progress_only_moves_forward(ids: list[int]) -> None:
    state = st.begin(read_state(), None)
    for last_id in ids:
        state = st.advance(state, last_id)
    assert state.last_id == max(ids, default=0)


@given(maybe_moments, s.integers(min_value=0, max_value=86_400), maybe_moments)
def test_cutoff_is_cursor_minus_lookback_else_start_date(
    cursor: Optional[datetime], lookback: int, start: Optional[datetime]
) -> None:
    cut = st.cutoff(read_state(cursor), timedelta(seconds=lookback), start)
    assert cut == (cursor - timedelta(seconds=lookback) if cursor is not None else start)


def test_state_round_trips_through_json_with_digests() -> None:
    state = st.SubscriptionsState(
        cursor=datetime(2026, 1, 2, 3, 4, 5, 678901, UTC), last_id=1999, digests={0: "00ff", 7: "abcd"}, baseline=True
    )
    dumped = st.dump_state(state)
    assert dumped["cursor"] == "2026-01-02T03:04:05.678901Z"
    assert st.load_state(st.SubscriptionsState, dumped) == state


def test_given_garbage_state_when_loaded_then_config_error_says_reset() -> None:
    with pytest.raises(AirbyteTracedException) as raised:
        st.load_state(st.ReadState, {"cursor": "yesterday", "last_id": -3})
    assert raised.value.failure_type == FailureType.config_error
    assert "reset" in (raised.value.message or "")
