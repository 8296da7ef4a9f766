"""Row -> JSON shapes of listmonk objects, and listmonk's field normalisation rules."""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from psycopg import Connection
from psycopg.rows import tuple_row

from listmonk_emulator.db import fetch_all
from listmonk_emulator.web import ts, ts_pg

# Go's net/mail accepts far more, but it rejects display names and bare words, which is what
# listmonk's `Invalid email.` cases rely on.
_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_NAME_SPLIT = re.compile(r"[._+\-]+")


def normalise_email(raw: Any) -> Optional[str]:
    """Trimmed and lowercased email, or None when listmonk would answer `Invalid email.`."""
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    if not email or len(email) > 1000 or not _EMAIL.match(email):
        return None
    return email


def name_from_email(email: str) -> str:
    """listmonk's fallback name: the local part's words, capitalised (`bob.jones@` -> `Bob Jones`)."""
    local = email.split("@", 1)[0]
    words = [w for w in _NAME_SPLIT.split(local) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or local


def list_json(row: dict[str, Any], statuses: Optional[dict[str, int]] = None, minimal: bool = False) -> dict[str, Any]:
    counts = statuses or {}
    return {
        "id": row["id"],
        "created_at": ts(row["created_at"]),
        "updated_at": ts(row["updated_at"]),
        "uuid": str(row["uuid"]),
        "name": row["name"],
        "type": row["type"],
        "optin": row["optin"],
        "status": row["status"],
        "tags": list(row["tags"] or []),
        "description": row["description"],
        "subscriber_count": 0 if minimal else sum(counts.values()),
        "subscriber_statuses": None if minimal else counts,
        "subscription_created_at": None,
        "subscription_updated_at": None,
    }


def _list_in_subscriber_json(row: dict[str, Any]) -> dict[str, Any]:
    # Nested lists come out of PostgreSQL's JSON functions in listmonk, hence `+00:00`.
    return {
        "id": row["id"],
        "uuid": str(row["uuid"]),
        "name": row["name"],
        "type": row["type"],
        "optin": row["optin"],
        "status": row["status"],
        "tags": None if row["tags"] is None else list(row["tags"]),
        "description": row["description"],
        "created_at": ts_pg(row["created_at"]),
        "updated_at": ts_pg(row["updated_at"]),
    }


def subscriptions_by_subscriber(conn: Connection[Any], ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each subscriber's lists with its subscription to them, in list id order. A list's own fields are read and
    shaped once, not once per subscription: that was a third of answering a lookup."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        """SELECT subscriber_id, list_id, status, created_at, updated_at, meta FROM subscriber_lists
           WHERE subscriber_id = ANY(%s) ORDER BY subscriber_id, list_id""",
        (list(set(ids)),),
    ).fetchall()
    if not rows:
        return {}
    lists = {row["id"]: _list_in_subscriber_json(row) for row in fetch_all(
        conn, "SELECT * FROM lists WHERE id = ANY(%s)", (list({row[1] for row in rows}),))}
    out: dict[int, list[dict[str, Any]]] = {}
    for subscriber_id, list_id, status, created_at, updated_at, meta in rows:
        shown = lists.get(list_id)
        if shown is None:  # deleted between the two reads, with its subscriptions
            continue
        out.setdefault(subscriber_id, []).append({
            "subscription_status": status,
            "subscription_created_at": ts_pg(created_at),
            "subscription_updated_at": ts_pg(updated_at),
            "subscription_meta": meta,
            **shown,
        })
    return out


def subscriber_json(row: dict[str, Any], lists: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": ts(row["created_at"]),
        "updated_at": ts(row["updated_at"]),
        "uuid": str(row["uuid"]),
        "email": row["email"],
        "name": row["name"],
        "attribs": row["attribs"],
        "status": row["status"],
        "lists": lists,
    }


def subscribers_json(conn: Connection[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    subs = subscriptions_by_subscriber(conn, (r["id"] for r in rows))
    return [subscriber_json(r, subs.get(r["id"], [])) for r in rows]


def list_statuses(conn: Connection[Any], list_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = fetch_all(
        conn,
        """SELECT list_id, status::TEXT AS status, COUNT(*) AS n FROM subscriber_lists
           WHERE list_id = ANY(%s) GROUP BY list_id, status""",
        (list_ids,),
    )
    out: dict[int, dict[str, int]] = {i: {} for i in list_ids}
    for row in rows:
        out[row["list_id"]][row["status"]] = row["n"]
    return out
