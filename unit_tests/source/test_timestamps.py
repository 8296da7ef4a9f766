"""listmonk timestamp parsing and the exact, SQL-safe format the state uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as s

from source_listmonk.timestamps import LaterThan, format_ts, later, parse_ts

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


moments = s.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=s.just(UTC))
offsets = s.sampled_from([None, timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8), timedelta(hours=14)])


def written(moment: datetime, offset: timedelta | None, digits: int, space: bool) -> str:
    """`moment` as listmonk (Go, PostgreSQL) may write it: `Z` or an offset, 0-6 fraction digits with the zeros
    Go cuts, or (not listmonk's usual shape, parsed instead) a space for the `T`."""
    local = moment.astimezone(timezone(offset) if offset is not None else UTC)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if space else "%Y-%m-%dT%H:%M:%S")
    fraction = f"{local.microsecond:06d}"[:digits].rstrip("0")
    if fraction:
        text += "." + fraction
    if offset is None:
        return text + "Z"
    zone = local.strftime("%z")
    return f"{text}{zone[:3]}:{zone[3:]}"


@given(moments, moments, offsets, s.integers(0, 6), s.booleans(), s.sampled_from([timedelta(0), timedelta(microseconds=1)]))
def test_later_than_agrees_with_comparing_the_parsed_times(
    moment: datetime, other: datetime, offset: timedelta | None, digits: int, space: bool, nudge: timedelta
) -> None:
    # Times at, just after and far from the moment, in every shape listmonk writes.
    for candidate in (other, moment, moment + nudge, moment - nudge):
        text = written(candidate, offset, digits, space)
        assert LaterThan(moment)(text) == (parse_ts(text) > moment), text


def test_later_than_says_no_for_missing_times_and_rejects_text_that_is_not_a_time() -> None:
    later_than = LaterThan(datetime(2026, 1, 1, tzinfo=UTC))
    assert not later_than(None) and not later_than("")
    with pytest.raises(ValueError):
        later_than("<ts>")
