"""Counts of /api requests, so tests and benchmarks can assert how many calls a connector made."""
from __future__ import annotations

import threading
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._writes = 0
        self._by_route: dict[str, int] = {}

    def count(self, method: str, route: str) -> None:
        with self._lock:
            self._total += 1
            if method != "GET":
                self._writes += 1
            key = f"{method} {route}"
            self._by_route[key] = self._by_route.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self._total, "writes": self._writes, "by_route": dict(self._by_route)}

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._writes = 0
            self._by_route = {}
