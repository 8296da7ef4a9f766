"""Subscriber paging while other writers delete and insert rows between our calls.

A fake listmonk holds ids in a sorted list and applies one scripted change before each call. Whatever the
changes, every row present for the whole read must come out exactly once, in ascending id order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests
from hypothesis import given, settings
from hypothesis import strategies as s

from listmonk_client.sql import SqlExpr
from source_listmonk.paging import KeysetPages, OffsetPages, updated_since
from source_listmonk.timestamps import parse_ts

_AFTER = re.compile(r"subscribers\.id > (\d+)")
_UP_TO = re.compile(r"subscribers\.id <= (\d+)")


def _response(body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    return response


class ChangingListmonk:
    """GET /api/subscribers in id order; `changes[i]` runs before call i: ("delete", k) or ("insert", _)."""

    def __init__(self, ids: list[int], changes: list[tuple[str, int]]) -> None:
        self.ids = sorted(set(ids))
        self.next_id = max(self.ids, default=0) + 1
        self.changes = list(changes)
        self.calls = 0
        self.ever_deleted: set[int] = set()

    def _change(self) -> None:
        if not self.changes:
            return
        kind, pick = self.changes.pop(0)
        if kind == "delete" and self.ids:
            self.ever_deleted.add(self.ids.pop(pick % len(self.ids)))
        elif kind == "insert":
            self.ids.append(self.next_id)
            self.next_id += 1

    def get_undecoded(self, path: str, params: Mapping[str, Any]) -> requests.Response:
        self._change()
        self.calls += 1
        assert params["order_by"] == "id"
        rows = list(self.ids) if params["order"] == "asc" else self.ids[::-1]
        if "query" in params:
            rows = [i for i in rows if i > int(_AFTER.search(params["query"]).group(1))]
            up_to = _UP_TO.search(params["query"])
            if up_to:
                rows = [i for i in rows if i <= int(up_to.group(1))]
        per_page, page = int(params["per_page"]), int(params["page"])
        window = rows[(page - 1) * per_page : page * per_page]
        return _response({"data": {"results": [{"id": i} for i in window] or None, "total": len(rows)}})


changes = s.lists(s.tuples(s.sampled_from(["delete", "insert"]), s.integers(min_value=0, max_value=10**6)), max_size=60)
id_sets = s.lists(s.integers(min_value=1, max_value=400), max_size=120)


def _read(pages: Any, after_id: int = 0) -> list[int]:
    return [int(row["id"]) for page in pages(after_id, None) for row in page]


def _check(fake: ChangingListmonk, original: list[int], seen: list[int], after_id: int = 0) -> None:
    assert seen == sorted(set(seen)), "a row came out twice or out of order"
    survivors = {i for i in original if i > after_id} - fake.ever_deleted
    assert survivors <= set(seen), f"skipped {sorted(survivors - set(seen))}"


@settings(max_examples=300)
@given(id_sets, changes, s.integers(min_value=1, max_value=7))
def test_offset_pages_never_skip_or_repeat_a_row(ids: list[int], script: list[tuple[str, int]], per_page: int) -> None:
    fake = ChangingListmonk(ids, script)
    original = list(fake.ids)
    _check(fake, original, _read(OffsetPages(fake, per_page)))  # type: ignore[arg-type]


@settings(max_examples=300)
@given(id_sets, changes, s.integers(min_value=1, max_value=7))
def test_keyset_pages_never_skip_or_repeat_a_row(ids: list[int], script: list[tuple[str, int]], per_page: int) -> None:
    fake = ChangingListmonk(ids, script)
    original = list(fake.ids)
    _check(fake, original, _read(KeysetPages(fake, per_page)))  # type: ignore[arg-type]


@given(id_sets, s.integers(min_value=0, max_value=400), s.integers(min_value=1, max_value=7))
def test_given_resume_after_an_id_then_only_later_rows_come_out(ids: list[int], after_id: int, per_page: int) -> None:
    for pages in (OffsetPages, KeysetPages):
        fake = ChangingListmonk(ids, [])
        assert _read(pages(fake, per_page), after_id) == [i for i in fake.ids if i > after_id]  # type: ignore[arg-type]


def test_keyset_query_is_parenthesised_and_quotes_the_cursor() -> None:
    sent: list[str] = []

    class Recorder:
        def get_undecoded(self, path: str, params: Mapping[str, Any]) -> requests.Response:
            sent.append(params["query"])
            return _response({"data": {"results": None}})

    narrowing: SqlExpr = updated_since(parse_ts("2026-01-02T03:04:05.5Z"))
    list(KeysetPages(Recorder(), 10)(42, narrowing))  # type: ignore[arg-type]
    assert sent == ["((subscribers.id > 42) AND (subscribers.updated_at > '2026-01-02T03:04:05.500000Z'))"]
