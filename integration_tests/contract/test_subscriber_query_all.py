"""`per_page=all` takes its total from the rows it returns; answers match a page big enough to hold them all."""
from __future__ import annotations

from typing import Any

import pytest

from listmonk_emulator import EmulatorServer

from .api import call

CASES: list[dict[str, Any]] = [
    {},
    {"list_id": ["1", "2"]},  # a subscriber in both lists appears twice, and counts twice
    {"list_id": "2", "subscription_status": "unsubscribed"},
    {"query": "subscribers.email LIKE 'nobody%'"},
    {"query": "subscribers.attribs->>'n' = '3'", "search": "ALL"},
    {"search": "("},  # an invalid regular expression fails when run
    {"query": "1 / (subscribers.id - subscribers.id) = 1"},
    {"query": "subscribers.id = nextval('subscribers_id_seq')"},  # refused by the read-only transaction
    {"query": "subscribers.email ==== 'x'"},
]


def _answer(emu: EmulatorServer, params: dict[str, Any]) -> tuple[int, Any]:
    response = call(emu, "GET", "/api/subscribers", params={**params, "order_by": "email", "order": "asc"})
    return response.status_code, response.json()


@pytest.mark.parametrize("params", CASES)
def test_given_filters_when_listing_all_then_same_answer_as_one_big_page(
        fresh: EmulatorServer, params: dict[str, Any]) -> None:
    for n in range(5):
        created = call(fresh, "POST", "/api/subscribers", json={
            "email": f"all{n}@example.com", "name": f"All {n}", "lists": [1, 2] if n % 2 else [2],
            "attribs": {"n": str(n)}})
        assert created.status_code == 200, created.text
    status, everything = _answer(fresh, {**params, "per_page": "all"})
    big_page = _answer(fresh, {**params, "per_page": "1000"})
    if status == 200:
        assert everything["data"]["per_page"] == 0
        assert everything["data"]["total"] == len(everything["data"]["results"])
        everything["data"]["per_page"] = 1000
    assert (status, everything) == big_page
