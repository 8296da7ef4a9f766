"""listmonk timestamp parsing and the exact, SQL-safe format the state uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as s

from source_listmonk.timestamps import format_ts, later, parse_ts

UTC = timezone.utc


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-27T03:50:20.082527Z", datetime(2026, 11, 27, 3, 50, 20, 82527, UTC)),
        ("2026-11-27T03:50:20.082527+00:00", datetime(2026, 11, 27, 3, 50, 20, 82527, UTC)),
        ("2026-11-27T03:50:20.08Z", datetime(2026, 11, 27, 3, 50, 20, 80000, UTC)),
        ("2026-11-27T03:50:20Z", datetime(2026, 11, 27, 3, 50, 20, 0, UTC)),
        ("2026-11-27T09:20:20.123456789+05:30", datetime(2026, 11, 27, 3, 50, 20, 123456, UTC)),
    ],
)
def test_parses_what_listmonk_writes(text: str, expected: datetime) -> None:
    assert parse_ts(text) == expected


def test_rejects_text_that_is_not_a_timestamp() -> None:
    with pytest.raises(ValueError):
        parse_ts("<ts>")


@given(s.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=s.just(UTC)))
def test_format_round_trips_to_the_microsecond(moment: datetime) -> None:
    assert parse_ts(format_ts(moment)) == moment
    assert "'" not in format_ts(moment)


@given(s.datetimes(timezones=s.just(UTC)), s.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)))
def test_later_picks_the_maximum_and_ignores_none(moment: datetime, gap: timedelta) -> None:
    assert later(moment, None) == later(None, moment) == moment
    if moment + gap <= datetime.max.replace(tzinfo=UTC):
        assert later(moment, moment + gap) == moment + gap
