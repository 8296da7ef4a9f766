"""List routes: query (name substring, paging, minimal), get, create, update, delete."""
from __future__ import annotations

import uuid
from typing import Any, Optional

import psycopg
from werkzeug.wrappers import Response

from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all, fetch_one
from listmonk_emulator.models import list_json, list_statuses
from listmonk_emulator.web import ApiError, db_error, ok, paging, parse_id, read_json

_FIELDS = {"name": "string", "type": "string", "optin": "string", "tags": "[]string",
           "description": "string", "status": "string"}
_ORDER_COLUMNS = frozenset({"name", "status", "created_at", "updated_at"})


def _tags(value: Any) -> Optional[list[str]]:
    # listmonk turns spaces into dashes and keeps case ("Sync Tag" -> "Sync-Tag"), and stores no tags as NULL
    # (Go's nil slice): the list itself shows `[]`, the copy nested in a subscriber shows `null`.
    tags = ["-".join(str(t).split()) for t in (value or []) if str(t).strip()]
    return tags or None


def query_lists(ctx: Ctx) -> Response:
    args = ctx.request.args
    query = args.get("query", "").strip()
    with ctx.state.db.pool.connection() as conn:
        if args.get("minimal", "") == "true":
            rows = fetch_all(conn, "SELECT * FROM lists ORDER BY id")
            results = [list_json(r, minimal=True) for r in rows]
            return ok({"results": results, "search": "", "query": "", "total": len(results),
                       "per_page": len(results), "page": 1})
        page, per_page, offset = paging(ctx.request)
        column = args.get("order_by", "")
        column = column if column in _ORDER_COLUMNS else "id"
        direction = "ASC" if args.get("order", "").lower() == "asc" else "DESC"
        # listmonk's query-lists cuts the page inside an unordered CTE (PostgreSQL's physical order, where
        # an updated list moves to the end) and sorts only that page: `order_by` never reaches across pages.
        where = """WHERE (%(q)s = '' OR name ILIKE '%%' || %(q)s || '%%')
                   AND (%(type)s = '' OR type::TEXT = %(type)s)
                   AND (%(optin)s = '' OR optin::TEXT = %(optin)s)"""
        params = {"q": query, "type": args.get("type", ""), "optin": args.get("optin", ""),
                  "offset": offset, "limit": per_page}
        rows = fetch_all(
            conn,
            f"""SELECT * FROM (SELECT * FROM lists {where}
                               OFFSET %(offset)s LIMIT (CASE WHEN %(limit)s < 1 THEN NULL ELSE %(limit)s END)) ls
                ORDER BY {column} {direction}, id {direction}""",
            params,
        )
        count = fetch_one(conn, f"SELECT COUNT(*) AS n FROM lists {where}", params)
        total = int(count["n"]) if count else 0
        statuses = list_statuses(conn, [r["id"] for r in rows])
        conn.rollback()
    results = [list_json(r, statuses[r["id"]]) for r in rows]
    return ok({"results": results, "search": "", "query": query, "total": total,
               "per_page": per_page, "page": page})


def _one(ctx: Ctx, list_id: int) -> dict[str, Any]:
    with ctx.state.db.pool.connection() as conn:
        row = fetch_one(conn, "SELECT * FROM lists WHERE id = %s", (list_id,))
        if row is None:
            raise ApiError(400, "List not found")
        return list_json(row, list_statuses(conn, [list_id])[list_id])


def get_list(ctx: Ctx) -> Response:
    return ok(_one(ctx, parse_id(ctx.path["id"])))


def create_list(ctx: Ctx) -> Response:
    body = read_json(ctx.request, _FIELDS)
    name = (body.get("name") or "").strip()
    if not name:
        raise ApiError(400, "Invalid name")
    with ctx.state.db.pool.connection() as conn:
        try:
            row = fetch_one(
                conn,
                """INSERT INTO lists (uuid, name, type, optin, tags, description)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                (uuid.uuid4(), name, body.get("type") or "private", body.get("optin") or "single",
                 _tags(body.get("tags")), body.get("description") or ""),
            )
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error creating List", err) from None
    assert row is not None
    return ok(_one(ctx, row["id"]))


def update_list(ctx: Ctx) -> Response:
    list_id = parse_id(ctx.path["id"])
    body = read_json(ctx.request, _FIELDS)
    with ctx.state.db.pool.connection() as conn:
        try:
            row = fetch_one(
                conn,
                """UPDATE lists SET
                       name = CASE WHEN %(name)s != '' THEN %(name)s ELSE name END,
                       type = CASE WHEN %(type)s != '' THEN %(type)s::list_type ELSE type END,
                       optin = CASE WHEN %(optin)s != '' THEN %(optin)s::list_optin ELSE optin END,
                       status = CASE WHEN %(status)s != '' THEN %(status)s::list_status ELSE status END,
                       tags = %(tags)s::VARCHAR(100)[],
                       description = CASE WHEN %(description)s != '' THEN %(description)s ELSE description END,
                       updated_at = NOW()
                   WHERE id = %(id)s RETURNING id""",
                {"id": list_id, "name": (body.get("name") or "").strip(), "type": body.get("type") or "",
                 "optin": body.get("optin") or "", "status": body.get("status") or "",
                 "tags": _tags(body.get("tags")), "description": body.get("description") or ""},
            )
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error updating List", err) from None
    if row is None:
        raise ApiError(400, "List not found")
    return ok(_one(ctx, list_id))


def delete_list(ctx: Ctx) -> Response:
    list_id = parse_id(ctx.path["id"])
    with ctx.state.db.pool.connection() as conn:
        conn.execute("DELETE FROM lists WHERE id = %s", (list_id,))
        conn.commit()
    return ok(True)
