"""PUT /api/subscribers/lists[/:id]: add / remove / unsubscribe many subscribers at once.

Reproduces listmonk faithfully, consent-breaking parts included: `add` with a status overwrites
an `unsubscribed` subscription (even of a blocklisted subscriber) and touches no timestamp.
"""
from __future__ import annotations

from typing import Any

import psycopg
from werkzeug.wrappers import Response

from listmonk_emulator.context import Ctx
from listmonk_emulator.web import ApiError, db_error, ok, parse_id, read_json

_FIELDS = {"ids": "[]int", "action": "string", "target_list_ids": "[]int", "status": "string"}

_SQL = {
    "add": """INSERT INTO subscriber_lists (subscriber_id, list_id, status)
              SELECT a, b, CASE WHEN %(status)s != '' THEN %(status)s::subscription_status
                                ELSE 'unconfirmed' END
              FROM UNNEST(%(ids)s::INT[]) a, UNNEST(%(lists)s::INT[]) b
              ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status =
                  CASE WHEN %(status)s != '' THEN %(status)s::subscription_status
                       ELSE subscriber_lists.status END""",
    "remove": """DELETE FROM subscriber_lists WHERE (subscriber_id, list_id) = ANY(
                     SELECT a, b FROM UNNEST(%(ids)s::INT[]) a, UNNEST(%(lists)s::INT[]) b)""",
    "unsubscribe": """UPDATE subscriber_lists SET status = 'unsubscribed', updated_at = NOW()
                      WHERE (subscriber_id, list_id) = ANY(
                          SELECT a, b FROM UNNEST(%(ids)s::INT[]) a, UNNEST(%(lists)s::INT[]) b)""",
}


def _ints(value: Any) -> list[int]:
    return [v for v in (value or []) if isinstance(v, int)]


def manage_lists(ctx: Ctx) -> Response:
    body = read_json(ctx.request, _FIELDS)
    ids = _ints(body.get("ids"))
    if not ids:
        raise ApiError(400, "No IDs given.")
    if "id" in ctx.path:
        # The path variant still demands `ids` (as listmonk's handler does) but acts on the path id.
        ids = [parse_id(ctx.path["id"])]
    lists = _ints(body.get("target_list_ids"))
    if not lists:
        raise ApiError(400, "No lists given.")
    action = body.get("action") or ""
    if action not in _SQL:
        raise ApiError(400, "Invalid action.")
    with ctx.state.db.pool.connection() as conn:
        try:
            conn.execute(_SQL[action], {"ids": ids, "lists": lists, "status": body.get("status") or ""})
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error updating Subscribers", err) from None
    return ok(True)
