"""GET /api/subscribers, the CSV export and delete-by-query: listmonk's raw-SQL `query` splice.

The `query` expression is pasted, unparenthesised, after `AND` into listmonk's own WHERE clause
and run for real, so quoting mistakes and `OR` escapes behave exactly as on a real server.
Guards as in listmonk: EXPLAIN first (syntax errors and a table allow-list answer 400), the
extended protocol (so PostgreSQL refuses stacked statements), and a READ ONLY transaction.
"""
from __future__ import annotations

from typing import Any, Iterator

import psycopg
from psycopg import Connection
from psycopg.rows import tuple_row
from werkzeug.wrappers import Request, Response

from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all, fetch_one
from listmonk_emulator.models import subscribers_json
from listmonk_emulator.web import ApiError, db_error, ok, paging, read_json

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


# Go's unicode.IsSpace: the Latin-1 spaces and the rest of Unicode's White_Space set.
_GO_SPACE = r"[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_EXPORT_HEADER = b"uuid,email,name,attributes,status,created_at,updated_at\n"


def _go_csv_field(column: str) -> str:
    r"""SQL rendering a text column as Go's encoding/csv Writer does (fieldNeedsQuotes): quoted, quotes doubled,
    if it is `\.`, holds a comma, quote, CR or LF, or begins with a space; as is otherwise, the empty string too.
    PostgreSQL's COPY CSV differs (it quotes "" and not a leading space), hence the hand-made rule."""
    return (rf"""CASE WHEN {column} ~ '[,"\r\n]|^{_GO_SPACE}' OR {column} = '\.' """
            f"""THEN '"' || replace({column}, '"', '""') || '"' ELSE {column} END""")


def _go_time(column: str) -> str:
    """SQL for Go's time.Time.String() of a timestamptz that lib/pq scanned in a UTC session,
    `2006-01-02 15:04:05.999999999 -0700 MST`: PostgreSQL's ISO text of a timestamp (DateStyle ISO, the server's
    default) already drops trailing fractional zeros and the dot. A NULL is null.Time's zero Time, as listmonk
    prints `.Time`."""
    return f"COALESCE(({column} AT TIME ZONE 'UTC')::TEXT, '0001-01-01 00:00:00') || ' +0000 UTC'"


# One finished CSV line per subscriber, built by PostgreSQL: formatting rows in Python was the export's
# bottleneck. uuid and status never need quotes. `sub.attribs` is already jsonb's own text (see the query).
_EXPORT_LINE = " || ',' || ".join([
    "sub.uuid::TEXT", _go_csv_field("sub.email"), _go_csv_field("sub.name"), _go_csv_field("sub.attribs"),
    "sub.status::TEXT", _go_time("sub.created_at"), _go_time("sub.updated_at"),
]) + r" || E'\n'"


def export_subscribers(ctx: Ctx) -> Response:
    """Streams `uuid,email,name,attributes,status,created_at,updated_at` in id order, in batches, byte for byte
    as listmonk's encoding/csv Writer."""
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
    # listmonk's query-subscribers-for-export, which filters with `= ALL(list ids)`, kept as is, but for attribs:
    # listmonk scans the jsonb into a Go string, i.e. PostgreSQL's text of it. Cast in here, where the LIMIT keeps
    # the planner from copying the cast into each use in _EXPORT_LINE, so it runs once a row.
    sql = f"""SELECT sub.id, {_EXPORT_LINE} FROM (
              SELECT subscribers.id, subscribers.uuid, subscribers.email, subscribers.name,
                     subscribers.status, subscribers.attribs::TEXT AS attribs, subscribers.created_at,
                     subscribers.updated_at
              {_FROM}
              WHERE subscriber_lists.list_id = ALL(%(lists)s::INT[]) AND subscribers.id > %(after)s
              AND (CASE WHEN CARDINALITY(%(ids)s::INT[]) > 0 THEN subscribers.id = ANY(%(ids)s::INT[]) ELSE true END)
              AND {_SEARCH}
              AND {_splice(query)}
              ORDER BY subscribers.id ASC LIMIT %(limit)s) AS sub"""
    pool = ctx.state.db.pool
    with pool.connection() as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        if query:
            check_query(conn, sql, params)
        conn.rollback()

    def stream() -> Iterator[bytes]:
        # listmonk flushes its CSV writer only after a batch with rows: an export matching nobody is an empty
        # body, without even the header.
        header = _EXPORT_HEADER
        while True:
            with pool.connection() as conn:
                conn.execute("SET TRANSACTION READ ONLY")
                rows = conn.cursor(row_factory=tuple_row).execute(sql, params).fetchall()
                conn.rollback()
            if not rows:
                return
            yield header + "".join([line for _, line in rows]).encode()
            header = b""
            params["after"] = rows[-1][0]

    # listmonk's headers; content_type, unlike mimetype, gets no `; charset=utf-8` from werkzeug.
    return Response(stream(), content_type="text/csv", headers={
        "Content-Disposition": "attachment; filename=subscribers.csv",
        "Content-Transfer-Encoding": "binary", "Cache-Control": "no-cache"})


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
