"""listmonk timestamps <-> aware datetimes, on every Python from 3.10 (whose fromisoformat is strict)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

# listmonk (Go) writes RFC 3339 with 0-9 fraction digits and `Z` or an offset.
_RFC3339 = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_ts(value: str) -> datetime:
    """An aware UTC datetime; fractions beyond microseconds are cut (PostgreSQL keeps microseconds)."""
    match = _RFC3339.match(value.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    frac = (match.group("frac") or "0")[:6].ljust(6, "0")
    tz = match.group("tz") or "+00:00"
    if tz in ("Z", "z"):
        tz = "+00:00"
    elif ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    return datetime.fromisoformat(f"{match.group('base').replace(' ', 'T')}.{frac}{tz}").astimezone(timezone.utc)


def parse_optional_ts(value: object) -> datetime | None:
    return parse_ts(value) if isinstance(value, str) and value else None


def format_ts(value: datetime) -> str:
    """UTC with microseconds, e.g. 2026-11-27T03:50:20.082527Z: exact, and a valid PostgreSQL literal."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


# What listmonk writes (Go's RFC 3339 for subscribers, PostgreSQL's JSON for subscriptions and lists), whole:
# a 'T', at most 6 fraction digits, and `Z` or a +hh:mm offset. Group 1 is the text before the offset.
_SHAPED = re.compile(
    r"([0-9]{4}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9](?:\.[0-9]{1,6})?)(?:Z|[+-][0-9][0-9]:[0-9][0-9])"
)


class LaterThan:
    """`LaterThan(moment)(text)`: whether a listmonk timestamp (text; None or '' are not) is after `moment`.

    Exact, and cheap enough to test every timestamp of every subscriber: a timestamp in listmonk's usual shape
    is compared as text with `moment` written in the same offset (fixed-width digits order as numbers, and a
    shorter fraction is the same number with zeros cut, which sorts before any longer text it starts); any
    other shape is parsed.
    """

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        # Offset text (`Z`, `+02:00`) -> `moment` in that offset, without it, with all 6 fraction digits.
        self._bounds: dict[str, str | None] = {}

    def __call__(self, value: object) -> bool:
        if not isinstance(value, str) or not value:
            return False
        shaped = _SHAPED.fullmatch(value)
        if shaped is None:
            return parse_ts(value) > self.moment
        body = shaped.group(1)
        offset = value[len(body):]
        if offset not in self._bounds:
            self._bounds[offset] = self._written_in(offset)
        bound = self._bounds[offset]
        return body > bound if bound is not None else parse_ts(value) > self.moment

    def _written_in(self, offset: str) -> str | None:
        zone = timezone.utc if offset == "Z" else datetime.strptime(offset, "%z").tzinfo
        try:
            return self.moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.%f")
        except OverflowError:  # a moment near year 1 or 9999 in that offset: compare as datetimes
            return None
