"""A minimal, fast stand-in for listmonk's read API, for measuring the source's own ceiling.

It serves N subscribers (ids 1..N) generated page by page from one recorded subscriber row, so memory stays
flat at any N, and answers each page after the time a real listmonk takes to build it (0.2 s per page of
5,000 on a real v6.2 with PostgreSQL 15 by default, scaled by the page's row count). Only what the source
reads is served: `/api/profile`, `/api/lists`, and `/api/subscribers` by keyset (`query=(subscribers.id > N)`,
optionally `AND subscribers.id <= M`), by offset in id order, newest or highest id first, and the
newest-subscription probe.
Row i's subscriber and subscription times fall in the second before the template's, rising with i (distinct up
to N = 1,000,000, as on a server that created its subscribers one by one; row N holds the newest, as the
"newest change" probes expect); its statuses are the template's: nothing ever changes between two reads.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import orjson

SECONDS_PER_5000_ROWS = 0.2
_KEYSET = re.compile(r"subscribers\.id > (\d+)")
_UP_TO = re.compile(r"subscribers\.id <= (\d+)")
_UPDATED_SINCE = re.compile(r"subscribers\.updated_at > '([^']+)'")
_MARKS = {"id": 987654321, "uuid": "@UUID@", "email": "@EMAIL@", "name": "@NAME@", "created_at": "@TIME@",
          "updated_at": "@TIME@"}
_ENTRY_MARKS = {"subscription_created_at": "@ENTRYTIME@", "subscription_updated_at": "@ENTRYTIME@"}
# Marker -> its key in the row's %-format.
_KEYS = {"987654321": "%(id)d", '"@UUID@"': '"%(uuid)s"', '"@EMAIL@"': '"%(email)s"', '"@NAME@"': '"%(name)s"',
         '"@TIME@"': '"%(time)sZ"', '"@ENTRYTIME@"': '"%(time)s+00:00"'}


def row_format(template_row: Mapping[str, Any]) -> str:
    """A %-format of one subscriber row (keys: id, uuid, email, name, time), much cheaper than building JSON."""
    lists = [{**entry, **_ENTRY_MARKS} for entry in template_row.get("lists") or []]
    marked = orjson.dumps({**template_row, **_MARKS, "lists": lists}).decode().replace("%", "%%")
    for mark, key in _KEYS.items():
        marked = marked.replace(mark, key)
    return marked


class ReplayListmonk:
    """Serves on 127.0.0.1 in a background thread: `with ReplayListmonk(...) as server: server.url`."""

    def __init__(self, template: Mapping[str, Any], count: int, seconds_per_5000_rows: float = SECONDS_PER_5000_ROWS) -> None:
        self._row = row_format(template["subscriber"])
        self._lists = orjson.dumps(template["lists"])
        self._profile = orjson.dumps(template["profile"])
        self._updated_at = str(template["subscriber"]["updated_at"])
        newest = datetime.fromisoformat(self._updated_at.replace("Z", "+00:00"))
        self._second_before = (newest - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
        self.count = count
        self.seconds_per_row = seconds_per_5000_rows / 5000
        self._server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ReplayListmonk:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                started = time.perf_counter()
                parts = urlsplit(self.path)
                status, body, rows = replay.answer(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()})
                time.sleep(max(0.0, rows * replay.seconds_per_row - (time.perf_counter() - started)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes, int]:
        """(status, body, rows served) for one GET."""
        if path == "/api/profile":
            return 200, self._profile, 0
        if path == "/api/lists":
            return 200, self._lists, 0
        if path != "/api/subscribers":
            return 404, b'{"message": "Not found"}', 0
        per_page = int(params.get("per_page", "20"))
        query = params.get("query", "")
        # Newest first, highest id first, and the newest-subscription probe all start at row N.
        if params.get("order") != "asc" or "subscriber_lists" in query:
            ids = range(self.count, max(0, self.count - per_page), -1)
        else:
            since = _UPDATED_SINCE.search(query)
            keyset = _KEYSET.search(query)
            up_to = _UP_TO.search(query)
            first = int(keyset.group(1)) + 1 if keyset else (int(params.get("page", "1")) - 1) * per_page + 1
            last = min(self.count, first + per_page - 1, int(up_to.group(1)) if up_to else self.count)
            # Every row carries the template's updated_at: a narrowing after it leaves nothing.
            if since and since.group(1) >= self._updated_at:
                last = first - 1
            ids = range(first, last + 1)
        return 200, self._page(ids, query, per_page), len(ids)

    def _page(self, ids: range, query: str, per_page: int) -> bytes:
        results = ",".join(self._row_text(i) for i in ids)
        tail = orjson.dumps({"search": "", "query": query, "total": self.count, "per_page": per_page, "page": 1})
        return b'{"data":{"results":[' + results.encode() + b"]," + tail[1:] + b"}"

    def _row_text(self, i: int) -> str:
        return self._row % {"id": i, "uuid": f"00000000-0000-4000-8000-{i:012d}", "email": f"replay{i}@example.com",
                            "name": f"Replay {i}", "time": f"{self._second_before}.{i * 999_999 // self.count:06d}"}
