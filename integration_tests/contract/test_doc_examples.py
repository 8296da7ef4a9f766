"""Behaviour from listmonk-api.md (and listmonk's source) that no recorded fixture covers."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import psycopg

from listmonk_emulator import EmulatorServer

from .api import call, import_csv, list_statuses, subscriber, wait_for_import


def test_given_subscribers_when_exporting_then_csv_streams_every_row(fresh: EmulatorServer) -> None:
    fresh.seed(12000)
    response = call(fresh, "GET", "/api/subscribers/export", stream=True)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"]
    assert len(rows) == 1 + 12002
    assert rows[1][1] == "john@example.com" and json.loads(rows[1][3])["type"] == "known"


def test_given_query_when_exporting_then_only_matches(fresh: EmulatorServer) -> None:
    response = call(fresh, "GET", "/api/subscribers/export", params={"query": "subscribers.email LIKE 'anon%'"})
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [r[1] for r in rows[1:]] == ["anon@example.com"]


def test_given_all_flag_when_deleting_by_query_then_every_subscriber_removed(fresh: EmulatorServer) -> None:
    assert call(fresh, "POST", "/api/subscribers/query/delete", json={"all": True}).json() == {"data": True}
    assert call(fresh, "GET", "/api/subscribers").json()["data"]["total"] == 0


def test_given_list_when_updating_and_deleting_then_changes_apply(fresh: EmulatorServer) -> None:
    updated = call(fresh, "PUT", "/api/lists/1", json={"name": "Renamed", "tags": ["a b"]}).json()["data"]
    assert (updated["name"], updated["tags"], updated["type"]) == ("Renamed", ["a-b"], "private")
    assert call(fresh, "DELETE", "/api/lists/1").json() == {"data": True}
    gone = call(fresh, "GET", "/api/lists/1")
    assert (gone.status_code, gone.json()) == (400, {"message": "List not found"})
    assert list_statuses(subscriber(fresh, 1)) == {}


def test_given_zip_upload_when_importing_then_inner_csv_used(fresh: EmulatorServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", "email,name\nzipped@example.com,Zipped\n")
    response = call(fresh, "POST", "/api/import/subscribers", files=[
        ("params", (None, json.dumps({"mode": "subscribe", "delim": ",", "lists": [1]}))),
        ("file", ("subs.zip", buffer.getvalue(), "application/zip"))])
    assert response.status_code == 200
    status = wait_for_import(fresh)
    assert (status["status"], status["imported"]) == ("finished", 1)


def test_given_import_when_it_finishes_then_every_row_consumed_an_id(fresh: EmulatorServer) -> None:
    import_csv(fresh, {"mode": "subscribe", "delim": ",", "lists": [1]},
               "email\njohn@example.com\nnew1@example.com\n")
    created = call(fresh, "POST", "/api/subscribers", json={"email": "after@example.com"}).json()["data"]
    assert created["id"] == 5  # john's row used id 3 although it only updated john


def test_given_running_import_when_deleted_then_it_stops(fresh: EmulatorServer) -> None:
    rows = "\n".join(f"stop{i}@example.com" for i in range(60000))
    call(fresh, "POST", "/api/import/subscribers", files=[
        ("params", (None, json.dumps({"mode": "subscribe", "delim": ",", "lists": [1]}))),
        ("file", ("big.csv", ("email\n" + rows + "\n").encode(), "text/csv"))])
    stopped = call(fresh, "DELETE", "/api/import/subscribers").json()["data"]
    assert stopped["status"] in ("stopped", "finished")
    cleared = call(fresh, "DELETE", "/api/import/subscribers").json()["data"]
    assert cleared == {"name": "", "total": 0, "imported": 0, "status": "none"}


def test_given_wrong_element_type_when_creating_then_400(fresh: EmulatorServer) -> None:
    response = call(fresh, "POST", "/api/subscribers", data=b'{"email": "a@example.com", "status": true}',
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Unmarshal type error: expected=string, got=bool, field=status")


def test_given_dsn_when_inspecting_tables_then_listmonk_schema_present(fresh: EmulatorServer) -> None:
    with psycopg.connect(fresh.dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('subscribers', 'subscriber_lists')")}
        constraint = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conname = 'subscriber_lists_list_id_fkey'").fetchone()
    assert {"idx_subs_email", "subscribers_email_key", "subscriber_lists_pkey"} <= names
    assert constraint is not None


def test_given_attribs_key_null_when_patching_then_stored_as_null(fresh: EmulatorServer) -> None:
    data = call(fresh, "PATCH", "/api/subscribers/1", json={"attribs": {"city": None}}).json()["data"]
    assert data["attribs"] == {"city": None, "good": True, "type": "known"}
