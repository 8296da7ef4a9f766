"""The listmonk HTTP API, as the connectors use it."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json as jsonlib
import operator
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
import requests
from pydantic import ValidationError

from listmonk_client.errors import (
    ConnectionFailed,
    EndpointNotFound,
    ImportTimedOut,
    ListmonkError,
    PermissionDenied,
    RequestRejected,
)
from listmonk_client.models import (
    Bounce,
    Campaign,
    ImportStatus,
    MailingList,
    Profile,
    ServerInfo,
    FoundSubscribersEnvelope,
    Subscriber,
    SubscriberState,
)
from listmonk_client.retry import RetryPolicy
from listmonk_client.sql import SqlExpr
from listmonk_client.transport import AuthMethod, ClientStats, Transport

SubscriptionAction = Literal["add", "remove", "unsubscribe"]

IMPORT_PATH = "/api/import/subscribers"
# The header of listmonk's CSV export (cmd/subscribers.go, handleExportSubscribers).
EXPORT_COLUMNS = ("uuid", "email", "name", "attributes", "status", "created_at", "updated_at")
# Characters a query string may carry as they are (RFC 3986 sub-delimiters and ":@"; Go's ParseQuery reads each
# as itself). Left unescaped, a lookup's list of quoted emails holds a fraction of the percent-escapes, which
# requests and urllib3 each walk with a Python call per escape: a lookup's URL then costs 0.2 ms to send, not 1.4.
_QUERY_SAFE = "'(),@:"
# Ids per `DELETE /api/subscribers?id=...` call, to keep the URL short.
_DELETE_CHUNK = 200
# Bytes of the export read at a time (at most: a chunked answer comes in its chunks, about 4 KiB from listmonk).
_EXPORT_BLOCK = 1 << 16
# csv's default field limit is 128 KiB, and listmonk exports attributes of any size it accepted (a JSON object
# of megabytes through the API): no limit short of what a C long holds everywhere.
_EXPORT_FIELD_LIMIT = (1 << 31) - 1
# How long an import's polls stay fast when nothing says how long it runs: a poll costs listmonk about a millisecond,
# and a sync whose last import ends between two slow polls waits up to the interval for nothing.
FAST_POLL_SECONDS = 0.5


def _export_line_blocks(response: requests.Response) -> Iterator[io.StringIO]:
    """The export's text as blocks of whole lines, each a StringIO that yields its lines as a file opened with
    newline="" does (split after LF, CR or CR LF, ends kept), which is what csv.reader wants; a quoted field may
    go on into the next block. The lines are split in C: io.TextIOWrapper over urllib3's stream costs a Python
    call (its `closed` property) per line. iter_content undoes any gzip, and turns urllib3's errors (a stream
    broken off, a read timeout) into requests' own, which export_subscribers reports as ConnectionFailed.
    Only each new chunk is searched for a line end, and the text without one is kept in pieces, so a field of
    megabytes with no line end (listmonk accepts attributes of any size) costs linear time, not quadratic."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending: list[str] = []
    for chunk in response.iter_content(_EXPORT_BLOCK):
        text = decoder.decode(chunk)
        # After the last \n, or else after a last \r that is not the final character: a \r at the end may be
        # the first half of a \r\n, which must not be cut in two (csv would see an extra blank line).
        cut = text.rfind("\n") + 1 or text.rfind("\r", 0, -1) + 1
        if cut:
            pending.append(text[:cut])
            yield io.StringIO("".join(pending), newline="")
            pending = [text[cut:]]
        elif text:
            pending.append(text)
    pending.append(decoder.decode(b"", final=True))
    rest = "".join(pending)
    if rest:
        yield io.StringIO(rest, newline="")


_DIGITS_ONLY = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))  # every digit 0, all else space
_LONG_NUMBER = b"0" * 19  # 10**18 and up: near or beyond what 64 bits hold


class ListmonkClient:
    """A thread-safe client for one listmonk server and one API user."""

    def __init__(
        self,
        base_url: str,
        username: str,
        token: str,
        *,
        auth_method: AuthMethod = "token",
        verify_tls: bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings: dict[str, Any] = dict(
            base_url=base_url, username=username, token=token, auth_method=auth_method, verify_tls=verify_tls,
            connect_timeout=connect_timeout, read_timeout=read_timeout, retry=retry, pool_size=pool_size, sleep=sleep,
        )
        self._transport = Transport(
            base_url, username, token,
            auth_method=auth_method, verify_tls=verify_tls,
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            retry=retry or RetryPolicy(), pool_size=pool_size, sleep=sleep,
        )
        self._sleep = sleep
        self._server_info: ServerInfo | None = None
        self._server_info_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def stats(self) -> ClientStats:
        return self._transport.stats

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def host(self) -> str:
        return self._transport.host

    @property
    def port(self) -> int:
        return self._transport.port

    def close(self) -> None:
        self._transport.close()

    def fresh_copy(self) -> ListmonkClient:
        """A client with the same settings and connections of its own (e.g. in a forked process, where the pooled
        sockets are shared with the parent)."""
        return ListmonkClient(**self._settings)

    def __enter__(self) -> ListmonkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON body (envelope included) of a successful call."""
        response = self._transport.send(method, path, params=params, json=json, files=files, data=data)
        return self.decode(response, method, path)

    def get_undecoded(self, path: str, params: Mapping[str, Any]) -> requests.Response:
        """A successful GET whose body is read but not decoded yet (`decode` does it): a body of bytes takes a
        fraction of the memory its decoded JSON does, so a page fetched ahead is best kept as one."""
        return self._transport.send("GET", path, params=params)

    @staticmethod
    def decode(response: requests.Response, method: str, path: str) -> Any:
        """The JSON body of a response `get_undecoded` (or any call) returned."""
        content = response.content
        # orjson parses a page of subscribers several times faster, but turns an integer beyond 64 bits (which
        # listmonk's attributes may hold) into a float, silently: a body with a run of 19 digits or more, and
        # one orjson refuses (not UTF-8), goes to the standard parser. The digit check costs about a tenth of
        # the parse.
        if _LONG_NUMBER not in content.translate(_DIGITS_ONLY):
            try:
                return orjson.loads(content)
            except orjson.JSONDecodeError:
                pass
        try:
            return response.json()
        except ValueError as exc:
            # Usually a base URL that points at a web page rather than listmonk.
            raise ListmonkError(
                method=method.upper(), path=path, status=response.status_code,
                message=f"expected JSON from listmonk, got {response.headers.get('Content-Type') or 'no content type'}",
            ) from exc

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` member of listmonk's `{"data": ...}` envelope."""
        return self._data_of(self.request(method, path, **kwargs), method, path)

    @staticmethod
    def _data_of(body: Any, method: str, path: str) -> Any:
        if not isinstance(body, dict) or "data" not in body:
            raise ListmonkError(
                method=method.upper(), path=path, status=200,
                message="response has no 'data' member; is this a listmonk server?",
            )
        return body["data"]

    def iter_pages(self, path: str, params: Mapping[str, Any] | None = None, per_page: int = 1000) -> Iterator[dict]:
        """Every row of a paged listmonk listing, fetching one page at a time."""
        page = 1
        while True:
            data = self._data("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            results = (data or {}).get("results")
            # listmonk answers a page past the end with `results: null`.
            if not results:
                return
            yield from results
            if len(results) < per_page:
                return
            page += 1

    # -- server -----------------------------------------------------------------------------

    def server_info(self) -> ServerInfo:
        """The server's version, fetched once per client."""
        with self._server_info_lock:
            if self._server_info is None:
                self._server_info = self._fetch_server_info()
            return self._server_info

    def _fetch_server_info(self) -> ServerInfo:
        try:
            version = (self._data("GET", "/api/config") or {}).get("version")
        except (EndpointNotFound, PermissionDenied, RequestRejected):
            version = None
        if not version:
            # /api/about is not wrapped in `data`.
            about = self.request("GET", "/api/about")
            version = about.get("version") if isinstance(about, dict) else None
        if not isinstance(version, str) or not version:
            raise ListmonkError(method="GET", path="/api/about", status=200, message="listmonk did not report a version")
        return ServerInfo(version=version)

    def profile(self) -> Profile:
        return Profile.model_validate(self._data("GET", "/api/profile"))

    def health(self) -> bool:
        return self._data("GET", "/api/health") is True

    # -- lists ------------------------------------------------------------------------------

    def all_lists(self) -> list[MailingList]:
        """Every list, in id order, from one request (see `list_rows`)."""
        return [MailingList.model_validate(row) for row in self.list_rows()]

    def list_rows(self, query: str = "") -> list[dict[str, Any]]:
        """Every list (whose name contains `query`), as listmonk returns it, in id order, from one request.

        listmonk cuts a page of lists before it sorts it (`query-lists`), in an order an update or an import
        into a list changes, so paging could skip one list and repeat another. Lists are few: read them at once.
        """
        params = {"per_page": "all", **({"query": query} if query else {})}
        rows = (self._data("GET", "/api/lists", params=params) or {}).get("results") or []
        return sorted(rows, key=lambda row: int(row["id"]))

    def get_list(self, list_id: int) -> MailingList:
        return MailingList.model_validate(self._data("GET", f"/api/lists/{int(list_id)}"))

    def find_lists_by_name(self, name: str) -> list[MailingList]:
        """Every list whose name is exactly `name` (listmonk allows duplicate names)."""
        try:
            matches = [found for found in map(MailingList.model_validate, self.list_rows(name)) if found.name == name]
        except RequestRejected:
            # Older listmonk searches names with to_tsquery, which rejects some punctuation.
            matches = []
        if matches:
            return matches
        # Full-text search can also miss exact names (stop words); a full scan settles it.
        return [found for found in self.all_lists() if found.name == name]

    def create_list(
        self,
        name: str,
        *,
        type: str = "private",
        optin: str = "single",
        tags: Sequence[str] = (),
        description: str = "",
    ) -> MailingList:
        body = {"name": name, "type": type, "optin": optin, "tags": list(tags), "description": description}
        return MailingList.model_validate(self._data("POST", "/api/lists", json=body))

    # -- subscribers ------------------------------------------------------------------------

    def get_subscriber(self, subscriber_id: int) -> Subscriber:
        return Subscriber.model_validate(self._data("GET", f"/api/subscribers/{int(subscriber_id)}"))

    def iter_subscribers(
        self,
        *,
        query: SqlExpr | None = None,
        list_ids: Sequence[int] = (),
        subscription_status: str | None = None,
        order_by: str = "id",
        order: str = "asc",
        per_page: int = 1000,
    ) -> Iterator[Subscriber]:
        """Subscribers matching every filter given, each once."""
        params: dict[str, Any] = {"order_by": order_by, "order": order}
        if query is not None:
            params["query"] = query.wrapped()
        if list_ids:
            params["list_id"] = [int(list_id) for list_id in list_ids]
        if subscription_status:
            params["subscription_status"] = subscription_status
        # listmonk repeats a subscriber once per requested list it belongs to.
        seen: set[int] = set()
        for row in self.iter_pages("/api/subscribers", params, per_page=per_page):
            subscriber = Subscriber.model_validate(row)
            if subscriber.id not in seen:
                seen.add(subscriber.id)
                yield subscriber

    def count_subscribers(self) -> int:
        """How many subscribers listmonk holds (the `total` of a one-row page)."""
        data = self._data("GET", "/api/subscribers", params={"page": 1, "per_page": 1})
        return int((data or {}).get("total") or 0)

    def find_subscribers(self, query: SqlExpr) -> list[SubscriberState]:
        """All subscribers matching `query` in one call; meant for batches of up to a few thousand keys."""
        path = "/api/subscribers"
        params = urlencode(
            {"query": query.wrapped(), "per_page": "all", "order_by": "id", "order": "asc"}, safe=_QUERY_SAFE
        )
        response = self._transport.send("GET", path, params=params)
        try:
            envelope = FoundSubscribersEnvelope.model_validate_json(response.content)
        except ValidationError as exc:
            # Say what is wrong as the other calls do (not JSON, no envelope) before naming a bad field.
            self._data_of(self.decode(response, "GET", path), "GET", path)
            raise ListmonkError(
                method="GET", path=path, status=response.status_code,
                message=f"unexpected subscriber data from listmonk: {exc.errors()[0].get('msg', exc)}",
            ) from None
        found: dict[int, SubscriberState] = {}
        for subscriber in envelope.data.results:
            found.setdefault(subscriber.id, subscriber)
        return list(found.values())

    def create_subscriber(
        self,
        *,
        email: str,
        name: str = "",
        status: str = "enabled",
        lists: Sequence[int] = (),
        attribs: Mapping[str, Any] | None = None,
        preconfirm: bool = False,
    ) -> Subscriber:
        body = {
            "email": email,
            "name": name,
            "status": status,
            "lists": [int(list_id) for list_id in lists],
            "attribs": dict(attribs or {}),
            "preconfirm_subscriptions": preconfirm,
        }
        return Subscriber.model_validate(self._data("POST", "/api/subscribers", json=body))

    def patch_subscriber(self, subscriber_id: int, fields: Mapping[str, Any]) -> Subscriber:
        """Change only `fields` (listmonk >= 6.1; older servers raise EndpointNotFound)."""
        data = self._data("PATCH", f"/api/subscribers/{int(subscriber_id)}", json=dict(fields))
        return Subscriber.model_validate(data)

    def put_subscriber(self, subscriber_id: int, body: Mapping[str, Any]) -> Subscriber:
        """Replace the whole record: omitted lists and attribs are deleted by listmonk."""
        data = self._data("PUT", f"/api/subscribers/{int(subscriber_id)}", json=dict(body))
        return Subscriber.model_validate(data)

    def delete_subscribers(self, ids: Sequence[int]) -> None:
        id_list = [int(subscriber_id) for subscriber_id in ids]
        for start in range(0, len(id_list), _DELETE_CHUNK):
            self._data("DELETE", "/api/subscribers", params={"id": id_list[start : start + _DELETE_CHUNK]})

    def blocklist_subscribers(self, ids: Sequence[int]) -> None:
        """Blocklist and unsubscribe from every list; no call for an empty `ids` (listmonk would 400)."""
        if ids:
            self._data("PUT", "/api/subscribers/blocklist", json={"ids": [int(i) for i in ids]})

    def change_subscriptions(
        self,
        ids: Sequence[int],
        action: SubscriptionAction,
        list_ids: Sequence[int],
        status: str | None = None,
    ) -> None:
        """Add, remove or unsubscribe `ids` on `list_ids`; no call when either is empty (listmonk would 400)."""
        if not ids or not list_ids:
            return
        body: dict[str, Any] = {
            "ids": [int(i) for i in ids],
            "action": action,
            "target_list_ids": [int(list_id) for list_id in list_ids],
        }
        if status is not None:
            body["status"] = status
        self._data("PUT", "/api/subscribers/lists", json=body)

    def export_subscribers(
        self, columns: Sequence[str] = EXPORT_COLUMNS
    ) -> Generator[tuple[str | None, ...], None, None]:
        """Rows of listmonk's CSV export, streamed, as tuples of `columns` in that order. Values stay strings
        (`attributes` is JSON text); a short row has None for the columns it lacks."""
        path = "/api/subscribers/export"
        response = self._transport.send("GET", path, stream=True)
        if csv.field_size_limit() < _EXPORT_FIELD_LIMIT:
            csv.field_size_limit(_EXPORT_FIELD_LIMIT)  # process-wide; only ever raised
        try:
            rows = csv.reader(itertools.chain.from_iterable(_export_line_blocks(response)))
            header = next(rows, None)
            if header is None:
                return  # listmonk sends nothing at all, not even the header, when it holds no one to export
            missing = [name for name in columns if name not in header]
            if missing:
                raise ListmonkError(
                    method="GET", path=path, status=None,
                    message=f"the export has no {', '.join(missing)} column (its header: {', '.join(header)})",
                )
            indexes = [header.index(name) for name in columns]
            width = max(indexes) + 1
            # itemgetter of one index returns the bare value, not a tuple.
            pick = operator.itemgetter(*indexes) if len(indexes) > 1 else (lambda row: (row[indexes[0]],))
            for row in rows:
                if len(row) >= width:
                    yield pick(row)
                elif row:  # csv.reader gives [] for a blank line
                    yield tuple(row[i] if i < len(row) else None for i in indexes)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise ConnectionFailed(
                method="GET", path=path, status=None, message=f"export stream broke off ({type(exc).__name__})"
            ) from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ListmonkError(
                method="GET", path=path, status=response.status_code, message=f"the export is not readable CSV: {exc}"
            ) from exc
        finally:
            response.close()

    # -- import -----------------------------------------------------------------------------

    def start_import(
        self, params: Mapping[str, Any], csv_text: str, file_name: str = "subscribers.csv"
    ) -> ImportStatus:
        """Start an asynchronous CSV import; poll with `wait_for_import`."""
        # Bytes rather than a file object, so a retried POST sends the whole file again.
        files = {"file": (file_name, csv_text.encode("utf-8"), "text/csv")}
        data = self._data("POST", IMPORT_PATH, data={"params": jsonlib.dumps(dict(params))}, files=files)
        return ImportStatus.model_validate(data)

    def import_status(self) -> ImportStatus:
        return ImportStatus.model_validate(self._data("GET", IMPORT_PATH))

    def import_logs(self) -> str:
        logs = self._data("GET", f"{IMPORT_PATH}/logs")
        return logs if isinstance(logs, str) else ""

    def clear_import(self) -> None:
        self._data("DELETE", IMPORT_PATH)

    def wait_for_import(
        self, *, poll_interval: float = 0.02, max_poll_interval: float = 0.1, timeout: float = 3600,
        expected_seconds: float = 0.0,
    ) -> ImportStatus:
        """Poll until the import is no longer running; raises ImportTimedOut after `timeout` seconds.
        Polls stay fast for the first FAST_POLL_SECONDS (small imports finish in tenths of a second, and a sync
        that ends on one waits for the poll that sees it end), then back off to `max_poll_interval`. Given
        `expected_seconds` (how long the caller expects the import still to run), the first poll comes a little
        before that and polls stay fast until a while after: listmonk is idle from an import's end until the next
        starts, so a late poll costs the caller that time. The fast window is counted in time slept rather than by
        the clock, so that slow answers do not shorten it."""
        deadline = time.monotonic() + timeout
        slept = 0.0
        if expected_seconds > 0:
            slept = expected_seconds * 0.8
            self._sleep(slept)
        fast_for = max(expected_seconds * 1.5, FAST_POLL_SECONDS)
        while True:
            status = self.import_status()
            if not status.running:
                return status
            if time.monotonic() >= deadline:
                raise ImportTimedOut(
                    method="GET", path=IMPORT_PATH, status=None,
                    message=f"import {status.name!r} still {status.status} after {timeout:g}s "
                    f"({status.imported} of {status.total} rows)",
                )
            self._sleep(poll_interval)
            slept += poll_interval
            if slept >= fast_for:
                poll_interval = min(poll_interval * 2, max_poll_interval)

    # -- pass-through streams ---------------------------------------------------------------

    def iter_campaigns(self, per_page: int = 100) -> Iterator[Campaign]:
        for row in self.iter_pages("/api/campaigns", {"order_by": "created_at", "order": "asc"}, per_page=per_page):
            yield Campaign.model_validate(row)

    def iter_bounces(self, per_page: int = 100) -> Iterator[Bounce]:
        for row in self.iter_pages("/api/bounces", {"order_by": "created_at", "order": "asc"}, per_page=per_page):
            yield Bounce.model_validate(row)
