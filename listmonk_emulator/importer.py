"""The background CSV importer: one import at a time, rows upserted set-wise per batch.

Each batch is COPYed into a temp table and upserted by one statement that mirrors listmonk's
per-row upsert queries, flag by flag (doc §11). Every valid row draws a subscriber id from the
sequence, as listmonk's INSERT ... ON CONFLICT does, so new rows get the same gapped ids.
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Any, Callable, Optional

from psycopg_pool import ConnectionPool

from listmonk_emulator import gojson
from listmonk_emulator.models import name_from_email, normalise_email

BATCH_SIZE = 10_000

_UPSERT = """
WITH src AS (
    SELECT line, email, name, attribs, nextval('subscribers_id_seq') AS id
    FROM (SELECT * FROM imp ORDER BY line) ordered
), firsts AS (
    SELECT DISTINCT ON (email) email, id FROM src ORDER BY email, line
), lasts AS (
    SELECT DISTINCT ON (email) email, name, attribs FROM src ORDER BY email, line DESC
), up AS (
    INSERT INTO subscribers AS s (id, uuid, email, name, attribs, status)
    SELECT f.id, md5(random()::TEXT || f.id::TEXT)::UUID, f.email, l.name, l.attribs, %(new_status)s::subscriber_status
    FROM firsts f JOIN lasts l USING (email) ORDER BY f.id
    ON CONFLICT (email) DO UPDATE SET
        name = CASE WHEN %(userinfo)s THEN EXCLUDED.name ELSE s.name END,
        attribs = CASE WHEN %(userinfo)s THEN EXCLUDED.attribs ELSE s.attribs END,
        status = CASE WHEN %(blocklist)s THEN 'blocklisted'::subscriber_status ELSE s.status END,
        updated_at = NOW()
    RETURNING s.id, s.status
), subs AS (
    INSERT INTO subscriber_lists (subscriber_id, list_id, status)
    SELECT up.id, l.id, CASE WHEN up.status = 'blocklisted' THEN 'unsubscribed'::subscription_status
                             ELSE %(sub_status)s::subscription_status END
    FROM up, lists l WHERE l.id = ANY(%(lists)s::INT[])
    ON CONFLICT (subscriber_id, list_id) DO UPDATE SET
        updated_at = NOW(),
        status = CASE WHEN %(overwrite_status)s THEN EXCLUDED.status ELSE subscriber_lists.status END
), unsub AS (
    UPDATE subscriber_lists SET status = 'unsubscribed', updated_at = NOW()
    WHERE %(blocklist)s AND subscriber_id IN (SELECT id FROM up)
)
SELECT COUNT(*) AS n FROM src
"""


@dataclass(frozen=True)
class ImportParams:
    mode: str  # subscribe | blocklist
    delim: str
    lists: list[int]
    subscription_status: str
    overwrite_userinfo: bool
    overwrite_subscription_status: bool


def _log_line(message: str, line_no: int) -> str:
    # Go's log.Lshortfile format; the line numbers are the ones listmonk's importer.go prints.
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


class Importer:
    """Holds the state GET /api/import/subscribers reports and runs one import thread."""

    def __init__(self, pool: ConnectionPool, delay: Callable[[], float] = lambda: 0.0) -> None:
        self._pool = pool
        self._delay = delay
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
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
            rows = list(csv.reader(io.StringIO(_read_text(path)), delimiter=params.delim))
            header, data = (rows[0], rows[1:]) if rows else ([], [])
            self._set(total=len(data))
            columns = self._columns(header)
            if "email" not in columns:
                self._log(f"'email' column not found in '{path}'", 508)
                self._set(status="failed")
                return
            imported = 0
            for start in range(0, len(data), BATCH_SIZE):
                if self._stop.is_set():
                    self._log("import stopped", 358)
                    self._set(status="stopped")
                    return
                batch = self._prepare(data[start:start + BATCH_SIZE], start, columns)
                imported += self._upsert(batch, params)
                self._set(imported=imported)
            self._log("imported finished", 358)
            self._set(status="finished")
        except Exception as err:  # the thread must always leave a final status behind
            self._log(f"error importing: {err}", 340)
            self._set(status="failed")
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _columns(self, header: list[str]) -> dict[str, int]:
        columns: dict[str, int] = {}
        for index, raw in enumerate(header):
            key = raw.strip()
            if key in ("email", "name", "attributes"):
                columns[key] = index
            else:
                self._log(f"ignoring unknown header '{key}'", 705)
        return columns

    def _prepare(self, rows: list[list[str]], offset: int, columns: dict[str, int]) -> list[tuple[int, str, str, str]]:
        """Validate rows as listmonk does; a bad email skips the row, bad JSON only empties attribs."""
        out: list[tuple[int, str, str, str]] = []
        for i, row in enumerate(rows):
            line = offset + i + 1

            def cell(key: str) -> str:
                index = columns.get(key)
                return row[index] if index is not None and index < len(row) else ""

            email = normalise_email(cell("email"))
            if email is None:
                self._log(f"skipping line {line}: Invalid email.: {_go_row(row)}", 564)
                continue
            attribs = "{}"
            raw_attribs = cell("attributes").strip()
            if raw_attribs:
                attribs = self._attribs(raw_attribs, line, email)
            out.append((line, email, cell("name").strip() or name_from_email(email), attribs))
        return out

    def _attribs(self, raw: str, line: int, email: str) -> str:
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
        return json.dumps(value)

    def _upsert(self, batch: list[tuple[int, str, str, str]], params: ImportParams) -> int:
        if not batch:
            return 0
        blocklist = params.mode == "blocklist"
        with self._pool.connection() as conn:
            # Every id written is valid by construction (subscriber ids come from the same
            # statement, list ids are joined against `lists`), so the per-row FK triggers, a
            # third of the cost, are skipped for this transaction only.
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("CREATE TEMP TABLE imp (line INT, email TEXT, name TEXT, attribs JSONB) ON COMMIT DROP")
            with conn.cursor().copy("COPY imp (line, email, name, attribs) FROM STDIN") as copy:
                for record in batch:
                    copy.write_row(record)
            row = conn.execute(_UPSERT, {
                "new_status": "blocklisted" if blocklist else "enabled",
                "blocklist": blocklist,
                "userinfo": params.overwrite_userinfo and not blocklist,
                "overwrite_status": params.overwrite_subscription_status,
                "sub_status": params.subscription_status or "unconfirmed",
                "lists": [] if blocklist else params.lists,
            }).fetchone()
            conn.commit()
        return int(row["n"]) if row else 0  # type: ignore[call-overload]
