"""The export read in a forked child gives the sync what a thread would: the same judgements, the same reasons
when it fails, and nothing left running once the sync no longer needs it."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterable
from typing import Any

import pytest

from destination_listmonk.export_process import ProcessSnapshotLoader, start_export
from destination_listmonk.mapping import Desired
from destination_listmonk.snapshot import ExportFailed, LoadCancelled, SnapshotLoader, Verdict
from listmonk_client.errors import ConnectionFailed

Row = tuple[str, str, str, str]


class FakeExport:
    """A client whose export gives `rows`, then raises `error` if there is one."""

    def __init__(self, rows: Iterable[Row], error: BaseException | None = None) -> None:
        self._rows, self._error = list(rows), error

    def fresh_copy(self) -> FakeExport:
        return self

    def close(self) -> None:
        pass

    def export_subscribers(self, columns: Any) -> Generator[Row, None, None]:
        yield from self._rows
        if self._error is not None:
            raise self._error


class EndlessExport(FakeExport):
    def __init__(self) -> None:
        super().__init__([])

    def export_subscribers(self, columns: Any) -> Generator[Row, None, None]:
        i = 0
        while True:
            yield f"p{i}@example.com", "P", "{}", "enabled"
            i += 1


class DyingExport(FakeExport):
    """The process reading the export is killed from outside (e.g. out of memory)."""

    def export_subscribers(self, columns: Any) -> Generator[Row, None, None]:
        yield "ann@example.com", "Ann", "{}", "enabled"
        os.kill(os.getpid(), signal.SIGKILL)


class ChattyExport(FakeExport):
    """Logs and prints while it exports, as a retried export call logs its retry."""

    def export_subscribers(self, columns: Any) -> Generator[Row, None, None]:
        logging.getLogger("listmonk_client").warning("GET /api/subscribers/export failed (502); retrying")
        print("printed by the export")
        yield from self._rows


def rows(count: int) -> list[Row]:
    made = [(f"s{i}@example.com", f"S {i}", json.dumps({"plan": "pro", "n": i}), "enabled") for i in range(count)]
    made.append(("s7@example.com", "Twice", "{}", "enabled"))  # one email twice: ambiguous, looked up
    made.append(("broken@example.com", "B", "{not json", "enabled"))
    return made


def wanted(i: int, **fields: Any) -> Desired:
    email = f"s{i}@example.com"
    return Desired(**{"position": i, "key": email, "email": email, "name": f"S {i}", "attribs": {"plan": "pro", "n": i},
                      **fields})


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_child_s_snapshot_judges_every_record_as_the_thread_s_does() -> None:
    held = rows(3000)
    by_thread = SnapshotLoader(FakeExport(held), True, False).result()  # type: ignore[arg-type]
    loader = ProcessSnapshotLoader(FakeExport(held), True, False, expected=100)  # type: ignore[arg-type]
    by_child = loader.result()

    asked = [wanted(i) for i in range(0, 3000, 7)] + [wanted(5, name="Other"), wanted(5, attribs={"plan": "free"}),
                                                      wanted(7), wanted(4000), Desired(1, "broken@example.com", "broken@example.com", "B", {})]
    verdicts = [by_child.judge(item) for item in asked]
    assert verdicts == [by_thread.judge(item) for item in asked]
    assert verdicts.count(Verdict.UNCHANGED) == len(range(0, 3000, 7)) - 1  # s7 is ambiguous
    assert verdicts[-5:] == [Verdict.LOOK_UP, Verdict.LOOK_UP, Verdict.LOOK_UP, Verdict.NEW, Verdict.LOOK_UP]
    assert len(by_child) == len(by_thread) == 3001
    assert 0 < loader.rows_read <= len(held)
    assert gone(loader._pid)


def test_the_child_writes_nothing_to_the_sync_s_stdout_or_stderr_not_even_what_the_sync_had_not_flushed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    handler = logging.StreamHandler(sys.stdout)
    logging.getLogger("listmonk_client").addHandler(handler)
    try:
        sys.stdout.write("the sync's line, not flushed yet\n")  # held in the buffer the fork copies
        loader = ProcessSnapshotLoader(ChattyExport(rows(10)), True, False)  # type: ignore[arg-type]
        assert len(loader.result()) == 11
    finally:
        logging.getLogger("listmonk_client").removeHandler(handler)
    out, err = capfd.readouterr()
    assert out.count("the sync's line") == 1 and "retrying" not in out + err and "printed" not in out + err


def test_a_failing_export_reaches_the_sync_with_the_reason_a_thread_would_give() -> None:
    error = ConnectionFailed(method="GET", path="/api/subscribers/export", status=None, message="stream broke off")
    loader = ProcessSnapshotLoader(FakeExport(rows(10), error), True, False)  # type: ignore[arg-type]
    with pytest.raises(ExportFailed) as failed:
        loader.result()
    assert str(failed.value) == str(error)


def test_a_child_killed_from_outside_is_a_failed_export_not_a_hang() -> None:
    loader = ProcessSnapshotLoader(DyingExport([]), True, False)  # type: ignore[arg-type]
    with pytest.raises(ExportFailed, match="ended without an answer"):
        loader.result()


def test_a_cancelled_export_stops_its_child() -> None:
    loader = ProcessSnapshotLoader(EndlessExport(), True, False)  # type: ignore[arg-type]
    assert not loader.done()
    loader.cancel()
    assert loader.done() and gone(loader._pid)
    with pytest.raises(LoadCancelled):
        loader.result()


def test_while_another_thread_runs_the_export_is_read_in_a_thread_not_a_fork() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        loader = start_export(EndlessExport(), True, False)  # type: ignore[arg-type]
        assert isinstance(loader, SnapshotLoader)
        loader.cancel()
    finally:
        release.set()
        other.join()
    alone = start_export(EndlessExport(), True, False)  # type: ignore[arg-type]
    assert isinstance(alone, ProcessSnapshotLoader)
    alone.cancel()


class PausingExport(FakeExport):
    """Gives its first `before` rows, then waits until `go_on` (a path) exists before giving the rest."""

    def __init__(self, rows: Iterable[Row], before: int, go_on: str) -> None:
        super().__init__(rows)
        self._before, self._go_on = before, go_on

    def export_subscribers(self, columns: Any) -> Generator[Row, None, None]:
        for i, row in enumerate(self._rows):
            while i == self._before and not os.path.exists(self._go_on):
                time.sleep(0.01)
            yield row


def test_while_the_export_streams_its_first_rows_judge_records_but_never_as_new(tmp_path: Any) -> None:
    held = rows(20_000)
    go_on = str(tmp_path / "go-on")
    loader = ProcessSnapshotLoader(PausingExport(held, 17_000, go_on), True, False, expected=20_000)  # type: ignore[arg-type]
    while loader.partial is None or len(loader.partial) < 16_384:  # published at 8,192 rows, then 16,384
        loader.wait_past(loader.partials)
    partial = loader.partial
    assert not loader.done() and loader.partials == 2
    assert partial.judge(wanted(100)) is Verdict.UNCHANGED
    assert partial.judge(wanted(100, name="Other")) is Verdict.LOOK_UP
    # Not among the rows read yet, or not in listmonk at all: only the whole export can tell.
    assert partial.judge(wanted(19_999)) is Verdict.LOOK_UP and partial.judge(wanted(50_000)) is Verdict.LOOK_UP

    open(go_on, "w").close()
    loader.wait_past(2)  # the end: no partial after 16,384 rows of 20,000
    whole = loader.result()
    assert loader.partial is None
    assert whole.judge(wanted(19_999)) is Verdict.UNCHANGED and whole.judge(wanted(50_000)) is Verdict.NEW
