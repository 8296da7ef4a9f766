"""GET /api/subscribers, the CSV export and delete-by-query: listmonk's raw-SQL `query` splice.

The `query` expression is pasted, unparenthesised, after `AND` into listmonk's own WHERE clause
and run for real, so quoting mistakes and `OR` escapes behave exactly as on a real server.
Guards as in listmonk: EXPLAIN first (syntax errors and a table allow-list answer 400), the
extended protocol (so PostgreSQL refuses stacked statements), and a READ ONLY transaction.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

import psycopg
from psycopg import Connection
from werkzeug.wrappers import Request, Response

from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all, fetch_one
from listmonk_emulator.models import subscribers_json
from listmonk_emulator.web import ApiError, db_error, ok, paging, read_json, ts

ALLOWED_TABLES = frozenset({"subscribers", "lists", "subscriber_lists", "campaigns"})
_ORDER_COLUMNS = frozenset({"email", "status", "name", "created_at", "updated_at"})
_EXPORT_BATCH = 5000

# listmonk's query-subscribers join: with list ids, every subscription row of a subscriber joins
# (the list filter is in WHERE), which is why a subscriber in two requested lists appears twice.
_FROM = """FROM subscribers
    LEFT JOIN subscriber_lists ON (
        (CASE WHEN CARDINALITY(%(lists)s::INT[]) > 0 THEN true ELSE false END)
        AND subscriber_lists.subscriber_id = subscribers.id
        AND (%(sub_status)s = '' OR subscriber_lists.status = %(sub_status)s::subscription_status)
    )"""
_SEARCH = "(CASE WHEN %(search)s != '' THEN name ~* %(search)s OR email ~* %(search)s ELSE TRUE END)"


def clean_query(raw: str) -> str:
    """listmonk trims the expression and strips a trailing `;`."""
    return raw.strip().rstrip(";").strip()


def _splice(expression: str) -> str:
    # `%` is psycopg's placeholder marker; the newline keeps a trailing `--` comment from
    # swallowing the rest of the statement, as in listmonk's query template.
    return (expression or "true").replace("%", "%%") + "\n"


def _tables(plan: Any) -> Iterator[str]:
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield plan["Relation Name"]
        for value in plan.values():
            yield from _tables(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _tables(item)


def check_query(conn: Connection[Any], sql: str, params: dict[str, Any]) -> None:
    """EXPLAIN the statement: a bad expression or a disallowed table answers 400."""
    try:
        row = fetch_one(conn, "EXPLAIN (FORMAT JSON) " + sql, params)
    except psycopg.Error as err:
        conn.rollback()
        raise db_error("Error preparing subscriber query", err, status=400) from None
    for table in _tables(row["QUERY PLAN"] if row else []):
        if table not in ALLOWED_TABLES:
            conn.rollback()
            raise ApiError(400, f"Error preparing subscriber query: table '{table}' is not allowed")


def _list_ids(request: Request) -> list[int]:
    try:
        return [int(v) for v in request.args.getlist("list_id") if v != ""]
    except ValueError:
        raise ApiError(400, "Invalid ID(s)") from None


def _order(request: Request) -> str:
    column = request.args.get("order_by", "")
    column = column if column in _ORDER_COLUMNS else "id"
    direction = "ASC" if request.args.get("order", "").lower() == "asc" else "DESC"
    return f"subscribers.{column} {direction}"


def _page(conn: Connection[Any], count_sql: str, rows_sql: str, params: dict[str, Any],
          per_page: int) -> tuple[list[dict[str, Any]], int]:
    """The page's rows and the total. listmonk counts first and skips the row query when nothing matches;
    with per_page=all the rows are the whole result (offset 0, no limit), so their number is the total and
    the count, a second run of the same WHERE, is saved."""
    if per_page == 0:
        rows = fetch_all(conn, rows_sql, params)
        return rows, len(rows)
    total_row = fetch_one(conn, count_sql, params)
    total = int(total_row["total"]) if total_row else 0
    return (fetch_all(conn, rows_sql, params) if total else []), total


def query_subscribers(ctx: Ctx) -> Response:
    request = ctx.request
    lists = _list_ids(request)
    query = clean_query(request.args.get("query", ""))
    if query:
        ctx.require_sql_query()
    search = request.args.get("search", "").strip()
    page, per_page, offset = paging(request)
    params = {
        "lists": lists,
        "sub_status": request.args.get("subscription_status", ""),
        "search": search,
        "offset": offset,
        "limit": per_page,
    }
    where = f"WHERE (CARDINALITY(%(lists)s::INT[]) = 0 OR subscriber_lists.list_id = ANY(%(lists)s::INT[]))\n" \
            f"AND {_SEARCH}\nAND {_splice(query)}"
    count_sql = f"SELECT COUNT(*) AS total {_FROM} {where}"
    rows_sql = f"""SELECT subscribers.* {_FROM} {where} ORDER BY {_order(request)}
                   OFFSET %(offset)s LIMIT (CASE WHEN %(limit)s < 1 THEN NULL ELSE %(limit)s END)"""
    with ctx.state.db.pool.connection() as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        if query:
            check_query(conn, count_sql, params)
        try:
            rows, total = _page(conn, count_sql, rows_sql, params, per_page)
            results: Any = subscribers_json(conn, rows) if rows else ([] if total == 0 else None)
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error fetching Subscribers", err) from None
        conn.rollback()
    return ok({"results": results, "search": search, "query": query, "total": total,
               "per_page": per_page, "page": page})


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def export_subscribers(ctx: Ctx) -> Response:
    """Streams `uuid,email,name,attributes,status,created_at,updated_at` in id order, in batches."""
    request = ctx.request
    query = clean_query(request.args.get("query", ""))
    if query:
        ctx.require_sql_query()
    try:
        ids = [int(v) for v in request.args.getlist("id")]
    except ValueError:
        raise ApiError(400, "Invalid ID(s)") from None
    params: dict[str, Any] = {
        "lists": _list_ids(request),
        "ids": ids,
        "sub_status": request.args.get("subscription_status", ""),
        "search": request.args.get("search", "").strip(),
        "after": 0,
        "limit": _EXPORT_BATCH,
    }
    # listmonk's query-subscribers-for-export filters with `= ALL(list ids)`, kept as is.
    sql = f"""SELECT subscribers.id, subscribers.uuid, subscribers.email, subscribers.name,
                     subscribers.status, subscribers.attribs, subscribers.created_at, subscribers.updated_at
              {_FROM}
              WHERE subscriber_lists.list_id = ALL(%(lists)s::INT[]) AND subscribers.id > %(after)s
              AND (CASE WHEN CARDINALITY(%(ids)s::INT[]) > 0 THEN subscribers.id = ANY(%(ids)s::INT[]) ELSE true END)
              AND {_SEARCH}
              AND {_splice(query)}
              ORDER BY subscribers.id ASC LIMIT %(limit)s"""
    pool = ctx.state.db.pool
    with pool.connection() as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        if query:
            check_query(conn, sql, params)
        conn.rollback()

    def stream() -> Iterator[str]:
        yield _csv_line(["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"])
        while True:
            with pool.connection() as conn:
                conn.execute("SET TRANSACTION READ ONLY")
                rows = fetch_all(conn, sql, params)
                conn.rollback()
            if not rows:
                return
            yield "".join(
                _csv_line([str(r["uuid"]), r["email"], r["name"],
                           json.dumps(r["attribs"], separators=(",", ":"), sort_keys=True),
                           r["status"], ts(r["created_at"]) or "", ts(r["updated_at"]) or ""])
                for r in rows
            )
            params["after"] = rows[-1]["id"]

    return Response(stream(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=subscribers.csv"})


def delete_by_query(ctx: Ctx) -> Response:
    body = read_json(ctx.request, {"query": "string", "list_ids": "[]int", "all": "bool"})
    ctx.require_sql_query()
    query = clean_query(body.get("query") or "")
    if body.get("all"):
        query = "true"
    if not query:
        raise ApiError(400, "Invalid fields: query")
    params = {"lists": [v for v in body.get("list_ids") or [] if isinstance(v, int)],
              "sub_status": "", "search": ""}
    sql = f"""WITH subs AS (SELECT subscribers.id {_FROM}
                  WHERE subscriber_lists.list_id = ALL(%(lists)s::INT[]) AND {_SEARCH}
                  AND {_splice(query)})
              DELETE FROM subscribers WHERE id = ANY(SELECT id FROM subs)"""
    with ctx.state.db.pool.connection() as conn:
        try:
            conn.execute(sql, params)
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error deleting Subscribers", err) from None
    return ok(True)
