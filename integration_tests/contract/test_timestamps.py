"""The emulator's timestamp forms match the strftime formatting they replaced, whatever the tzinfo."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listmonk_emulator.web import ts, ts_pg

ZONES: list[Optional[tzinfo]] = [
    timezone.utc, ZoneInfo("Etc/UTC"), ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
    timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=45)), None,
]


def _old_ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _old_ts_pg(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("value", [
    datetime(2026, 11, 27, 3, 50, 20, 82527), datetime(2026, 11, 27, 3, 50, 20), datetime(2024, 2, 29, 23, 59, 59, 999999),
    datetime(2026, 3, 8, 2, 30), datetime(2026, 11, 1, 1, 30, fold=1), datetime(1001, 1, 1), datetime(9998, 12, 31, 1, 2, 3, 4),
])
def test_given_edge_datetimes_when_formatting_then_same_as_strftime(value: datetime, zone: Optional[tzinfo]) -> None:
    aware = value.replace(tzinfo=zone)
    assert (ts(aware), ts_pg(aware)) == (_old_ts(aware), _old_ts_pg(aware))


@given(st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31)), st.sampled_from(ZONES))
def test_given_any_datetime_when_formatting_then_same_as_strftime(value: datetime, zone: Optional[tzinfo]) -> None:
    aware = value.replace(tzinfo=zone)
    assert (ts(aware), ts_pg(aware)) == (_old_ts(aware), _old_ts_pg(aware))


def test_given_none_when_formatting_then_none() -> None:
    assert (ts(None), ts_pg(None)) == (None, None)


@pytest.mark.parametrize("zone", [ZoneInfo("America/New_York"), None])
def test_given_both_folds_of_a_repeated_hour_when_formatting_then_each_its_own_instant(zone: Optional[tzinfo]) -> None:
    # The two folds compare (and hash) equal: a cache of formatted values must still tell them apart.
    first, second = (datetime(2026, 11, 1, 1, 30, fold=fold, tzinfo=zone) for fold in (0, 1))
    for value in (first, second, first):
        assert (ts(value), ts_pg(value)) == (_old_ts(value), _old_ts_pg(value))
