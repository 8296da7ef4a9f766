"""The background CSV importer: one import at a time, one upsert statement per CSV row, as listmonk's.

listmonk's importer (internal/subimporter/importer.go) reads the CSV row by row and executes its prepared
per-row upsert (queries/subscribers.sql `upsert-subscriber`, or `upsert-blocklist-subscriber` in
blocklist mode) once per valid row, in a transaction it commits every 10,000 rows; `imported` grows only
at those commits. This does the same, with the same SQL, so each row pays listmonk's per-row costs: an
id drawn from the sequence (also when the row only updates), index and foreign-key trigger work, and a
later row of the file for the same email updating what an earlier one wrote (name and attribs only
with overwrite_userinfo). The one difference: a batch's rows go to PostgreSQL through one pipeline
(psycopg's executemany), which saves the Python round trip per row, not the statements.
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterator, NamedTuple, Optional

import psycopg
from psycopg_pool import ConnectionPool

from listmonk_emulator import gojson
from listmonk_emulator.models import name_from_email, normalise_email

COMMIT_BATCH_SIZE = 10_000  # listmonk's commitBatchSize

# listmonk v6.2's queries (queries/subscribers.sql), verbatim. `upsert-subscriber`: $1 uuid, $2 email,
# $3 name, $4 attribs, $5 list ids, $6 subscription status, $7 overwrite_userinfo, $8 overwrite_subscription_status.
_UPSERT = """
WITH sub AS (
    INSERT INTO subscribers as s (uuid, email, name, attribs, status)
    VALUES($1, $2, $3, $4, 'enabled')
    ON CONFLICT (email)
    DO UPDATE SET
        name=(CASE WHEN $7 THEN $3 ELSE s.name END),
        attribs=(CASE WHEN $7 THEN $4 ELSE s.attribs END),
        updated_at=NOW()
    RETURNING uuid, id, status
),
subs AS (
    INSERT INTO subscriber_lists (subscriber_id, list_id, status)
    SELECT sub.id, listID, CASE WHEN sub.status = 'blocklisted' THEN 'unsubscribed' ELSE $6::subscription_status END
    FROM sub, UNNEST($5::INT[]) AS listID
    ON CONFLICT (subscriber_id, list_id) DO UPDATE
    SET updated_at = NOW(),
        status = CASE WHEN $8 THEN EXCLUDED.status ELSE subscriber_lists.status END
)
SELECT uuid, id from sub
"""

# `upsert-blocklist-subscriber`: $1 to $4 as above.
_UPSERT_BLOCKLIST = """
WITH sub AS (
    INSERT INTO subscribers (uuid, email, name, attribs, status)
    VALUES($1, $2, $3, $4, 'blocklisted')
    ON CONFLICT (email) DO UPDATE SET status='blocklisted', updated_at=NOW()
    RETURNING id
)
UPDATE subscriber_lists SET status='unsubscribed', updated_at=NOW()
    WHERE subscriber_id = (SELECT id FROM sub)
"""

# `update-lists-date`, run when an import ends.
_UPDATE_LISTS_DATE = "UPDATE lists SET updated_at=NOW() WHERE id = ANY($1)"


@dataclass(frozen=True)
class ImportParams:
    mode: str  # subscribe | blocklist
    delim: str
    lists: list[int]
    subscription_status: str
    overwrite_userinfo: bool
    overwrite_subscription_status: bool


class _Row(NamedTuple):
    """A valid CSV row: the upsert's $2, $3 and $4."""
    email: str
    name: str
    attribs: str  # JSON object text


def _log_line(message: str, line_no: int) -> str:
    # Go's log.Lshortfile format; the line numbers are the ones listmonk v6.2's importer.go prints.
    return f"{time.strftime('%Y/%m/%d %H:%M:%S')} importer.go:{line_no}: {message}\n"


def _go_row(row: list[str]) -> str:
    return "[" + " ".join(row) + "]"


def _read_text(path: str) -> str:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise ValueError("no CSV file found in the ZIP")
            return archive.read(names[0]).decode("utf-8-sig")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return handle.read()


def _count_lines(text: str) -> int:
    """listmonk's countLines: line breaks, plus an unterminated last line; blank lines count too."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


class _Killed(Exception):
    """The import's process went away mid-batch."""


class Importer:
    """Holds the state GET /api/import/subscribers reports and runs one import thread."""

    def __init__(self, pool: ConnectionPool, delay: Callable[[], float] = lambda: 0.0) -> None:
        self._pool = pool
        self._delay = delay
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._killed = threading.Event()  # the process "died": nothing more is committed
        self._status: dict[str, Any] = {}
        self._logs: list[str] = []
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._status = {"name": "", "total": 0, "imported": 0, "status": "none"}
            self._logs = []

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def logs(self) -> str:
        with self._lock:
            return "".join(self._logs)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, name: str, path: str, params: ImportParams) -> Optional[dict[str, Any]]:
        """Starts the import thread; None when another import got there first."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return None
            self._status = {"name": name, "total": 0, "imported": 0, "status": "importing"}
            self._logs = []
            accepted = dict(self._status)
            self._stop.clear()
            self._killed.clear()
            self._thread = threading.Thread(target=self._run, args=(name, path, params), daemon=True)
            self._thread.start()
        return accepted

    def stop_or_clear(self) -> dict[str, Any]:
        """DELETE: stop a running import; clear a finished one back to `none`."""
        if self.running():
            self._stop.set()
            assert self._thread is not None
            self._thread.join(timeout=30)
            return self.status()
        self.clear()
        return self.status()

    def abandon(self) -> None:
        """What a listmonk restart does to an import: the running one dies without committing its current batch
        (batches committed before stay), and the status is forgotten (`none`, no logs)."""
        if self.running():
            self._killed.set()
            self._stop.set()
            assert self._thread is not None
            self._thread.join(timeout=30)
        self.clear()

    def _log(self, message: str, line_no: int) -> None:
        with self._lock:
            self._logs.append(_log_line(message, line_no))

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)

    def _run(self, name: str, path: str, params: ImportParams) -> None:
        try:
            self._log(f"processing '{name}'", 193)
            self._stop.wait(self._delay())
            text = _read_text(path)
            self._set(total=max(_count_lines(text) - 1, 0))  # the header is not a row
            reader = csv.reader(io.StringIO(text), delimiter=params.delim)
            columns = self._columns(next(reader, []))
            if "email" not in columns:
                self._log(f"'email' column not found in '{path}'", 508)
                self._set(status="failed")
                return
            self._import(self._rows(reader, columns), params)
        except Exception as err:  # the thread must always leave a final status behind
            self._log(f"error importing: {err}", 340)
            self._set(status="failed")
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _import(self, rows: Iterator[_Row], params: ImportParams) -> None:
        """listmonk's Session.Start: a transaction per COMMIT_BATCH_SIZE rows, `imported` grows per commit."""
        if params.mode == "blocklist":
            query, extra = _UPSERT_BLOCKLIST, ()
        else:
            # listmonk's handler defaults an empty subscription_status to `unconfirmed`.
            query, extra = _UPSERT, (params.lists, params.subscription_status or "unconfirmed",
                                     params.overwrite_userinfo, params.overwrite_subscription_status)
        # A connection of its own: listmonk runs prepared statements, which the pool's connections never do.
        with psycopg.connect(self._pool.conninfo, prepare_threshold=0) as conn, psycopg.RawCursor(conn) as cur:
            imported = 0
            while True:
                sent = 0

                def batch() -> Iterator[tuple[Any, ...]]:
                    # Rows are read and validated while PostgreSQL runs the ones sent before them,
                    # as listmonk's LoadCSV feeds Start through a channel.
                    nonlocal sent
                    for row in islice(rows, COMMIT_BATCH_SIZE):
                        sent += 1
                        yield (uuid.uuid4(), *row, *extra)

                try:
                    # Pipelined: one execution of the statement per row, without a round trip per row
                    # (Go's per-row Exec costs less than a Python one).
                    cur.executemany(query, batch())
                    conn.commit()
                except psycopg.Error as err:
                    # listmonk logs the failed Exec, rolls the batch back and stops reading rows. With
                    # nothing left pending it still ends `finished`: the one error in practice, an unknown
                    # list id, fails the first row of the first batch.
                    conn.rollback()
                    self._log(f"error executing insert: pq: {err.diag.message_primary or err}", 315)
                    sent = 0
                    break
                imported += sent
                self._set(imported=imported)
                if sent < COMMIT_BATCH_SIZE or self._stop.is_set():
                    break
                self._log(f"imported {imported}", 329)
            cur.execute(_UPDATE_LISTS_DATE, (params.lists,))
        if self._stop.is_set():
            self._log("import stopped", 358)
            self._set(status="stopped")
        else:
            # listmonk logs this from two lines: after a last partial batch, or after a full one.
            self._log("imported finished", 358 if sent else 339)
            self._set(status="finished")

    def _columns(self, header: list[str]) -> dict[str, int]:
        columns: dict[str, int] = {}
        for index, raw in enumerate(header):
            key = raw.strip()
            if key in ("email", "name", "attributes"):
                columns[key] = index
            else:
                self._log(f"ignoring unknown header '{key}'", 705)
        return columns

    def _rows(self, reader: Iterator[list[str]], columns: dict[str, int]) -> Iterator[_Row]:
        """Valid rows, read as the import goes; stops early on a stop request, as listmonk's LoadCSV."""
        for line, row in enumerate(reader, start=1):
            if self._killed.is_set():
                raise _Killed()  # out of executemany: the batch's transaction is rolled back
            if self._stop.is_set():
                return

            def cell(key: str) -> str:
                index = columns.get(key)
                return row[index] if index is not None and index < len(row) else ""

            email = normalise_email(cell("email"))
            if email is None:
                self._log(f"skipping line {line}: Invalid email.: {_go_row(row)}", 564)
                continue
            raw_attribs = cell("attributes").strip()
            attribs = self._attribs(raw_attribs, line, email) if raw_attribs else "{}"
            yield _Row(email, cell("name").strip() or name_from_email(email), attribs)

    def _attribs(self, raw: str, line: int, email: str) -> str:
        """A bad attributes cell only empties the row's attribs; the row is still imported."""
        try:
            value = gojson.unmarshal(raw)
        except gojson.GoSyntaxError as err:
            self._log(f"skipping invalid attributes JSON on line {line} for '{email}': {err}", 575)
            return "{}"
        if not isinstance(value, dict):
            kind = "array" if isinstance(value, list) else "string" if isinstance(value, str) else "number"
            self._log(f"skipping invalid attributes JSON on line {line} for '{email}': json: cannot "
                      f"unmarshal {kind} into Go value of type map[string]interface {{}}", 575)
            return "{}"
        return gojson.dumps(value)
