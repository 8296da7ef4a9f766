"""A tiny authenticated HTTP helper for the hand-written contract tests."""
from __future__ import annotations

import json
import time
from typing import Any, Optional

import requests

from listmonk_emulator import EmulatorServer


def call(emu: EmulatorServer, method: str, path: str, token: Optional[str] = None, user: Optional[str] = None,
         **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"token {user or emu.api_user}:{token or emu.token}",
               **kwargs.pop("headers", {})}
    return requests.request(method, emu.url + path, headers=headers, timeout=60, **kwargs)


def import_csv(emu: EmulatorServer, params: dict[str, Any], csv_text: str, name: str = "subs.csv") -> dict[str, Any]:
    """POST an import and wait for its final status."""
    response = call(emu, "POST", "/api/import/subscribers",
                    files=[("params", (None, json.dumps(params))), ("file", (name, csv_text.encode(), "text/csv"))])
    assert response.status_code == 200, response.text
    return wait_for_import(emu)


def wait_for_import(emu: EmulatorServer) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = call(emu, "GET", "/api/import/subscribers").json()["data"]
        if status["status"] != "importing":
            return dict(status)
        time.sleep(0.05)
    raise AssertionError("import did not finish")


def subscriber(emu: EmulatorServer, sub_id: int) -> dict[str, Any]:
    response = call(emu, "GET", f"/api/subscribers/{sub_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def list_statuses(sub: dict[str, Any]) -> dict[int, str]:
    return {item["id"]: item["subscription_status"] for item in sub["lists"]}
