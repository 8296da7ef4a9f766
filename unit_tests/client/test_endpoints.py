"""The listmonk endpoints: what each method sends, and what it makes of the answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listmonk_client import (
    EndpointNotFound,
    ImportTimedOut,
    ListmonkError,
    ListmonkClient,
    RequestRejected,
    email_in,
)

from listmonk_client.sql import SqlExpr, quote_literal

from .fake_server import FakeListmonk, Received, Reply, data, error, page


def subscriber(subscriber_id: int, email: str | None = None) -> dict:
    return {"id": subscriber_id, "email": email or f"s{subscriber_id}@example.com", "name": "", "attribs": {},
            "status": "enabled", "lists": []}


def mailing_list(list_id: int, name: str) -> dict:
    return {"id": list_id, "name": name, "type": "private", "optin": "single", "tags": [],
            "subscriber_count": 0, "subscriber_statuses": {}}


def paged(rows: list[dict]) -> Callable[[Received], Reply]:
    """Serves `rows` the way listmonk pages them, `results: null` past the end."""

    def respond(request: Received) -> Reply:
        number, size = int(request.query["page"][0]), int(request.query["per_page"][0])
        chunk = rows[(number - 1) * size : number * size]
        return page(chunk or None, total=len(rows), page_no=number, per_page=size)

    return respond


# -- paging ---------------------------------------------------------------------------------


def test_paging_stops_on_a_short_page(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers", paged([subscriber(i) for i in range(1, 6)]))

    found = list(client.iter_subscribers(per_page=2))

    assert [s.id for s in found] == [1, 2, 3, 4, 5]
    assert [r.query["page"] for r in server.requests_to("GET", "/api/subscribers")] == [["1"], ["2"], ["3"]]


def test_paging_stops_when_listmonk_answers_results_null(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers", paged([subscriber(i) for i in range(1, 5)]))

    found = list(client.iter_subscribers(per_page=2))

    assert [s.id for s in found] == [1, 2, 3, 4]
    # Two full pages, then page 3 comes back `results: null`.
    assert len(server.requests_to("GET", "/api/subscribers")) == 3


def test_a_subscriber_in_two_requested_lists_is_read_once(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers", paged([subscriber(1), subscriber(4), subscriber(4), subscriber(5)]))

    found = list(client.iter_subscribers(list_ids=[1, 2], subscription_status="confirmed", per_page=3))

    assert [s.id for s in found] == [1, 4, 5]
    sent = server.requests_to("GET", "/api/subscribers")[0]
    assert sent.query["list_id"] == ["1", "2"]
    assert sent.query["subscription_status"] == ["confirmed"]
    assert sent.query["order_by"] == ["id"] and sent.query["order"] == ["asc"]


def test_a_sql_filter_is_sent_parenthesised(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers", page([subscriber(1, "a@example.com")], total=1, per_page=0))

    found = client.find_subscribers(email_in(["A@example.com", "b@example.com"]))

    assert [s.email for s in found] == ["a@example.com"]
    sent = server.requests_to("GET", "/api/subscribers")[0]
    assert sent.query["query"] == ["(LOWER(subscribers.email) IN ('a@example.com', 'b@example.com'))"]
    assert sent.query["per_page"] == ["all"]


# NUL is refused before anything is sent (quote_literal); every other character must arrive as it left.
KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(KEY_TEXT, min_size=1, max_size=5))
def test_a_lookup_query_reaches_listmonk_exactly_whatever_the_keys_hold(
    server: FakeListmonk, client: ListmonkClient, keys: list[str]
) -> None:
    # Partly unescaped on the wire ("'(),@:" travel as they are): the server must still decode the very expression.
    expression = SqlExpr("subscribers.attribs->>'crm_id' IN (" + ", ".join(quote_literal(k) for k in keys) + ")")
    server.script("GET", "/api/subscribers", page([], total=0, per_page=0))

    client.find_subscribers(expression)

    assert server.requests_to("GET", "/api/subscribers")[-1].query["query"] == [expression.wrapped()]


def test_a_lookup_reads_each_subscriber_once_with_the_fields_a_sync_compares(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    row = {**subscriber(3, "c@example.com"), "attribs": {"plan": "pro"}, "future_field": 1}
    row["lists"] = [{"id": 2, "name": "News", "subscription_status": "unsubscribed", "tags": None}]
    server.script("GET", "/api/subscribers", page([row, row, {**subscriber(4), "lists": None}], total=3, per_page=0))

    found = client.find_subscribers(email_in(["c@example.com", "d@example.com"]))

    assert [(s.id, s.email) for s in found] == [(3, "c@example.com"), (4, subscriber(4)["email"])]
    assert [(s.id, s.subscription_status) for s in found[0].lists] == [(2, "unsubscribed")]
    assert found[1].lists == [] and found[0].attribs == row["attribs"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(json={"data": {"results": [{"email": "no-id@example.com"}]}}), "unexpected subscriber data"),
        (Reply(json={"results": []}), "no 'data' member"),
        (Reply(text="<html>login</html>"), "expected JSON"),
    ],
)
def test_a_lookup_answer_that_is_not_listmonks_is_an_error_not_an_empty_result(
    server: FakeListmonk, client: ListmonkClient, reply: Reply, message: str
) -> None:
    server.script("GET", "/api/subscribers", reply)

    with pytest.raises(ListmonkError, match=message):
        client.find_subscribers(email_in(["a@example.com"]))


def test_counting_subscribers_reads_one_row_and_the_total(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers", page([subscriber(1)], total=123_456, per_page=1))

    assert client.count_subscribers() == 123_456
    sent = server.requests_to("GET", "/api/subscribers")[0]
    assert sent.query["per_page"] == ["1"] and "query" not in sent.query


def test_empty_bounces_listing_with_page_zero_ends_at_once(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/bounces", page([], per_page=0, page_no=0))
    server.script("GET", "/api/campaigns", paged([{"id": 1, "name": "Test campaign", "views": 0}]))

    assert list(client.iter_bounces()) == []
    campaigns = list(client.iter_campaigns())
    assert campaigns[0].id == 1 and campaigns[0].model_dump()["name"] == "Test campaign"


# -- server ---------------------------------------------------------------------------------


def test_server_info_is_read_once_per_client(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/config", data({"root_url": "http://localhost:9000", "version": "v6.2.0"}))

    first, second = client.server_info(), client.server_info()

    assert first.version_tuple == (6, 2, 0) and second is first
    assert len(server.requests_to("GET", "/api/config")) == 1


def test_server_info_falls_back_to_about_when_config_says_nothing(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/config", data({"root_url": "http://localhost:9000"}))
    server.script("GET", "/api/about", Reply(json={"version": "v5.1.0", "build": "v5.1.0 (local)"}))

    info = client.server_info()

    assert info.version == "v5.1.0" and not info.supports_patch


def test_profile_lists_the_api_users_permissions(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/profile", data({"username": "apiuser", "user_role": {"permissions": ["subscribers:get"]}}))

    assert client.profile().permissions == {"subscribers:get"}


# -- lists ----------------------------------------------------------------------------------


def sliced_then_sorted(rows: list[dict], moved_after_first_request: int) -> Callable[[Received], Reply]:
    """listmonk's `query-lists`: a page is cut from the table's physical order and only then sorted; after the
    first request, list `moved_after_first_request` is updated (an import into it) and moves to the end."""
    physical = list(rows)

    def respond(request: Received) -> Reply:
        per_page = request.query.get("per_page", ["20"])[0]
        number = int(request.query.get("page", ["1"])[0])
        size = len(physical) if per_page == "all" else int(per_page)
        chunk = sorted(physical[(number - 1) * size : number * size], key=lambda row: row["id"])
        moved = next(row for row in physical if row["id"] == moved_after_first_request)
        physical.remove(moved)
        physical.append(moved)
        return page(chunk or None, total=len(physical), page_no=number, per_page=size)

    return respond


def test_given_a_list_moved_by_an_import_while_lists_are_read_then_every_list_comes_once(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    lists = [mailing_list(i, f"List {i}") for i in range(1, 251)]
    server.script("GET", "/api/lists", sliced_then_sorted(lists, moved_after_first_request=5))

    found = [found_list.id for found_list in client.all_lists()]

    assert found == list(range(1, 251))


def test_finding_a_list_by_name_matches_the_exact_name_only(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/lists", page([mailing_list(4, "CRM sync"), mailing_list(3, "crm"), mailing_list(9, "CRM")]))

    found = client.find_lists_by_name("CRM")

    assert [found_list.id for found_list in found] == [9]
    assert server.requests_to("GET", "/api/lists")[0].query["query"] == ["CRM"]


def test_when_search_rejects_the_name_then_all_lists_are_scanned(server: FakeListmonk, client: ListmonkClient) -> None:
    def lists(request: Received) -> Reply:
        if "query" in request.query:
            return error(500, "Error fetching lists: pq: syntax error in tsquery")
        return page([mailing_list(1, "a & b"), mailing_list(2, "a & b")], total=2)

    server.script("GET", "/api/lists", lists)

    assert [found.id for found in client.find_lists_by_name("a & b")] == [1, 2]


def test_creating_a_list_sends_listmonks_fields(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("POST", "/api/lists", data(mailing_list(5, "Newsletter")))

    created = client.create_list("Newsletter", tags=["crm"], description="from CRM")

    assert created.id == 5
    assert server.requests_to("POST", "/api/lists")[0].json() == {
        "name": "Newsletter", "type": "private", "optin": "single", "tags": ["crm"], "description": "from CRM"
    }


def test_an_unknown_list_id_is_a_rejected_request(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/lists/999", error(400, "List not found"))

    with pytest.raises(RequestRejected, match="List not found"):
        client.get_list(999)


# -- subscriber writes ----------------------------------------------------------------------


def test_creating_a_subscriber_sends_preconfirm_under_listmonks_name(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("POST", "/api/subscribers", data(subscriber(3, "ann@example.com")))

    client.create_subscriber(email="ann@example.com", name="Ann", lists=[1, 2], attribs={"crm_id": "7"}, preconfirm=True)

    assert server.requests_to("POST", "/api/subscribers")[0].json() == {
        "email": "ann@example.com", "name": "Ann", "status": "enabled", "lists": [1, 2],
        "attribs": {"crm_id": "7"}, "preconfirm_subscriptions": True,
    }


def test_patch_sends_only_the_given_fields(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("PATCH", "/api/subscribers/3", data(subscriber(3)))

    client.patch_subscriber(3, {"attribs": {"crm_id": "7"}})

    assert server.requests_to("PATCH", "/api/subscribers/3")[0].json() == {"attribs": {"crm_id": "7"}}


def test_patch_on_listmonk_before_6_1_is_endpoint_not_found(server: FakeListmonk, client: ListmonkClient) -> None:
    # The fake answers unscripted routes like listmonk: 404 unknown endpoint.
    with pytest.raises(EndpointNotFound, match="404 unknown endpoint"):
        client.patch_subscriber(3, {"name": "x"})


def test_subscription_changes_send_listmonks_bulk_body(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("PUT", "/api/subscribers/lists", data(True))

    client.change_subscriptions([3, 4], "add", [1], status="confirmed")
    client.change_subscriptions([3], "unsubscribe", [2])

    bodies = [r.json() for r in server.requests_to("PUT", "/api/subscribers/lists")]
    assert bodies == [
        {"ids": [3, 4], "action": "add", "target_list_ids": [1], "status": "confirmed"},
        {"ids": [3], "action": "unsubscribe", "target_list_ids": [2]},
    ]


def test_empty_bulk_operations_make_no_call(server: FakeListmonk, client: ListmonkClient) -> None:
    client.change_subscriptions([], "add", [1])
    client.change_subscriptions([1], "add", [])
    client.blocklist_subscribers([])
    client.delete_subscribers([])

    assert server.received == []


def test_blocklist_and_delete_send_the_ids(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("PUT", "/api/subscribers/blocklist", data(True))
    server.script("DELETE", "/api/subscribers", data(True))

    client.blocklist_subscribers([5, 6])
    client.delete_subscribers(list(range(1, 251)))

    assert server.requests_to("PUT", "/api/subscribers/blocklist")[0].json() == {"ids": [5, 6]}
    deletes = server.requests_to("DELETE", "/api/subscribers")
    assert [len(r.query["id"]) for r in deletes] == [200, 50]


# -- import and export ----------------------------------------------------------------------


def test_waiting_for_an_import_polls_until_it_finishes(server: FakeListmonk, client: ListmonkClient) -> None:
    running = data({"name": "s.csv", "total": 0, "imported": 0, "status": "importing"})
    server.script("GET", "/api/import/subscribers", running, running, data({"name": "s.csv", "total": 7, "imported": 6, "status": "finished"}))
    server.script("GET", "/api/import/subscribers/logs", data("skipping line 6: Invalid email."))
    server.script("DELETE", "/api/import/subscribers", data({"name": "", "total": 0, "imported": 0, "status": "none"}))

    done = client.wait_for_import(poll_interval=0.01)

    assert (done.status, done.total, done.imported) == ("finished", 7, 6)
    assert client.import_logs() == "skipping line 6: Invalid email."
    client.clear_import()
    assert len(server.requests_to("DELETE", "/api/import/subscribers")) == 1


def test_given_an_expected_duration_then_the_first_poll_waits_for_it_and_polls_stay_fast_around_it(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient]
) -> None:
    running = data({"name": "s.csv", "total": 0, "imported": 0, "status": "importing"})
    finished = data({"name": "s.csv", "total": 7, "imported": 7, "status": "finished"})
    server.script("GET", "/api/import/subscribers", *[running] * 6, finished, *[running] * 30, finished)
    slept: list[float] = []
    client = make_client(sleep=slept.append)

    client.wait_for_import(expected_seconds=60)
    assert slept == [48] + [0.02] * 6
    slept.clear()
    # Without an expected duration: as soon as it can, fast for half a second of polls, then backing off.
    client.wait_for_import()
    assert slept == [0.02] * 25 + [0.04, 0.08, 0.1, 0.1, 0.1]


def test_an_import_that_never_ends_times_out_with_its_progress(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient]
) -> None:
    server.script("GET", "/api/import/subscribers", data({"name": "s.csv", "total": 10, "imported": 3, "status": "importing"}))
    client = make_client(sleep=lambda seconds: None)

    with pytest.raises(ImportTimedOut, match="3 of 10"):
        client.wait_for_import(poll_interval=0.01, timeout=0.05)


def test_export_streams_the_asked_columns_of_each_row_as_strings(server: FakeListmonk, client: ListmonkClient) -> None:
    csv_text = (
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        'u1,ann@example.com,"Ann, the first","{""crm_id"": ""7""}",enabled,t1,t2\n'
        "\n"
        'u2,bob@example.com,"Bob\nJones",{},blocklisted,t3,t4\n'
        "u3,cy@example.com,Cy\n"
    )
    server.script("GET", "/api/subscribers/export", Reply(text=csv_text))

    rows = list(client.export_subscribers(("status", "email", "name", "attributes")))

    assert rows == [
        ("enabled", "ann@example.com", "Ann, the first", '{"crm_id": "7"}'),
        ("blocklisted", "bob@example.com", "Bob\nJones", "{}"),
        (None, "cy@example.com", "Cy", None),  # cut short: what it lacks is None, never a guess
    ]


def test_an_empty_export_has_no_rows(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers/export", Reply(text=""))

    assert list(client.export_subscribers()) == []


def test_export_without_an_asked_column_fails_naming_it(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/subscribers/export", Reply(text="uuid,email,name\nu1,ann@example.com,Ann\n"))

    with pytest.raises(ListmonkError, match="no attributes column"):
        list(client.export_subscribers(("email", "attributes")))


@pytest.mark.parametrize("value", [2**70 + 1, -(2**65) - 1, 2**64 - 1, 12345678901234567890123, 1.5e300, "Zoë ✓"])
def test_attribute_values_come_back_exactly_whatever_their_size(
    server: FakeListmonk, client: ListmonkClient, value: object
) -> None:
    # A fast parser would refuse integers beyond 64 bits; listmonk stores whatever JSON it was given.
    server.script("GET", "/api/subscribers/1", data({**subscriber(1), "attribs": {"score": value, "nested": [value]}}))

    assert client.get_subscriber(1).attribs == {"score": value, "nested": [value]}
