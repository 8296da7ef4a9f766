"""Input nobody asked for, through the console script as Airbyte runs it: lines that are not Airbyte messages, and
records of streams the configured catalog does not hold. None is lost silently, none reaches listmonk."""

from __future__ import annotations

import json
from typing import Any

from integration_tests.cli import STREAM, Cli
from integration_tests.destination.harness import config, subscribers_of
from listmonk_client.client import ListmonkClient


def record_line(email: str, stream: str = STREAM) -> bytes:
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": {"email": email}, "emitted_at": 0}}).encode()


def state_line(marker: int) -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": STREAM}, "stream_state": {"marker": marker}}}}).encode()


def lines(*given: bytes) -> bytes:
    return b"\n".join(given) + b"\n"


def test_given_lines_that_are_not_airbyte_messages_then_each_is_rejected_with_its_line_number(
    listmonk: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    run = cli.write(config(listmonk), lines(
        record_line(f"a@{domain}"), b"this is not JSON", b'{"not": "a message"}', b"\xff\xfe not UTF-8",
        b'{"type": "RECORD"}', b"", record_line(f"b@{domain}"), state_line(1)))

    assert run.returncode == 0
    assert set(subscribers_of(client, domain)) == {f"a@{domain}", f"b@{domain}"}
    reasons = [event["reason"] for event in run.events("rejected_record")]
    assert [reason.split(" is ")[0] for reason in reasons] == [f"input line {n}" for n in (2, 3, 4, 5)]
    assert (run.summary["records"], run.summary["created"], run.summary["rejected"]) == (6, 2, 4)
    assert run.states == [1]


def test_given_an_unreadable_line_and_policy_fail_then_the_sync_stops_without_passing_the_state_on(
    listmonk: Any, cli: Cli, domain: str
) -> None:
    run = cli.write(config(listmonk, rejected_records={"policy": "fail"}),
                    lines(record_line(f"a@{domain}"), b"{broken", state_line(1)))

    assert run.returncode != 0
    (trace,) = run.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert run.states == []
    assert "input line 2 is not JSON" in run.events("rejected_record")[0]["reason"]


def test_given_a_record_of_a_stream_not_in_the_catalog_then_it_is_rejected_and_never_written(
    listmonk: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    run = cli.write(config(listmonk), lines(
        record_line(f"known@{domain}"), record_line(f"stray@{domain}", stream="unknown_stream"), state_line(1)))

    assert run.returncode == 0
    assert set(subscribers_of(client, domain)) == {f"known@{domain}"}
    (rejection,) = run.events("rejected_record")
    assert rejection["record"] == 2 and rejection["reason"] == "stream 'unknown_stream' is not in the configured catalog"
