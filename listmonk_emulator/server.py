"""Threaded HTTP/1.1 server for the app with keep-alive connections, able to drop a connection with a TCP
reset on demand."""
from __future__ import annotations

import io
import socket
import struct
from typing import Any, Optional

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from listmonk_emulator.app import EmulatorApp


class _Handler(WSGIRequestHandler):
    server: "EmulatorHTTPServer"
    # An idle keep-alive connection is dropped after this long; clients reconnect transparently.
    timeout = 120
    # Go sets TCP_NODELAY on every connection; without it a kept-alive connection waits on delayed ACKs.
    disable_nagle_algorithm = True
    # True while werkzeug answers a request whose body was read in full: its `Connection: close` is dropped.
    _keep_alive = False

    def run_wsgi(self) -> None:
        path = self.path.split("?", 1)[0]
        app = self.server.emulator_app
        if path.startswith("/api/") and app.state.faults.take_reset(self.command, path):
            app.state.stats.count(self.command, app.route_pattern(self.command, path))
            self._reset_connection()
            return
        # listmonk (Go's net/http) keeps connections alive, werkzeug closes every one. Keeping them open is
        # safe once the body is read in full up front: a route that leaves it unread cannot desync the next
        # request on the connection. Chunked request bodies, and clients that ask to close, keep werkzeug's
        # close-after-response.
        if self.close_connection or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            super().run_wsgi()
            return
        body = self._read_body()
        if body is None:
            return
        socket_file = self.rfile
        self.rfile, self._keep_alive = io.BytesIO(body), True
        try:
            super().run_wsgi()
        finally:
            self.rfile, self._keep_alive = socket_file, False

    def _read_body(self) -> Optional[bytes]:
        """The whole request body; None once a Content-Length that Go would refuse is answered with 400."""
        length = (self.headers.get("Content-Length") or "0").strip()
        if not (length.isascii() and length.isdigit()):
            self.send_error(400, "Bad Content-Length")
            return None
        return self.rfile.read(int(length))

    def send_header(self, keyword: str, value: str) -> None:
        # Only werkzeug's blanket `Connection: close` is dropped; errors answered outside run_wsgi still close.
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def _reset_connection(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN; every file object
        # on the socket must be closed too, or the descriptor stays open.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        for stream in (self.rfile, self.wfile):
            try:
                stream.close()
            except OSError:
                pass
        self.connection.close()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Quiet: one line per request would swamp benchmark output."""


class EmulatorHTTPServer(ThreadedWSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: EmulatorApp) -> None:
        super().__init__(host, port, app, handler=_Handler)
        self.emulator_app = app


def make_server(host: str, port: int, app: EmulatorApp) -> BaseWSGIServer:
    return EmulatorHTTPServer(host, port, app)
