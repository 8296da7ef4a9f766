"""Fault injection over /__emulator/faults, and the request statistics."""
from __future__ import annotations

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
