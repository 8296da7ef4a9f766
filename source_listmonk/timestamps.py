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
