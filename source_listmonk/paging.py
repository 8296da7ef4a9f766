"""Reading subscribers page by page in id order without skipping or repeating a row while rows change.

With `subscribers:sql_query`: keyset pages, `query=(id > last_id) AND (...)`, always page 1, so inserts,
updates and deletes during the read cannot shift a row past us; a read of every subscriber asks for ranges of ids
instead (below), several at once. Without it: offset pages (`page`, `per_page`)
in id order, where a delete on an earlier page would shift an unseen row back onto a page we have read.
Each page is therefore checked with a one-row probe at the offset where the last row seen should still
be; if it moved, the previous page is read again (rows already seen are dropped by id).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, Optional, Protocol

import requests

from listmonk_client.client import ListmonkClient
from listmonk_client.sql import SqlExpr, quote_literal

from source_listmonk.timestamps import format_ts, parse_optional_ts

SUBSCRIBERS_PATH = "/api/subscribers"
# listmonk's order_by whitelist has no `id`; anything unlisted sorts by subscribers.id.
_BY_ID = {"order_by": "id", "order": "asc"}
# Id ranges requested at once in a read of every subscriber: listmonk prepares them while a page's rows are
# emitted. Each holds a page in memory once it has arrived.
RANGES_IN_FLIGHT = 2


def _results(client: ListmonkClient, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _rows(client.get_undecoded(SUBSCRIBERS_PATH, params))


def _rows(response: requests.Response) -> list[dict[str, Any]]:
    body = ListmonkClient.decode(response, "GET", SUBSCRIBERS_PATH)
    # A page past the end is `results: null`.
    return list(((body or {}).get("data") or {}).get("results") or [])


def updated_since(moment: datetime) -> SqlExpr:
    return SqlExpr(f"subscribers.updated_at > {quote_literal(format_ts(moment))}")


class SubscriberPages(Protocol):
    """Pages of subscribers with id > after_id, ascending; `narrowing` may (not must) be applied server-side."""

    def __call__(self, after_id: int, narrowing: Optional[SqlExpr]) -> Iterator[list[dict[str, Any]]]: ...


class KeysetPages:
    """With a narrowing, the next page is requested as soon as the last id of the current one is known, so
    listmonk prepares it while the current page's rows are emitted. Without one (every subscriber), ids up to the
    highest at the start are read as ranges `id > low AND id <= low + per_page`, whose one page holds the whole
    range: a range needs nothing from the one before it, so RANGES_IN_FLIGHT are requested at once and none
    waits for the previous page to arrive and be parsed. Rows added since (higher ids) follow by keyset."""

    def __init__(self, client: ListmonkClient, per_page: int) -> None:
        self._client = client
        self._per_page = per_page

    def _page(self, after_id: int, narrowing: Optional[SqlExpr], up_to: Optional[int] = None) -> requests.Response:
        """The page's response, undecoded: a page fetched ahead waits as bytes, decoded once its turn comes."""
        expr = SqlExpr(f"subscribers.id > {int(after_id)}")
        if up_to is not None:
            expr = expr.and_(SqlExpr(f"subscribers.id <= {int(up_to)}"))
        if narrowing is not None:
            expr = expr.and_(narrowing)
        params = {**_BY_ID, "query": expr.wrapped(), "page": 1, "per_page": self._per_page}
        return self._client.get_undecoded(SUBSCRIBERS_PATH, params)

    def __call__(self, after_id: int, narrowing: Optional[SqlExpr]) -> Iterator[list[dict[str, Any]]]:
        with ThreadPoolExecutor(max_workers=RANGES_IN_FLIGHT, thread_name_prefix="listmonk-next-page") as pool:
            if narrowing is None:
                top = highest_subscriber_id(self._client)
                if top is not None and top > after_id:
                    yield from self._ranges(pool, after_id, top)
                    after_id = top
            yield from self._chain(pool, after_id, narrowing)

    def _ranges(self, pool: ThreadPoolExecutor, after_id: int, top: int) -> Iterator[list[dict[str, Any]]]:
        span = self._per_page  # ids are distinct integers: a range of `per_page` ids fits on one page
        lows = iter(range(after_id, top, span))
        pending: deque[Future[requests.Response]] = deque()

        def request_next() -> None:
            low = next(lows, None)
            if low is not None:
                pending.append(pool.submit(self._page, low, None, min(low + span, top)))

        for _ in range(RANGES_IN_FLIGHT):
            request_next()
        while pending:
            rows = _rows(pending.popleft().result())
            request_next()
            if rows:  # a range of deleted ids is empty
                yield rows

    def _chain(self, pool: ThreadPoolExecutor, after_id: int, narrowing: Optional[SqlExpr]) -> Iterator[list[dict[str, Any]]]:
        rows = _rows(self._page(after_id, narrowing))
        while rows:
            last = len(rows) < self._per_page
            following = None if last else pool.submit(self._page, int(rows[-1]["id"]), narrowing)
            yield rows
            if following is None:
                return
            rows = _rows(following.result())


class OffsetPages:
    def __init__(self, client: ListmonkClient, per_page: int) -> None:
        self._client = client
        self._per_page = per_page

    def _page(self, page: int, per_page: int) -> list[dict[str, Any]]:
        return _results(self._client, {**_BY_ID, "page": page, "per_page": per_page})

    def _id_at(self, offset: int) -> Optional[int]:
        rows = self._page(offset + 1, 1)
        return int(rows[0]["id"]) if rows else None

    def __call__(self, after_id: int, narrowing: Optional[SqlExpr]) -> Iterator[list[dict[str, Any]]]:
        per_page = self._per_page
        page = 1
        last_id = after_id
        while True:
            rows = self._page(page, per_page)
            if page > 1 and (not rows or int(rows[0]["id"]) > last_id):
                # Nothing shifted iff the last row seen still sits just before this page.
                anchor = self._id_at((page - 1) * per_page - 1)
                if anchor is None or anchor > last_id:
                    page -= 1
                    continue
            fresh = [row for row in rows if int(row["id"]) > last_id]
            if fresh:
                yield fresh
                last_id = int(fresh[-1]["id"])
            if len(rows) < per_page:
                return
            page += 1


def highest_subscriber_id(client: ListmonkClient) -> Optional[int]:
    """max(subscribers.id): listmonk sorts by id when `order_by` names no column it knows."""
    rows = _results(client, {"order_by": "id", "order": "desc", "page": 1, "per_page": 1})
    return int(rows[0]["id"]) if rows else None


def newest_subscriber_change(client: ListmonkClient) -> Optional[datetime]:
    """max(subscribers.updated_at), in one call that needs no sql_query."""
    rows = _results(client, {"order_by": "updated_at", "order": "desc", "page": 1, "per_page": 1})
    return parse_optional_ts(rows[0].get("updated_at")) if rows else None


def subscribers_where(client: ListmonkClient, expr: SqlExpr, per_page: int | str) -> list[dict[str, Any]]:
    """The first page, in id order, of the subscribers `expr` selects (needs sql_query); per_page may be "all"."""
    return _results(client, {**_BY_ID, "query": expr.wrapped(), "page": 1, "per_page": per_page})


def newest_subscription_change(client: ListmonkClient) -> Optional[datetime]:
    """max(subscriber_lists.updated_at): the subscriber holding the newest subscription change (needs sql_query)."""
    expr = SqlExpr(
        "subscribers.id IN (SELECT subscriber_id FROM subscriber_lists "
        "WHERE updated_at = (SELECT MAX(updated_at) FROM subscriber_lists))"
    )
    rows = subscribers_where(client, expr, per_page=1)
    stamps = [parse_optional_ts(entry.get("subscription_updated_at")) for row in rows for entry in row.get("lists") or []]
    return max((stamp for stamp in stamps if stamp is not None), default=None)


def newest_list_change(client: ListmonkClient) -> Optional[datetime]:
    """max(lists.updated_at), over every list: listmonk cuts a page of lists before it sorts it, so no
    `order_by=updated_at&per_page=1` page is sure to hold the newest (an import into a list moves it)."""
    stamps = (parse_optional_ts(found.updated_at) for found in client.all_lists())
    return max((stamp for stamp in stamps if stamp is not None), default=None)
