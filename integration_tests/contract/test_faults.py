"""Fault injection over /__emulator/faults, and the request statistics."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from listmonk_emulator import EmulatorServer

from .api import call


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_given_n_injected_statuses_when_calling_then_n_fail_and_the_next_succeeds(
        fresh: EmulatorServer, status: int) -> None:
    fresh.set_faults(status=status, count=2, retry_after=3)
    first, second, third = (call(fresh, "GET", "/api/lists") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [status, status, 200]
    assert first.headers["Retry-After"] == "3"
    assert "message" in first.json()


def test_given_method_and_prefix_filter_when_other_calls_then_untouched(fresh: EmulatorServer) -> None:
    fresh.set_faults(status=503, count=1, method="POST", path_prefix="/api/subscribers")
    assert call(fresh, "GET", "/api/subscribers").status_code == 200
    assert call(fresh, "POST", "/api/lists", json={"name": "L"}).status_code == 200
    assert call(fresh, "POST", "/api/subscribers", json={"email": "a@example.com"}).status_code == 503
    assert call(fresh, "POST", "/api/subscribers", json={"email": "a@example.com"}).status_code == 200


def test_given_resets_when_calling_then_connection_dropped_without_response(fresh: EmulatorServer) -> None:
    fresh.set_faults(resets=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(fresh.url + "/api/health", headers={"Authorization": f"token apiuser:{fresh.token}"},
                     timeout=10)
    assert call(fresh, "GET", "/api/health").status_code == 200


def test_given_fail_after_writes_when_writing_then_later_writes_fail_and_reads_pass(fresh: EmulatorServer) -> None:
    fresh.set_faults(fail_after_writes=2, fail_status=500)
    codes = [call(fresh, "POST", "/api/subscribers", json={"email": f"w{i}@example.com"}).status_code
             for i in range(4)]
    assert codes == [200, 200, 500, 500]
    assert call(fresh, "GET", "/api/subscribers").status_code == 200


def test_given_latency_when_calling_then_response_delayed(fresh: EmulatorServer) -> None:
    fresh.set_faults(latency_ms=300)
    started = time.monotonic()
    assert call(fresh, "GET", "/api/health").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_given_clear_faults_when_calling_then_normal(fresh: EmulatorServer) -> None:
    fresh.set_faults(status=500, count=5)
    fresh.clear_faults()
    assert call(fresh, "GET", "/api/health").status_code == 200


def test_given_calls_when_reading_stats_then_counted_by_route_pattern(fresh: EmulatorServer) -> None:
    fresh.reset_stats()
    call(fresh, "GET", "/api/subscribers/1")
    call(fresh, "GET", "/api/subscribers/2")
    call(fresh, "POST", "/api/subscribers", json={"email": "s@example.com"})
    stats = fresh.stats()
    assert stats["total"] == 3 and stats["writes"] == 1
    assert stats["by_route"] == {"GET /api/subscribers/:id": 2, "POST /api/subscribers": 1}
    fresh.reset_stats()
    assert fresh.stats()["total"] == 0


def test_given_created_api_user_when_using_token_then_permissions_apply(fresh: EmulatorServer) -> None:
    token = fresh.create_api_user("limited", ["subscribers:get_all"])
    assert call(fresh, "GET", "/api/subscribers", token=token, user="limited").status_code == 200
    denied = call(fresh, "POST", "/api/subscribers", token=token, user="limited", json={"email": "x@example.com"})
    assert (denied.status_code, denied.json()) == (403, {"message": "permission denied: subscribers:manage"})


def test_given_seed_when_listing_then_rows_present_on_lists(fresh: EmulatorServer) -> None:
    result = fresh.seed(500, list_ids=[1])
    assert result["count"] == 500 and result["first_id"] == 3
    page = call(fresh, "GET", "/api/subscribers", params={"list_id": "1", "per_page": "1"}).json()["data"]
    assert page["total"] == 501


def test_given_reset_when_creating_then_ids_start_at_3_again(fresh: EmulatorServer) -> None:
    call(fresh, "POST", "/api/subscribers", json={"email": "one@example.com"})
    fresh.reset()
    created = call(fresh, "POST", "/api/subscribers", json={"email": "two@example.com"}).json()["data"]
    assert created["id"] == 3


def test_given_slow_answers_when_the_client_times_out_then_the_call_was_still_carried_out(fresh: EmulatorServer) -> None:
    fresh.set_faults(slow_ms=1500, slow_count=1, method="POST")
    with pytest.raises(requests.Timeout):
        requests.post(fresh.url + "/api/subscribers", json={"email": "late@example.com"},
                      headers={"Authorization": f"token {fresh.api_user}:{fresh.token}"}, timeout=0.5)
    again = call(fresh, "POST", "/api/subscribers", json={"email": "late@example.com"})
    assert again.status_code == 409  # the first POST created it; only one slow answer was asked for


def test_given_hold_after_when_calls_pass_it_then_answers_wait_until_the_faults_change(fresh: EmulatorServer) -> None:
    fresh.set_faults(hold_after=1, method="POST", path_prefix="/api/subscribers")
    assert call(fresh, "POST", "/api/subscribers", json={"email": "first@example.com"}).status_code == 200
    answers: list[int] = []
    worker = threading.Thread(
        target=lambda: answers.append(call(fresh, "POST", "/api/subscribers", json={"email": "held@example.com"}).status_code))
    worker.start()
    deadline = time.monotonic() + 30
    while fresh.faults()["held"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fresh.faults()["held"] == 1 and answers == []
    found = call(fresh, "GET", "/api/subscribers", params={"query": "subscribers.email = 'held@example.com'"})
    assert found.json()["data"]["total"] == 1  # carried out, only the answer waits
    fresh.clear_faults()
    worker.join(30)
    assert answers == [200]


@pytest.mark.parametrize("action", ["blocklist", "unsubscribe"])
def test_given_consent_change_after_n_calls_then_it_is_made_once_right_after_call_n(fresh: EmulatorServer, action: str) -> None:
    made = call(fresh, "POST", "/api/subscribers", json={"email": "Ann@example.com", "lists": [1], "preconfirm_subscriptions": True})
    sub_id = made.json()["data"]["id"]
    fresh.set_faults(method="GET", path_prefix="/api/subscribers/",
                     consent_change={"after": 2, "action": action, "emails": ["ann@example.com"], "list_ids": [1]})
    first = call(fresh, "GET", f"/api/subscribers/{sub_id}").json()["data"]
    second = call(fresh, "GET", f"/api/subscribers/{sub_id}").json()["data"]
    third = call(fresh, "GET", f"/api/subscribers/{sub_id}").json()["data"]
    assert first == second and (first["status"], first["lists"][0]["subscription_status"]) == ("enabled", "confirmed")
    expected_status = "blocklisted" if action == "blocklist" else "enabled"
    assert (third["status"], third["lists"][0]["subscription_status"]) == (expected_status, "unsubscribed")


def test_given_an_unknown_consent_action_then_the_faults_are_refused(fresh: EmulatorServer) -> None:
    response = requests.post(fresh.url + "/__emulator/faults", json={"consent_change": {"action": "resubscribe"}}, timeout=10)
    assert response.status_code == 400 and "consent_change" in response.text
