"""The audit trail: refused changes, rejected records and the run summary, as structured Airbyte log
messages and, optionally, a JSON Lines file."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Optional

from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, Level, Type

from destination_listmonk.operations import Plan, SkippedChange

PROGRESS_EVERY_SECONDS = 30.0

# Which summary counter each plan outcome adds to.
_OUTCOME_COUNTERS = {
    "create": "created",
    "update": "updated",
    "unchanged": "unchanged",
    "skipped": "not_applicable",
    "deleted": "deleted",
    "ignored": "deletions_ignored",
}


@dataclass
class Summary:
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_protected: int = 0
    skipped_changes: int = 0
    not_applicable: int = 0
    rejected: int = 0
    deleted: int = 0
    deletions_ignored: int = 0
    duplicates: int = 0

    def counts(self) -> dict[str, int]:
        """Every counter, and `skipped`: records the strategy leaves alone (not applicable, deletions ignored), so
        that records = created + updated + unchanged + deleted + rejected + duplicates + skipped."""
        return {**asdict(self), "skipped": self.not_applicable + self.deletions_ignored}


@dataclass
class Audit:
    file_path: Optional[str] = None
    dry_run: bool = False
    summary: Summary = field(default_factory=Summary)
    _pending: list[AirbyteMessage] = field(default_factory=list)
    _file: Optional[IO[str]] = None
    _started: float = field(default_factory=time.monotonic)
    _last_progress: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.file_path:
            Path(self.file_path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.file_path, "a", encoding="utf-8")

    def _emit(self, event: dict[str, Any], level: Level = Level.INFO) -> None:
        line = json.dumps(event, default=str, sort_keys=True)
        self._pending.append(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=line)))
        if self._file:
            self._file.write(line + "\n")

    def skipped(self, change: SkippedChange) -> None:
        self._emit({"audit": "skipped_change", **asdict(change)})

    def rejected(self, position: int, reason: str, key: Optional[str] = None, hint: Optional[dict[str, Any]] = None) -> None:
        self.summary.rejected += 1
        self._emit({"audit": "rejected_record", "record": position, "key": key, "reason": reason, **(hint or {})}, Level.WARN)

    def duplicate(self, key: str, superseded: int, kept: int) -> None:
        self.summary.duplicates += 1
        self._emit({"audit": "duplicate_key", "key": key, "superseded_record": superseded, "kept_record": kept})

    def planned(self, plan: Plan) -> None:
        """Counts a plan's outcome and records its refused changes; a dry run also lists what it would write."""
        self._count(plan, +1)
        if plan.skipped:
            self.summary.skipped_protected += 1
            self.summary.skipped_changes += len(plan.skipped)
            for change in plan.skipped:
                self.skipped(change)
        if self.dry_run and plan.ops:
            self._emit({"audit": "dry_run_planned", "key": plan.key, "outcome": plan.outcome,
                        "operations": [type(op).__name__ + json.dumps(asdict(op), default=str) for op in plan.ops]})

    def unchanged_by_snapshot(self) -> None:
        self.summary.unchanged += 1

    def unplanned(self, plan: Plan) -> None:
        """Undoes the outcome count of a plan whose writes listmonk refused (the record is rejected instead)."""
        self._count(plan, -1)

    def rechecked(self, planned: Plan, rechecked: Plan) -> None:
        """A plan planned again right before it was sent: its new outcome counts instead, and the changes refused
        only now are recorded."""
        self._count(planned, -1)
        self._count(rechecked, +1)
        refused = [change for change in rechecked.skipped if change not in planned.skipped]
        if refused and not planned.skipped:
            self.summary.skipped_protected += 1
        self.summary.skipped_changes += len(refused)
        for change in refused:
            self.skipped(change)

    def landed(self, written: Plan, replanned: Plan) -> None:
        """A write listmonk lost track of (an import it forgot by restarting) had landed after all: planned again
        it needs nothing, and it counts as the write it was."""
        self._count(replanned, -1)
        self._count(written, +1)

    def _count(self, plan: Plan, delta: int) -> None:
        attribute = _OUTCOME_COUNTERS[plan.outcome]
        setattr(self.summary, attribute, getattr(self.summary, attribute) + delta)

    def info(self, message: str, **fields: Any) -> None:
        self._emit({"event": message, **fields})

    def warning(self, message: str, **fields: Any) -> None:
        self._emit({"event": message, **fields}, Level.WARN)

    def progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY_SECONDS:
            return
        self._last_progress = now
        elapsed = max(now - self._started, 1e-9)
        self._emit({"event": "progress", "records": self.summary.records,
                    "records_per_second": round(self.summary.records / elapsed, 1), **self.summary.counts()})

    def finish(self) -> None:
        elapsed = time.monotonic() - self._started
        self._emit({"event": "summary", "dry_run": self.dry_run, "seconds": round(elapsed, 3), **self.summary.counts()})
        if self._file:
            self._file.close()
            self._file = None

    def drain(self) -> Iterator[AirbyteMessage]:
        pending, self._pending = self._pending, []
        yield from pending
