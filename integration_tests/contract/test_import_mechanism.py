"""The importer runs listmonk's per-row upsert, committed every 10,000 rows (importer.go's Session.Start).

Not recorded as fixtures; derived from listmonk's source (internal/subimporter/importer.go and the
`upsert-subscriber` query in queries/subscribers.sql).
"""
from __future__ import annotations

import json
import time

import pytest

from listmonk_emulator import EmulatorServer

from .api import call, import_csv, list_statuses, subscriber

DUPLICATES = ('email,name,attributes\n'
              'dup@example.com,First,"{""v"":1}"\n'
              'DUP@example.com,Second,"{""v"":2}"\n')


def _logs(emu: EmulatorServer) -> list[str]:
    text = call(emu, "GET", "/api/import/subscribers/logs").json()["data"]
    return [line.split(" ", 2)[2] for line in text.splitlines()]  # drop the date and time


@pytest.mark.parametrize("userinfo, name, attribs", [(False, "First", {"v": 1}), (True, "Second", {"v": 2})])
def test_given_email_twice_in_file_when_importing_then_later_row_updates_earlier(
        fresh: EmulatorServer, userinfo: bool, name: str, attribs: dict[str, int]) -> None:
    status = import_csv(fresh, {"mode": "subscribe", "delim": ",", "lists": [1], "subscription_status": "confirmed",
                                "overwrite_userinfo": userinfo}, DUPLICATES)
    assert (status["status"], status["imported"]) == ("finished", 2)  # both rows count
    sub = subscriber(fresh, 3)  # the first row's id
    assert (sub["email"], sub["name"], sub["attribs"]) == ("dup@example.com", name, attribs)
    assert list_statuses(sub) == {1: "confirmed"}
    created = call(fresh, "POST", "/api/subscribers", json={"email": "after@example.com"}).json()["data"]
    assert created["id"] == 5  # the second row drew id 4 although it only updated


def test_given_batch_sized_file_when_importing_then_commit_logged_before_finish(fresh: EmulatorServer) -> None:
    rows = "".join(f"batch{i:05d}@example.com\n" for i in range(10_000))
    status = import_csv(fresh, {"mode": "subscribe", "delim": ",", "lists": [1]}, "email\n" + rows)
    assert (status["status"], status["total"], status["imported"]) == ("finished", 10_000, 10_000)
    # A full batch logs its commit; with nothing pending after it, "finished" comes from the other line.
    assert _logs(fresh) == ["importer.go:193: processing 'subs.csv'", "importer.go:329: imported 10000",
                            "importer.go:339: imported finished"]


def test_given_unknown_list_when_importing_then_insert_error_and_nothing_imported(fresh: EmulatorServer) -> None:
    status = import_csv(fresh, {"mode": "subscribe", "delim": ",", "lists": [1, 99]},
                        "email\nfirst@example.com\nsecond@example.com\n")
    # listmonk's Start stops at the failed Exec with nothing pending, so the import still "finishes".
    assert (status["status"], status["total"], status["imported"]) == ("finished", 2, 0)
    assert _logs(fresh) == [
        "importer.go:193: processing 'subs.csv'",
        'importer.go:315: error executing insert: pq: insert or update on table "subscriber_lists" violates '
        'foreign key constraint "subscriber_lists_list_id_fkey"',
        "importer.go:339: imported finished"]
    assert call(fresh, "GET", "/api/subscribers").json()["data"]["total"] == 2  # the install's two


def test_given_running_import_when_stopped_then_rows_read_so_far_committed_and_counted(
        fresh: EmulatorServer) -> None:
    rows = "".join(f"stop{i:05d}@example.com\n" for i in range(60_000))
    response = call(fresh, "POST", "/api/import/subscribers", files=[
        ("params", (None, json.dumps({"mode": "subscribe", "delim": ",", "lists": [1]}))),
        ("file", ("big.csv", ("email\n" + rows).encode(), "text/csv"))])
    assert response.status_code == 200
    deadline = time.monotonic() + 60
    while call(fresh, "GET", "/api/import/subscribers").json()["data"]["imported"] < 10_000:  # first commit
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopped = call(fresh, "DELETE", "/api/import/subscribers").json()["data"]
    assert stopped["status"] == "stopped"
    # The rows already read when the stop came are committed (listmonk's Start commits what it holds)
    # and counted; the rest of the file is not read.
    created = call(fresh, "GET", "/api/subscribers").json()["data"]["total"] - 2
    assert 10_000 <= stopped["imported"] == created < 60_000
