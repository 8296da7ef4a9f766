"""Fault injection for /api calls, switched on per test run through /__emulator/faults.

Spec keys (all optional): `latency_ms`; `status` + `count` (+ `retry_after` seconds) to answer the
next N matching calls with that status; `resets` to drop the next N matching connections without
a response (TCP RST); `fail_after_writes` + `fail_status` so that non-GET call N+1 onward fails;
`import_delay_ms` holds every CSV import that long before it writes (a slow import on a busy server);
`restart_after` + `restart_down_ms`: after N matching calls, the next one restarts the server (see
EmulatorHTTPServer.restart): its connection drops unanswered, and connections are refused for that long.
After a matching call has been carried out, before it is answered: `slow_ms` + `slow_count` delay the answer
of the next N (the work is done, the client may time out); `hold_after` withholds the answer of every call
after the first N until the faults are set or cleared again (at most `hold_seconds`), so a test can kill a
client at a known point; `consent_change` (`{"after": N, "action": "blocklist"|"unsubscribe", "emails": [...],
"list_ids": [...]}`) makes that change in the database once, right after call N, as if someone changed it
between a client's read and its write.
`method` and `path_prefix` narrow which calls `status`, `resets`, `restart_after` and the answer faults apply to.
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
    "slow_ms": 0,
    "slow_count": 0,
    "hold_after": None,
    "hold_seconds": 60,
    "consent_change": None,
}
_CONSENT_ACTIONS = ("blocklist", "unsubscribe")


@dataclass(frozen=True)
class InjectedStatus:
    status: int
    retry_after: Optional[int]


@dataclass(frozen=True)
class ConsentChange:
    action: str  # blocklist | unsubscribe
    emails: tuple[str, ...]
    list_ids: tuple[int, ...]


@dataclass(frozen=True)
class AnswerFaults:
    """What happens to a call that has been carried out, before its answer goes out."""

    consent_change: Optional[ConsentChange]
    delay_seconds: float
    hold_seconds: Optional[float]


def _consent_change(spec: Any) -> Optional[ConsentChange]:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("action") not in _CONSENT_ACTIONS:
        raise ValueError(f"consent_change needs an action out of {list(_CONSENT_ACTIONS)}")
    return ConsentChange(str(spec["action"]), tuple(str(e).lower() for e in spec.get("emails") or ()),
                         tuple(int(i) for i in spec.get("list_ids") or ()))


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: dict[str, Any] = dict(_DEFAULTS)
        self._writes = 0
        self._answered = 0  # matching calls carried out since the faults were set
        self._held = 0
        self._release = threading.Event()

    def set(self, spec: dict[str, Any]) -> dict[str, Any]:
        unknown = set(spec) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        _consent_change(spec.get("consent_change"))
        with self._lock:
            self._spec = {**_DEFAULTS, **spec}
            self._writes = 0
            self._answered = 0
            # Answers held under the previous faults go out now.
            self._release.set()
            self._release = threading.Event()
            return dict(self._spec)

    def clear(self) -> None:
        self.set({})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._spec, "writes_seen": self._writes, "answered": self._answered, "held": self._held}

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

    def on_answer(self, method: str, path: str) -> AnswerFaults:
        """The faults for the answer of a matching call just carried out (counted here)."""
        with self._lock:
            if not self._matches(method, path):
                return AnswerFaults(None, 0.0, None)
            self._answered += 1
            change = self._spec["consent_change"]
            consent = _consent_change(change) if change and int(change.get("after", 1)) == self._answered else None
            delay = 0.0
            if self._spec["slow_count"] > 0 and self._spec["slow_ms"]:
                self._spec["slow_count"] -= 1
                delay = float(self._spec["slow_ms"]) / 1000.0
            hold_after = self._spec["hold_after"]
            hold = float(self._spec["hold_seconds"]) if hold_after is not None and self._answered > int(hold_after) else None
            return AnswerFaults(consent, delay, hold)

    def hold(self, seconds: float) -> None:
        """Withholds an answer until the faults change, or `seconds` at most."""
        with self._lock:
            release = self._release
            self._held += 1
        try:
            release.wait(seconds)
        finally:
            with self._lock:
                self._held -= 1
