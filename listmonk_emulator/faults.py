"""Fault injection for /api calls, switched on per test run through /__emulator/faults.

Spec keys (all optional): `latency_ms`; `status` + `count` (+ `retry_after` seconds) to answer the
next N matching calls with that status; `resets` to drop the next N matching connections without
a response (TCP RST); `fail_after_writes` + `fail_status` so that non-GET call N+1 onward fails;
`import_delay_ms` holds every CSV import that long before it writes (a slow import on a busy server);
`restart_after` + `restart_down_ms`: after N matching calls, the next one restarts the server (see
EmulatorHTTPServer.restart): its connection drops unanswered, and connections are refused for that long.
`method` and `path_prefix` narrow which calls `status`, `resets` and `restart_after` apply to.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "status": None,
    "count": 0,
    "retry_after": None,
    "method": None,
    "path_prefix": None,
    "resets": 0,
    "fail_after_writes": None,
    "fail_status": 500,
    "import_delay_ms": 0,
    "restart_after": None,
    "restart_down_ms": 2000,
}


@dataclass(frozen=True)
class InjectedStatus:
    status: int
    retry_after: Optional[int]


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: dict[str, Any] = dict(_DEFAULTS)
        self._writes = 0

    def set(self, spec: dict[str, Any]) -> dict[str, Any]:
        unknown = set(spec) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        with self._lock:
            self._spec = {**_DEFAULTS, **spec}
            self._writes = 0
            return dict(self._spec)

    def clear(self) -> None:
        self.set({})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._spec, "writes_seen": self._writes}

    def latency_seconds(self) -> float:
        with self._lock:
            return float(self._spec["latency_ms"] or 0) / 1000.0

    def import_delay_seconds(self) -> float:
        with self._lock:
            return float(self._spec["import_delay_ms"] or 0) / 1000.0

    def _matches(self, method: str, path: str) -> bool:
        wanted = self._spec["method"]
        prefix = self._spec["path_prefix"]
        return (not wanted or wanted.upper() == method) and (not prefix or path.startswith(prefix))

    def take_reset(self, method: str, path: str) -> bool:
        with self._lock:
            if self._spec["resets"] > 0 and self._matches(method, path):
                self._spec["resets"] -= 1
                return True
            return False

    def take_restart(self, method: str, path: str) -> Optional[float]:
        """Seconds to stay down when this call is the one that restarts the server, else None."""
        with self._lock:
            if self._spec["restart_after"] is None or not self._matches(method, path):
                return None
            if self._spec["restart_after"] > 0:
                self._spec["restart_after"] -= 1
                return None
            self._spec["restart_after"] = None
            return float(self._spec["restart_down_ms"]) / 1000.0

    def take_status(self, method: str, path: str) -> Optional[InjectedStatus]:
        """A queued error status, else the fail-after-N-writes status, else None."""
        with self._lock:
            if self._spec["status"] and self._spec["count"] > 0 and self._matches(method, path):
                self._spec["count"] -= 1
                return InjectedStatus(int(self._spec["status"]), self._spec["retry_after"])
            if method != "GET" and self._spec["fail_after_writes"] is not None:
                self._writes += 1
                if self._writes > int(self._spec["fail_after_writes"]):
                    return InjectedStatus(int(self._spec["fail_status"]), self._spec["retry_after"])
            return None
