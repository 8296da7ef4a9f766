"""Input nobody asked for, through the console script as Airbyte runs it: lines that are not Airbyte messages, and
records of streams the configured catalog does not hold. None is lost silently, none reaches listmonk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from integration_tests.destination.harness import config, subscribers_of
from listmonk_client.client import ListmonkClient

DESTINATION = Path(sys.executable).with_name("destination-listmonk")


def record_line(email: str, stream: str = "contacts") -> bytes:
    message = {"type": "RECORD", "record": {"stream": stream, "data": {"email": email}, "emitted_at": 0}}
    return json.dumps(message).encode()


def state_line(marker: int) -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "contacts"}, "stream_state": {"n": marker}}}}).encode()


def run_write(tmp_path: Path, settings: dict[str, Any], lines: list[bytes]) -> tuple[int, list[dict[str, Any]]]:
    (tmp_path / "config.json").write_text(json.dumps(settings))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [{
        "stream": {"name": "contacts", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
    done = subprocess.run(
        [str(DESTINATION), "write", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        input=b"\n".join(lines) + b"\n", capture_output=True, timeout=120, check=False,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.startswith(b"{")]


def audit_events(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    events = []
    for message in messages:
        if message["type"] == "LOG":
            try:
                event = json.loads(message["log"]["message"])
            except ValueError:
                continue
            if event.get("audit") == kind or event.get("event") == kind:
                events.append(event)
    return events


def test_given_lines_that_are_not_airbyte_messages_then_each_is_rejected_with_its_line_number(
    listmonk: Any, client: ListmonkClient, domain: str, tmp_path: Path
) -> None:
    lines = [record_line(f"a@{domain}"), b"this is not JSON", b'{"not": "a message"}', b"\xff\xfe not UTF-8",
             b'{"type": "RECORD"}', b"", record_line(f"b@{domain}"), state_line(1)]

    code, messages = run_write(tmp_path, config(listmonk), lines)

    assert code == 0
    assert set(subscribers_of(client, domain)) == {f"a@{domain}", f"b@{domain}"}
    rejected = {event["record"]: event["reason"] for event in audit_events(messages, "rejected_record")}
    assert [reason.split(" is ")[0] for reason in rejected.values()] == [f"input line {n}" for n in (2, 3, 4, 5)]
    (summary,) = audit_events(messages, "summary")
    assert (summary["records"], summary["created"], summary["rejected"]) == (6, 2, 4)
    assert [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"] == [{"n": 1}]


def test_given_an_unreadable_line_and_policy_fail_then_the_sync_stops_without_passing_the_state_on(
    listmonk: Any, client: ListmonkClient, domain: str, tmp_path: Path
) -> None:
    settings = config(listmonk, rejected_records={"policy": "fail"})
    lines = [record_line(f"a@{domain}"), b"{broken", state_line(1)]

    code, messages = run_write(tmp_path, settings, lines)

    assert code != 0
    (trace,) = [m["trace"] for m in messages if m["type"] == "TRACE"]
    assert trace["error"]["failure_type"] == "config_error"
    assert not [m for m in messages if m["type"] == "STATE"]
    assert "input line 2 is not JSON" in audit_events(messages, "rejected_record")[0]["reason"]


def test_given_a_record_of_a_stream_not_in_the_catalog_then_it_is_rejected_and_never_written(
    listmonk: Any, client: ListmonkClient, domain: str, tmp_path: Path
) -> None:
    lines = [record_line(f"known@{domain}"), record_line(f"stray@{domain}", stream="unknown_stream"), state_line(1)]

    code, messages = run_write(tmp_path, config(listmonk), lines)

    assert code == 0
    assert set(subscribers_of(client, domain)) == {f"known@{domain}"}
    (rejection,) = audit_events(messages, "rejected_record")
    assert rejection["record"] == 2 and rejection["reason"] == "stream 'unknown_stream' is not in the configured catalog"
