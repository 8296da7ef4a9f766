"""Threaded HTTP/1.1 server for the app with keep-alive connections, able to drop a connection with a TCP
reset on demand."""
from __future__ import annotations

import io
import socket
import struct
import threading
import time
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
        if path.startswith("/api/"):
            down = app.state.faults.take_restart(self.command, path)
            if down is not None or app.state.faults.take_reset(self.command, path):
                app.state.stats.count(self.command, app.route_pattern(self.command, path))
                if down is not None:
                    self.server.restart(down)  # a process killed mid-request answers nothing
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
        app.state.restart = self.restart
        self._connections: dict[int, socket.socket] = {}  # by the id of the thread serving each
        self._lock = threading.Lock()
        self._down = False

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections[threading.get_ident()] = request
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.pop(threading.get_ident(), None)

    def restart(self, down_seconds: float) -> None:
        """What a listmonk restart looks like from outside, while PostgreSQL keeps the data: from the return of
        this call, connections are refused for `down_seconds`; every open connection but the caller's is reset;
        the running import dies (its uncommitted rows with it) and its status is forgotten. Then it serves again
        on the same port."""
        with self._lock:
            if self._down:
                return
            self._down = True
        self.shutdown()  # stops accepting; waits for the accept loop (at most its half-second poll)
        self.socket.close()
        with self._lock:
            others = [conn for ident, conn in self._connections.items() if ident != threading.get_ident()]
        for conn in others:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.emulator_app.state.importer.abandon()
        threading.Thread(target=self._come_back, args=(down_seconds,), daemon=True).start()

    def _come_back(self, down_seconds: float) -> None:
        time.sleep(down_seconds)
        self.socket = socket.socket(self.address_family, self.socket_type)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.socket.listen(self.request_queue_size)
        with self._lock:
            self._down = False
        self.serve_forever()


def make_server(host: str, port: int, app: EmulatorApp) -> BaseWSGIServer:
    return EmulatorHTTPServer(host, port, app)
