"""Single-subscriber routes: create, get, PUT (replace), PATCH (partial), delete, blocklist, bounces."""
from __future__ import annotations

import uuid
from typing import Any, Optional

import psycopg
from psycopg import Connection, errors
from werkzeug.wrappers import Response

from listmonk_emulator import gojson
from listmonk_emulator.campaigns import bounces_for_subscriber
from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all, fetch_one
from listmonk_emulator.models import name_from_email, normalise_email, subscribers_json
from listmonk_emulator.web import ApiError, db_error, ok, parse_id, read_json

SUBSCRIBER_FIELDS = {
    "email": "string",
    "name": "string",
    "status": "string",
    "lists": "[]int",
    "list_uuids": "[]string",
    "attribs": "models.JSON",
    "preconfirm_subscriptions": "bool",
}


def load_subscriber(conn: Connection[Any], sub_id: int) -> Optional[dict[str, Any]]:
    row = fetch_one(conn, "SELECT * FROM subscribers WHERE id = %s", (sub_id,))
    return subscribers_json(conn, [row])[0] if row else None


def _get_or_400(conn: Connection[Any], sub_id: int) -> dict[str, Any]:
    sub = load_subscriber(conn, sub_id)
    if sub is None:
        raise ApiError(400, f"Subscriber ({sub_id}: ) not found")
    return sub


def get_subscriber(ctx: Ctx) -> Response:
    sub_id = parse_id(ctx.path["id"])
    with ctx.state.db.pool.connection() as conn:
        return ok(_get_or_400(conn, sub_id))


def _sub_status(body: dict[str, Any]) -> str:
    return "confirmed" if body.get("preconfirm_subscriptions") else "unconfirmed"


def _int_list(value: Any) -> list[int]:
    return [int(v) for v in (value or []) if isinstance(v, int)]


def _attribs(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def create_subscriber(ctx: Ctx) -> Response:
    body = read_json(ctx.request, SUBSCRIBER_FIELDS)
    email = normalise_email(body.get("email"))
    if email is None:
        raise ApiError(400, "Invalid email.")
    name = (body.get("name") or "").strip() or name_from_email(email)
    status = body.get("status") or "enabled"
    with ctx.state.db.pool.connection() as conn:
        try:
            # listmonk's insert-subscriber: unknown list ids fall out of the list lookup, and a
            # blocklisted subscriber's subscriptions start as unsubscribed.
            row = fetch_one(
                conn,
                """WITH sub AS (
                       INSERT INTO subscribers (uuid, email, name, status, attribs)
                       VALUES (%(uuid)s, %(email)s, %(name)s, %(status)s, %(attribs)s) RETURNING id
                   ), ins AS (
                       INSERT INTO subscriber_lists (subscriber_id, list_id, status)
                       SELECT (SELECT id FROM sub), l.id,
                              CASE WHEN %(status)s = 'blocklisted' THEN 'unsubscribed'::subscription_status
                                   ELSE %(sub_status)s::subscription_status END
                       FROM lists l WHERE l.id = ANY(%(lists)s)
                   )
                   SELECT id FROM sub""",
                {
                    "uuid": uuid.uuid4(),
                    "email": email,
                    "name": name,
                    "status": status,
                    "attribs": gojson.dumps(_attribs(body.get("attribs"))),
                    "sub_status": _sub_status(body),
                    "lists": _int_list(body.get("lists")),
                },
            )
            conn.commit()
        except errors.UniqueViolation:
            conn.rollback()
            raise ApiError(409, "E-mail already exists.") from None
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error creating Subscriber", err) from None
        assert row is not None
        return ok(load_subscriber(conn, row["id"]))


def _update(conn: Connection[Any], sub_id: int, fields: dict[str, Any], lists: Optional[list[int]],
            sub_status: str, merge_attribs: bool) -> bool:
    """listmonk's update-subscriber(-with-lists); returns False when the id does not exist."""
    attribs_sql = "attribs || %(attribs)s::JSONB" if merge_attribs else "%(attribs)s::JSONB"
    row = fetch_one(
        conn,
        f"""UPDATE subscribers SET
               email = CASE WHEN %(email)s != '' THEN %(email)s ELSE email END,
               name = CASE WHEN %(name)s != '' THEN %(name)s ELSE name END,
               status = CASE WHEN %(status)s != '' THEN %(status)s::subscriber_status ELSE status END,
               attribs = CASE WHEN %(attribs)s != '' THEN {attribs_sql} ELSE attribs END,
               updated_at = NOW()
           WHERE id = %(id)s RETURNING id""",
        {**fields, "id": sub_id},
    )
    if row is None:
        return False
    if lists is None:
        return True
    valid = [r["id"] for r in fetch_all(conn, "SELECT id FROM lists WHERE id = ANY(%s)", (lists,))]
    conn.execute(
        "DELETE FROM subscriber_lists WHERE subscriber_id = %s AND list_id != ALL(%s)", (sub_id, valid)
    )
    # Existing confirmed/unsubscribed subscriptions keep their status; only a blocklisting
    # request (the status sent, not the stored one) unsubscribes the lists sent.
    conn.execute(
        """INSERT INTO subscriber_lists (subscriber_id, list_id, status)
           SELECT %(id)s, l, CASE WHEN %(status)s = 'blocklisted' THEN 'unsubscribed'::subscription_status
                                  ELSE %(sub_status)s::subscription_status END
           FROM UNNEST(%(lists)s::INT[]) l
           ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status = CASE
               WHEN %(status)s = 'blocklisted' THEN 'unsubscribed'::subscription_status
               WHEN subscriber_lists.status = 'confirmed' THEN 'confirmed'
               WHEN subscriber_lists.status = 'unsubscribed' THEN 'unsubscribed'::subscription_status
               ELSE %(sub_status)s::subscription_status END""",
        {"id": sub_id, "status": fields["status"], "sub_status": sub_status, "lists": valid},
    )
    return True


def _run_update(ctx: Ctx, sub_id: int, fields: dict[str, Any], lists: Optional[list[int]],
                sub_status: str, merge: bool, missing_message: str) -> Response:
    with ctx.state.db.pool.connection() as conn:
        try:
            found = _update(conn, sub_id, fields, lists, sub_status, merge)
            conn.commit()
        except errors.UniqueViolation as err:
            conn.rollback()
            raise db_error("Error updating Subscriber", err, with_detail=True) from None
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error updating Subscriber", err) from None
        if not found:
            raise ApiError(400, missing_message)
        return ok(load_subscriber(conn, sub_id))


def put_subscriber(ctx: Ctx) -> Response:
    """PUT replaces: omitted attribs become {}, omitted lists remove every subscription."""
    sub_id = parse_id(ctx.path["id"])
    body = read_json(ctx.request, SUBSCRIBER_FIELDS)
    email = normalise_email(body.get("email"))
    if email is None:
        raise ApiError(400, "Invalid email.")
    fields = {
        "email": email,
        "name": (body.get("name") or "").strip(),
        "status": body.get("status") or "",
        "attribs": gojson.dumps(_attribs(body.get("attribs"))),
    }
    return _run_update(ctx, sub_id, fields, _int_list(body.get("lists")), _sub_status(body), False,
                       f"Subscriber (0: {email}) not found")


def patch_subscriber(ctx: Ctx) -> Response:
    """PATCH (v6.1+): only the fields sent change; attribs merge shallowly; lists, if sent, replace."""
    sub_id = parse_id(ctx.path["id"])
    body = read_json(ctx.request, SUBSCRIBER_FIELDS)
    email = ""
    if "email" in body and body["email"] is not None:
        email = normalise_email(body["email"]) or ""
        if not email:
            raise ApiError(400, "Invalid email.")
    attribs = body.get("attribs")
    fields = {
        "email": email,
        "name": (body.get("name") or "").strip(),
        "status": body.get("status") or "",
        "attribs": gojson.dumps(attribs) if isinstance(attribs, dict) else "",
    }
    lists = _int_list(body["lists"]) if body.get("lists") is not None else None
    return _run_update(ctx, sub_id, fields, lists, _sub_status(body), True,
                       f"Subscriber ({sub_id}: ) not found")


def delete_subscriber(ctx: Ctx) -> Response:
    sub_id = parse_id(ctx.path["id"])
    return _delete_ids(ctx, [sub_id])


def delete_subscribers(ctx: Ctx) -> Response:
    try:
        ids = [int(v) for v in ctx.request.args.getlist("id")]
    except ValueError:
        raise ApiError(400, "Invalid ID(s)") from None
    if not ids:
        raise ApiError(400, "No IDs given.")
    return _delete_ids(ctx, ids)


def _delete_ids(ctx: Ctx, ids: list[int]) -> Response:
    with ctx.state.db.pool.connection() as conn:
        conn.execute("DELETE FROM subscribers WHERE id = ANY(%s)", (ids,))
        conn.commit()
    return ok(True)


def _blocklist(ctx: Ctx, ids: list[int]) -> Response:
    with ctx.state.db.pool.connection() as conn:
        try:
            conn.execute(
                """WITH b AS (UPDATE subscribers SET status = 'blocklisted', updated_at = NOW()
                              WHERE id = ANY(%(ids)s))
                   UPDATE subscriber_lists SET status = 'unsubscribed', updated_at = NOW()
                   WHERE subscriber_id = ANY(%(ids)s)""",
                {"ids": ids},
            )
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error blocklisting Subscribers", err) from None
    return ok(True)


def blocklist_one(ctx: Ctx) -> Response:
    return _blocklist(ctx, [parse_id(ctx.path["id"])])


def blocklist_many(ctx: Ctx) -> Response:
    body = read_json(ctx.request, {"ids": "[]int"})
    ids = _int_list(body.get("ids"))
    if not ids:
        raise ApiError(400, "One or more IDs are invalid: ids")
    return _blocklist(ctx, ids)


def subscriber_bounces(ctx: Ctx) -> Response:
    sub_id = parse_id(ctx.path["id"])
    with ctx.state.db.pool.connection() as conn:
        return ok(bounces_for_subscriber(conn, sub_id))
