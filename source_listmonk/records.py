"""Pure record shaping: subscription rows out of a subscriber, and projection onto the configured fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Optional

from source_listmonk.digest import RangeRow
from source_listmonk.timestamps import parse_optional_ts


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


def _after(value: Any, cut: Optional[datetime]) -> bool:
    if cut is None:
        return False
    moment = parse_optional_ts(value)
    return moment is not None and moment > cut


def subscription_rows(subscriber: Mapping[str, Any], cut: Optional[datetime]) -> Iterator[RangeRow]:
    """One row per list of the subscriber; with no cutoff every row counts as changed."""
    subscriber_moved = _after(subscriber.get("updated_at"), cut)
    for entry in subscriber.get("lists") or []:
        touched = cut is None or _after(entry.get("subscription_created_at"), cut) or _after(
            entry.get("subscription_updated_at"), cut
        )
        moved = touched or subscriber_moved or _after(entry.get("updated_at"), cut)
        yield RangeRow(
            record=subscription_record(subscriber, entry),
            subscriber_id=int(subscriber["id"]),
            list_id=int(entry["id"]),
            status=str(entry.get("subscription_status") or ""),
            touched=touched,
            moved=moved,
        )


def selected_fields(json_schema: Optional[Mapping[str, Any]]) -> Optional[frozenset[str]]:
    """Top-level properties the configured catalog asks for; None keeps every field."""
    properties = (json_schema or {}).get("properties")
    return frozenset(properties) if isinstance(properties, Mapping) and properties else None


def project(record: Mapping[str, Any], fields: Optional[frozenset[str]]) -> dict[str, Any]:
    if fields is None:
        return dict(record)
    return {key: value for key, value in record.items() if key in fields}
