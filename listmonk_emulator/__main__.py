"""`listmonk-emulator`: start PostgreSQL and the listmonk-compatible server, run until signalled."""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Optional

from listmonk_emulator.app import EmulatorApp
from listmonk_emulator.db import Database
from listmonk_emulator.server import make_server
from listmonk_emulator.state import SUPPORTED_VERSIONS, EmulatorState, parse_version

API_USER = "apiuser"


def _args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="listmonk-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--version", default="v6.2.0", help=f"listmonk version to answer as, e.g. {SUPPORTED_VERSIONS}")
    parser.add_argument("--data-dir", type=Path, default=None, help="PostgreSQL data parent dir (deleted on exit)")
    parser.add_argument("--token", default=None, help="API token of 'apiuser' (random by default)")
    parser.add_argument("--json", action="store_true", help="print one JSON line with url/api_user/token")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = _args(argv)
    parse_version(args.version)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    token = args.token or secrets.token_hex(16)
    # Handlers go in before PostgreSQL starts, so a signal during startup still cleans up.
    stop = threading.Event()

    def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    db = Database(args.data_dir)
    try:
        state = EmulatorState(db, token, args.version)
        state.reset()
        server = make_server(args.host, args.port, EmulatorApp(state))
        url = f"http://{args.host}:{server.server_port}"
        info = {"url": url, "api_user": API_USER, "token": token, "dsn": db.dsn,
                "version": args.version, "pid": os.getpid()}
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(f"listmonk emulator ({args.version}) at {url}\nAPI user: {API_USER}\nToken: {token}\n"
                  f"PostgreSQL: {db.dsn}", flush=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        stop.wait()
        server.shutdown()
        server.server_close()
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
