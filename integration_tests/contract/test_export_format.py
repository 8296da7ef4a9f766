"""GET /api/subscribers/export byte for byte as listmonk writes it: Go's encoding/csv Writer over
SubscriberExport (attribs as jsonb text, timestamps as time.Time.String())."""
from __future__ import annotations

import csv
import io
from typing import Any, Optional

import orjson
import psycopg
import pytest

from listmonk_emulator import EmulatorServer

from .api import call

HEADER = b"uuid,email,name,attributes,status,created_at,updated_at\n"
UUID = "00000000-0000-4000-8000-0000000000"
CREATED = "2026-01-02 03:04:05.5+00"
CREATED_GO = b"2026-01-02 03:04:05.5 +0000 UTC"


def _insert(emu: EmulatorServer, **values: Optional[str]) -> int:
    """A subscriber written straight into the database, so no API validation trims or rejects the awkward values."""
    row = {"attribs": "{}", "status": "enabled", "created_at": CREATED, "updated_at": CREATED, **values}
    with psycopg.connect(emu.dsn) as conn:
        inserted = conn.execute(
            """INSERT INTO subscribers (uuid, email, name, attribs, status, created_at, updated_at)
               VALUES (%(uuid)s, %(email)s, %(name)s, %(attribs)s, %(status)s, %(created_at)s, %(updated_at)s)
               RETURNING id""", row).fetchone()
    assert inserted is not None
    return int(inserted[0])


def _export(emu: EmulatorServer, params: Optional[dict[str, Any]] = None) -> bytes:
    response = call(emu, "GET", "/api/subscribers/export", params=params)
    assert response.status_code == 200, response.text
    return response.content


def _emails(body: bytes) -> list[str]:
    return [row[1] for row in csv.reader(io.StringIO(body.decode()))][1:]


@pytest.mark.parametrize(("name", "field"), [
    ("Doe, John", b'"Doe, John"'),
    ('Say "hi"', b'"Say ""hi"""'),
    ("Line1\nLine2", b'"Line1\nLine2"'),
    ("a\rb", b'"a\rb"'),
    (" Leading", b'" Leading"'),          # Python's csv leaves a leading space unquoted
    ("\tTab", b'"\tTab"'),
    ("\u3000Wide space", '"\u3000Wide space"'.encode()),   # unicode.IsSpace beyond Latin-1
    ("\u00a0No-break", '"\u00a0No-break"'.encode()),
    ("\u200bZero width", "\u200bZero width".encode()),      # not White_Space: unquoted
    ("Trailing ", b"Trailing "),
    ("Zo\u00eb", "Zo\u00eb".encode()),
    ("\\.", b'"\\."'),                   # PostgreSQL's end-of-data marker
    ("\\.x", b"\\.x"),
    ("", b""),                            # Go stopped quoting empty fields in 1.4
])
def test_given_awkward_name_when_exporting_then_go_csv_quoting(fresh: EmulatorServer, name: str, field: bytes) -> None:
    sub_id = _insert(fresh, uuid=UUID + "01", email="odd@example.com", name=name)
    assert _export(fresh, {"id": sub_id}) == HEADER + (
        f"{UUID}01,odd@example.com,".encode() + field + b",{},enabled," + CREATED_GO + b"," + CREATED_GO + b"\n")


def test_given_email_with_comma_when_exporting_then_quoted(fresh: EmulatorServer) -> None:
    sub_id = _insert(fresh, uuid=UUID + "02", email="odd,one@example.com", name="Odd")
    assert _export(fresh, {"id": sub_id}).split(b"\n")[1].startswith(f'{UUID}02,"odd,one@example.com",Odd,'.encode())


@pytest.mark.parametrize(("attribs", "field"), [
    ("{}", b"{}"),
    ('{"n": 10}', b'"{""n"": 10}"'),
    # jsonb's text: a space after `:` and `,`, keys by length then bytes, numbers as written, raw UTF-8,
    # JSON escapes kept (and their quotes doubled by the CSV writer).
    ('{"z": 1, "nl": "a\\nb", "a": {"b": [1.5, 10, "\u00fc", null]}, "q": "say \\"x\\"", "n": 1.50}',
     '"{""a"": {""b"": [1.5, 10, ""\u00fc"", null]}, ""n"": 1.50, ""q"": ""say \\""x\\"""", '
     '""z"": 1, ""nl"": ""a\\nb""}"'.encode()),
])
def test_given_attribs_when_exporting_then_jsonb_text(fresh: EmulatorServer, attribs: str, field: bytes) -> None:
    sub_id = _insert(fresh, uuid=UUID + "03", email="attr@example.com", name="Attr", attribs=attribs)
    line = _export(fresh, {"id": sub_id}).split(b"\n")[1]
    assert line == f"{UUID}03,attr@example.com,Attr,".encode() + field + b",enabled," + CREATED_GO + b"," + CREATED_GO


@pytest.mark.parametrize(("stored", "printed"), [
    ("2026-01-02 03:04:05+00", "2026-01-02 03:04:05 +0000 UTC"),               # zero fraction: no dot
    ("2026-01-02 03:04:05.120+00", "2026-01-02 03:04:05.12 +0000 UTC"),        # trailing zeros dropped
    ("2026-01-02 03:04:05.000001+00", "2026-01-02 03:04:05.000001 +0000 UTC"),
    ("2026-01-02 05:04:05.123456+02", "2026-01-02 03:04:05.123456 +0000 UTC"),  # in UTC
    ("2026-06-30 23:59:59.9-01", "2026-07-01 00:59:59.9 +0000 UTC"),
    (None, "0001-01-01 00:00:00 +0000 UTC"),                                     # null.Time's zero Time
])
def test_given_timestamp_when_exporting_then_go_time_string(fresh: EmulatorServer, stored: Optional[str],
                                                            printed: str) -> None:
    sub_id = _insert(fresh, uuid=UUID + "04", email="time@example.com", name="Time",
                     created_at=stored, updated_at=stored)
    assert _export(fresh, {"id": sub_id}).split(b"\n")[1].split(b",")[-2:] == [printed.encode()] * 2


def test_given_export_when_answered_then_listmonk_headers(fresh: EmulatorServer) -> None:
    response = call(fresh, "GET", "/api/subscribers/export")
    assert response.content.startswith(HEADER)
    assert {name: response.headers.get(name) for name in
            ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding", "Cache-Control")} == {
        "Content-Type": "text/csv", "Content-Disposition": "attachment; filename=subscribers.csv",
        "Content-Transfer-Encoding": "binary", "Cache-Control": "no-cache"}


def test_given_rows_over_several_batches_when_exporting_then_id_order(fresh: EmulatorServer) -> None:
    fresh.seed(5100)
    # An update moves john's row to the end of the table: only `ORDER BY id` still puts him first.
    with psycopg.connect(fresh.dsn) as conn:
        conn.execute("UPDATE subscribers SET name = 'John Moved' WHERE id = 1")
    emails = _emails(_export(fresh))
    assert emails == ["john@example.com", "anon@example.com"] + [f"seed{i}@example.com" for i in range(1, 5101)]


def test_given_filters_when_exporting_then_only_matches(fresh: EmulatorServer) -> None:
    fresh.seed(3, list_ids=[1], email_prefix="alpha")
    fresh.seed(2, list_ids=[2], subscription_status="unsubscribed", email_prefix="beta")
    assert _emails(_export(fresh, {"list_id": 2, "subscription_status": "unsubscribed"})) == [
        "beta1@example.com", "beta2@example.com"]
    assert _emails(_export(fresh, {"id": [6, 3]})) == ["alpha1@example.com", "beta1@example.com"]
    assert _emails(_export(fresh, {"query": "subscribers.email LIKE 'alpha%'"})) == [
        "alpha1@example.com", "alpha2@example.com", "alpha3@example.com"]
    bad = call(fresh, "GET", "/api/subscribers/export", params={"query": "nosuchcolumn = 1"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("Error preparing subscriber query: pq: ")


def test_given_no_match_when_exporting_then_the_body_is_empty_without_even_the_header(fresh: EmulatorServer) -> None:
    # listmonk's handler flushes its csv.Writer only after a batch with rows; the buffered header is never sent.
    assert _export(fresh, {"query": "subscribers.email = 'nobody@example.com'"}) == b""
    assert _export(fresh).startswith(HEADER)


def test_given_export_when_read_like_the_destination_then_values_round_trip(fresh: EmulatorServer) -> None:
    attribs = {"city": "K\u00f8benhavn", "score": 1.5, "tags": ["a, b", 'say "x"'], "nested": {"n": 10}}
    sub_id = _insert(fresh, uuid=UUID + "05", email="trip@example.com", name=' Ann "A", B\n',
                     attribs=orjson.dumps(attribs).decode())
    [row] = csv.DictReader(io.StringIO(_export(fresh, {"id": sub_id}).decode(), newline=""))
    assert (row["name"], orjson.loads(row["attributes"])) == (' Ann "A", B\n', attribs)
