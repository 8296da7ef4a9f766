"""Every failure we can name reaches Airbyte as an ERROR trace with a specific message and the failure type that
tells the platform what to do: config_error (only the user can fix it), transient_error (listmonk was away past
the retry budget: Airbyte retries), never the CDK's generic "Something went wrong" for any of them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from integration_tests.destination.harness import config as destination_config

BIN = Path(sys.executable).parent
GENERIC = "Something went wrong in the connector"
CONTACTS = {"name": "contacts", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

def run(script: str, command: str, settings: dict[str, Any], catalog: dict[str, Any], tmp_path: Path,
        stdin: str = "") -> tuple[str, str, str]:
    """The first ERROR trace of a console-script run: (failure_type, message, everything printed)."""
    (tmp_path / "config.json").write_text(json.dumps(settings))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    done = subprocess.run(
        [str(BIN / script), command, "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        input=stdin, capture_output=True, text=True, timeout=300,
    )
    traces = [m["trace"]["error"] for m in map(json.loads, filter(None, done.stdout.splitlines()))
              if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"]
    assert done.returncode != 0 and traces, done.stdout[-3000:] + done.stderr[-3000:]
    assert not any(GENERIC in t["message"] for t in traces)
    return traces[0]["failure_type"], traces[0]["message"], done.stdout + done.stderr

def write(settings: dict[str, Any], tmp_path: Path, email: str) -> tuple[str, str, str]:
    catalog = {"streams": [{"stream": CONTACTS, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}
    lines = [
        {"type": "RECORD", "record": {"stream": "contacts", "data": {"email": email, "name": "E"}, "emitted_at": 0}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "contacts"},
                                                                  "stream_state": {"n": 1}}}},
    ]
    return run("destination-listmonk", "write", settings, catalog, tmp_path, "\n".join(map(json.dumps, lines)))

def read(listmonk: Any, tmp_path: Path, **overrides: Any) -> tuple[str, str, str]:
    settings = {"url": listmonk.url, "username": listmonk.user, "token": listmonk.token, **overrides}
    stream = {"name": "subscribers", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}
    return run("source-listmonk", "read", settings, catalog, tmp_path)

def test_given_a_wrong_token_then_both_connectors_report_a_config_error_naming_the_credentials(
    listmonk: Any, domain: str, tmp_path: Path
) -> None:
    wrong = "not-the-token-0123456789"
    for failure, message, printed in (
        write(destination_config(listmonk, token=wrong), tmp_path, f"a@{domain}"),
        read(listmonk, tmp_path, token=wrong),
    ):
        assert failure == "config_error" and "rejected the API user or token" in message
        assert wrong not in printed

def test_given_a_role_missing_a_permission_then_the_config_error_names_it(
    listmonk: Any, emulator: Any, domain: str, tmp_path: Path
) -> None:
    readonly = emulator.create_api_user(f"ro-{domain[:8]}", ["subscribers:get_all", "subscribers:sql_query", "lists:get_all"])
    failure, message, _ = write(destination_config(listmonk, username=f"ro-{domain[:8]}", token=readonly), tmp_path, f"new@{domain}")
    assert failure == "config_error" and "'subscribers:manage'" in message and "User roles" in message

    lists_only = emulator.create_api_user(f"lo-{domain[:8]}", ["lists:get_all"])
    failure, message, _ = read(listmonk, tmp_path, username=f"lo-{domain[:8]}", token=lists_only)
    assert failure == "config_error" and "'subscribers:get_all'" in message

def test_given_an_unknown_target_list_then_the_config_error_names_it(listmonk: Any, domain: str, tmp_path: Path) -> None:
    failure, message, _ = write(destination_config(listmonk, target_lists=["987654321"]), tmp_path, f"a@{domain}")
    assert failure == "config_error" and "987654321" in message

def test_given_listmonk_down_past_the_retry_budget_then_both_connectors_report_a_transient_error(
    listmonk: Any, domain: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    settings = destination_config(listmonk, url=down, advanced={"retry_budget_seconds": 1})
    for failure, message, _ in (write(settings, tmp_path, f"a@{domain}"), read(listmonk, tmp_path, url=down, retry_budget_seconds=1)):
        assert failure == "transient_error" and "connection refused" in message and "retry budget" in message

def test_given_listmonk_restarting_for_longer_than_the_retry_budget_then_the_sync_fails_as_transient(
    listmonk: Any, emulator: Any, domain: str, tmp_path: Path
) -> None:
    emulator.restart_on_call(after=0, down_seconds=8, method="GET", path_prefix="/api/subscribers")
    try:
        failure, message, _ = write(destination_config(listmonk, advanced={"retry_budget_seconds": 2}), tmp_path, f"a@{domain}")
    finally:
        emulator.wait_until_serving()
    assert failure == "transient_error" and "/api/subscribers" in message
