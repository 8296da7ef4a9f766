"""Read-only campaign and bounce routes, in listmonk's shapes (misc_shapes.json)."""
from __future__ import annotations

from typing import Any

from psycopg import Connection
from werkzeug.wrappers import Response

from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all
from listmonk_emulator.web import ok, paging, ts

_CAMPAIGN_ORDER = frozenset({"name", "status", "created_at", "updated_at", "send_at"})


def _campaign_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": ts(row["created_at"]),
        "updated_at": ts(row["updated_at"]),
        "views": row["views"],
        "clicks": row["clicks"],
        "bounces": row["bounce_count"],
        "lists": row["lists"],
        "media": [],
        "started_at": ts(row["started_at"]),
        "to_send": row["to_send"],
        "sent": row["sent"],
        "uuid": str(row["uuid"]),
        "type": row["type"],
        "name": row["name"],
        "subject": row["subject"],
        "from_email": row["from_email"],
        "body": row["body"],
        "body_source": row["body_source"],
        "altbody": row["altbody"],
        "send_at": ts(row["send_at"]),
        "status": row["status"],
        "content_type": row["content_type"],
        "tags": list(row["tags"] or []),
        "headers": row["headers"],
        "attribs": row["attribs"],
        "template_id": row["template_id"],
        "messenger": row["messenger"],
        "archive": row["archive"],
        "archive_slug": row["archive_slug"],
        "archive_template_id": row["archive_template_id"],
        "archive_meta": row["archive_meta"],
    }


def query_campaigns(ctx: Ctx) -> Response:
    args = ctx.request.args
    page, per_page, offset = paging(ctx.request)
    column = args.get("order_by", "")
    column = column if column in _CAMPAIGN_ORDER else "created_at"
    direction = "ASC" if args.get("order", "").lower() == "asc" else "DESC"
    query = args.get("query", "").strip()
    with ctx.state.db.pool.connection() as conn:
        rows = fetch_all(
            conn,
            f"""SELECT c.*, COUNT(*) OVER () AS total,
                   (SELECT COUNT(DISTINCT subscriber_id) FROM campaign_views v WHERE v.campaign_id = c.id) AS views,
                   (SELECT COUNT(DISTINCT subscriber_id) FROM link_clicks k WHERE k.campaign_id = c.id) AS clicks,
                   (SELECT COUNT(*) FROM bounces b WHERE b.campaign_id = c.id) AS bounce_count,
                   (SELECT COALESCE(JSON_AGG(JSON_BUILD_OBJECT('id', COALESCE(cl.list_id, 0), 'name', cl.list_name)
                                             ORDER BY cl.id), '[]')
                    FROM campaign_lists cl WHERE cl.campaign_id = c.id) AS lists
                FROM campaigns c
                WHERE (%(q)s = '' OR CONCAT(c.name, ' ', c.subject) ILIKE '%%' || %(q)s || '%%')
                ORDER BY c.{column} {direction}, c.id {direction}
                OFFSET %(offset)s LIMIT (CASE WHEN %(limit)s < 1 THEN NULL ELSE %(limit)s END)""",
            {"q": query, "offset": offset, "limit": per_page},
        )
        conn.rollback()
    total = int(rows[0]["total"]) if rows else 0
    return ok({"results": [_campaign_json(r) for r in rows], "search": "", "query": query,
               "total": total, "per_page": per_page, "page": page})


def _bounce_json(row: dict[str, Any]) -> dict[str, Any]:
    campaign = {"id": row["campaign_id"], "name": row["campaign_name"]} if row["campaign_id"] else None
    return {
        "id": row["id"],
        "type": row["type"],
        "source": row["source"],
        "meta": row["meta"],
        "created_at": ts(row["created_at"]),
        "email": row["email"],
        "subscriber_uuid": str(row["subscriber_uuid"]),
        "subscriber_id": row["subscriber_id"],
        "campaign": campaign,
    }


_BOUNCES_SQL = """SELECT b.*, COUNT(*) OVER () AS total, s.email, s.uuid AS subscriber_uuid,
                         c.name AS campaign_name
                  FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id
                  LEFT JOIN campaigns c ON c.id = b.campaign_id"""


def query_bounces(ctx: Ctx) -> Response:
    page, per_page, offset = paging(ctx.request)
    with ctx.state.db.pool.connection() as conn:
        rows = fetch_all(
            conn,
            _BOUNCES_SQL + """ ORDER BY b.created_at DESC, b.id DESC
                OFFSET %(offset)s LIMIT (CASE WHEN %(limit)s < 1 THEN NULL ELSE %(limit)s END)""",
            {"offset": offset, "limit": per_page},
        )
        conn.rollback()
    if not rows:
        # listmonk answers an empty, zero-valued page when there are no bounces at all.
        return ok({"results": [], "search": "", "query": "", "total": 0, "per_page": 0, "page": 0})
    return ok({"results": [_bounce_json(r) for r in rows], "search": "", "query": "",
               "total": int(rows[0]["total"]), "per_page": per_page, "page": page})


def bounces_for_subscriber(conn: Connection[Any], sub_id: int) -> list[dict[str, Any]]:
    rows = fetch_all(conn, _BOUNCES_SQL + " WHERE b.subscriber_id = %s ORDER BY b.id", (sub_id,))
    return [_bounce_json(r) for r in rows]
