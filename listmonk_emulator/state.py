"""The emulator's shared, mutable state: database, answering version, importer, faults, stats."""
from __future__ import annotations

import re
import threading
from typing import Callable

from listmonk_emulator.auth import ApiUsers
from listmonk_emulator.db import Database
from listmonk_emulator.faults import Faults
from listmonk_emulator.importer import Importer
from listmonk_emulator.stats import Stats

SUPPORTED_VERSIONS = ("v6.2.0", "v5.1.0")
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"version must look like v6.2.0, got {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


class EmulatorState:
    def __init__(self, db: Database, api_token: str, version: str) -> None:
        self.db = db
        self.api_token = api_token
        self.api_users = ApiUsers(db.pool)
        self.faults = Faults()
        self.importer = Importer(db.pool, self.faults.import_delay_seconds)
        self.stats = Stats()
        # Set by the HTTP server: restart(down_seconds), as EmulatorHTTPServer.restart.
        self.restart: Callable[[float], None] = lambda down_seconds: None
        self._lock = threading.Lock()
        self._version = version
        self.set_version(version)

    @property
    def version(self) -> str:
        return self._version

    def set_version(self, version: str) -> None:
        parse_version(version)
        with self._lock:
            self._version = version

    def version_at_least(self, major: int, minor: int) -> bool:
        return parse_version(self._version)[:2] >= (major, minor)

    def reset(self) -> None:
        """Back to a fresh install: data, ids, import state (faults and stats are separate)."""
        if self.importer.running():
            self.importer.stop_or_clear()
        self.importer.clear()
        self.db.install(self.api_token)
        self.api_users.reload()
