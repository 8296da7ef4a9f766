"""Pure record shaping: subscription rows out of a subscriber, and projection onto the configured fields."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional

from source_listmonk.digest import CURRENT_KIND, RangeRow, range_digest
from source_listmonk.timestamps import LaterThan


# The times on a subscription entry that say whether its row moved: its own two, and its list's.
_ENTRY_STAMPS = ("subscription_created_at", "subscription_updated_at", "updated_at")


def subscription_record(subscriber: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "subscriber_id": subscriber["id"],
        "subscriber_uuid": subscriber.get("uuid"),
        "subscriber_email": subscriber.get("email"),
        "subscriber_status": subscriber.get("status"),
        "list_id": entry["id"],
        "list_uuid": entry.get("uuid"),
        "list_name": entry.get("name"),
        "subscription_status": entry.get("subscription_status"),
        "subscription_created_at": entry.get("subscription_created_at"),
        "subscription_updated_at": entry.get("subscription_updated_at"),
        "subscription_meta": entry.get("subscription_meta"),
    }


def subscription_records(subscriber: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in subscriber.get("lists") or []:
        yield subscription_record(subscriber, entry)


def subscription_rows(subscriber: Mapping[str, Any], after: Optional[LaterThan]) -> Iterator[RangeRow]:
    """One row per list of the subscriber; with no cutoff (`after` None) every row counts as changed."""
    subscriber_moved = after is not None and after(subscriber.get("updated_at"))
    for entry in subscriber.get("lists") or []:
        touched = after is None or after(entry.get("subscription_created_at")) or after(entry.get("subscription_updated_at"))
        moved = touched or subscriber_moved or after(entry.get("updated_at"))
        yield RangeRow(
            record=subscription_record(subscriber, entry),
            subscriber_id=int(subscriber["id"]),
            list_id=int(entry["id"]),
            status=str(entry.get("subscription_status") or ""),
            touched=touched,
            moved=moved,
        )


def scan_range(
    subscribers: Sequence[Mapping[str, Any]], after: Optional[LaterThan], kind: str = CURRENT_KIND
) -> tuple[int, bool]:
    """(status digest in `kind`, whether any row moved) of a range's subscriptions, straight from the subscribers as
    listmonk returned them: what `subscription_rows` would say, without building a row or a record. Each
    distinct timestamp is tested once (a list's appears on every subscriber, an import's on all it wrote)."""
    entries = [(subscriber, entry) for subscriber in subscribers for entry in subscriber.get("lists") or ()]
    new_digest = range_digest(_keys(entries), kind)
    if after is None:
        return new_digest, bool(entries)
    stamps = {entry.get(key) for _, entry in entries for key in _ENTRY_STAMPS}
    stamps.update(subscriber.get("updated_at") for subscriber in subscribers if subscriber.get("lists"))
    return new_digest, any(after(stamp) for stamp in stamps)


def range_keys(subscribers: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, int, str]]:
    """(subscriber id, list id, status) of each subscription the subscribers show: what a digest sums."""
    return _keys((subscriber, entry) for subscriber in subscribers for entry in subscriber.get("lists") or ())


def _keys(entries: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> Iterator[tuple[int, int, str]]:
    for subscriber, entry in entries:
        yield int(subscriber["id"]), int(entry["id"]), str(entry.get("subscription_status") or "")


def selected_fields(json_schema: Optional[Mapping[str, Any]]) -> Optional[frozenset[str]]:
    """Top-level properties the configured catalog asks for; None keeps every field."""
    properties = (json_schema or {}).get("properties")
    return frozenset(properties) if isinstance(properties, Mapping) and properties else None


def project(record: dict[str, Any], fields: Optional[frozenset[str]]) -> dict[str, Any]:
    """The record cut down to `fields`; the record itself (freshly parsed, owned by the caller) when all are kept."""
    if fields is None:
        return record
    return {key: value for key, value in record.items() if key in fields}
