"""Threaded HTTP/1.1 server for the app, able to drop a connection with a TCP reset on demand."""
from __future__ import annotations

import socket
import struct
from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from listmonk_emulator.app import EmulatorApp


class _Handler(WSGIRequestHandler):
    server: "EmulatorHTTPServer"

    def run_wsgi(self) -> None:
        path = self.path.split("?", 1)[0]
        app = self.server.emulator_app
        if path.startswith("/api/") and app.state.faults.take_reset(self.command, path):
            app.state.stats.count(self.command, app.route_pattern(self.command, path))
            self._reset_connection()
            return
        super().run_wsgi()

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
