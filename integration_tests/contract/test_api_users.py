"""API users are authenticated from memory, as in listmonk: every change to them takes effect at once."""
from __future__ import annotations

from listmonk_emulator import EmulatorServer

from .api import call

DENIED = (403, {"message": "invalid API credentials"})


def _create(emu: EmulatorServer, username: str, status: str = "enabled") -> tuple[int, str]:
    created = call(emu, "POST", "/api/users", json={"username": username, "type": "api", "status": status,
                                                    "user_role_id": 1})
    assert created.status_code == 200, created.text
    return int(created.json()["data"]["id"]), str(created.json()["data"]["password"])


def _health(emu: EmulatorServer, user: str, token: str) -> tuple[int, object]:
    response = call(emu, "GET", "/api/health", user=user, token=token)
    return response.status_code, response.json()


def test_given_an_api_user_created_then_deleted_when_calling_then_its_token_works_until_deleted(
        fresh: EmulatorServer) -> None:
    user_id, token = _create(fresh, "syncbot")
    assert _health(fresh, "syncbot", token) == (200, {"data": True})
    assert call(fresh, "DELETE", f"/api/users/{user_id}").status_code == 200
    assert _health(fresh, "syncbot", token) == DENIED


def test_given_a_disabled_api_user_when_calling_then_refused(fresh: EmulatorServer) -> None:
    _, token = _create(fresh, "sleeper", status="disabled")
    assert _health(fresh, "sleeper", token) == DENIED


def test_given_reset_when_calling_with_a_token_from_before_then_refused(fresh: EmulatorServer) -> None:
    token = fresh.create_api_user("before-reset", ["subscribers:get_all"])
    assert _health(fresh, "before-reset", token)[0] == 200
    fresh.reset()
    assert _health(fresh, "before-reset", token) == DENIED
    assert _health(fresh, fresh.api_user, fresh.token) == (200, {"data": True})
