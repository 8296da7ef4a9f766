"""Where a sync's wall time goes: seconds the sync's thread spent waiting on each kind of listmonk call, and on
planning, added up per batch or per call (never per record, so the record path pays nothing for it).

A span counts only its own time: one opened inside another (a lookup while planning) is taken out of the outer
one, so the phases add up to at most the wall time, and what is left is reading and mapping the input (and
emitting the output). How long STATEs were held for a running import overlaps everything else and is
reported beside the phases, not among them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Reported in this order; every phase appears, zero or not, so runs compare column by column.
PHASES = (
    "plan",           # the protection rules and the batch's bookkeeping, lookups excluded
    "lookup",         # waiting on lookup calls
    "export_wait",    # waiting for the background export to be in
    "import_upload",  # sending import files (including waiting for someone else's import to end)
    "import_wait",    # waiting for a started import to finish, and reading its log
    "profile_calls",  # PATCH / PUT of single profiles
    "other_writes",   # single POSTs, subscription, blocklist and delete calls
)


class Timings:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self._seconds = dict.fromkeys(PHASES, 0.0)
        self._counts = dict.fromkeys(PHASES, 0)
        self._lock = threading.Lock()
        self._open = threading.local()  # per thread: seconds taken by inner spans, one entry per open span
        self._states_held = 0
        self._state_hold_seconds = 0.0
        self._state_hold_max = 0.0

    @contextmanager
    def span(self, phase: str, count: int = 1) -> Iterator[None]:
        inner: list[float] = self._open.__dict__.setdefault("inner", [])
        inner.append(0.0)
        started = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - started
            self.add(phase, elapsed - inner.pop(), count)
            if inner:
                inner[-1] += elapsed

    def add(self, phase: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._seconds[phase] += seconds
            self._counts[phase] += count

    def state_released(self, held_since: float) -> None:
        held = time.monotonic() - held_since
        self._states_held += 1
        self._state_hold_seconds += held
        self._state_hold_max = max(self._state_hold_max, held)

    def report(self) -> dict[str, object]:
        """The `timings` event: seconds per phase, calls per phase, and the rest of the wall time."""
        wall = time.monotonic() - self._started
        spent = sum(self._seconds.values())
        return {
            "wall_seconds": round(wall, 3),
            "seconds": {phase: round(s, 3) for phase, s in self._seconds.items()},
            "calls": dict(self._counts),
            "read_and_map_seconds": round(max(0.0, wall - spent), 3),
            "states_held": self._states_held,
            "state_hold_seconds": round(self._state_hold_seconds, 3),
            "state_hold_max_seconds": round(self._state_hold_max, 3),
        }
