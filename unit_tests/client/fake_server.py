"""A scriptable HTTP server on loopback that plays listmonk for the client's tests.

Replies are queued per (METHOD, path); the last reply of a queue repeats, so one
scripted 503 means "always 503". Every request received is recorded.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

UNKNOWN_ENDPOINT = {"message": "404 unknown endpoint"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    body: bytes | None = None  # sent as it is (e.g. gzipped), instead of text or json
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False  # drop the connection with a TCP RST instead of answering
    cut_after: int | None = None  # announce the whole body, send this many bytes of it, then drop the connection


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Reply | Callable[[Received], Reply]


def data(payload: Any) -> Reply:
    """A listmonk success: `{"data": payload}`."""
    return Reply(json={"data": payload})


def error(status: int, message: str, **headers: str) -> Reply:
    """A listmonk failure: `{"message": ...}`."""
    return Reply(status=status, json={"message": message}, headers=headers)


def page(results: list[dict] | None, total: int = 0, page_no: int = 1, per_page: int = 20) -> Reply:
    return data({"results": results, "search": "", "query": "", "total": total, "per_page": per_page, "page": page_no})


class FakeListmonk:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._routes: dict[tuple[str, str], deque[Responder]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> FakeListmonk:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, method: str, path: str, *replies: Responder) -> None:
        with self._lock:
            self._routes[(method.upper(), path)].extend(replies)

    def requests_to(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method.upper() and r.path == path]

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            queue = self._routes.get((received.method, received.path))
            if not queue:
                return Reply(status=404, json=UNKNOWN_ENDPOINT)
            responder = queue.popleft() if len(queue) > 1 else queue[0]
        return responder(received) if callable(responder) else responder


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Deliberate resets and client timeouts break sockets; that is the point, not a failure.
        pass


def _handler_for(fake: FakeListmonk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            received = Received(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            reply = fake._next_reply(received)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if reply.body is not None:
                payload, content_type = reply.body, "text/csv"
            elif reply.text is not None:
                payload, content_type = reply.text.encode(), "text/plain; charset=utf-8"
            else:
                payload, content_type = json.dumps(reply.json).encode(), "application/json; charset=utf-8"
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if reply.cut_after is not None:
                self.wfile.write(payload[: reply.cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
