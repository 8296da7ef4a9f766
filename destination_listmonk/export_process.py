"""Reads listmonk's export into a snapshot in a forked child process, so that parsing it, most of a re-sync's CPU
while the export streams, runs beside the sync instead of taking turns with it under one GIL. The finished table
comes back through a pipe (16 bytes a slot, a few tens of milliseconds at 1,000,000 subscribers), and so do tables
of the rows read so far (at 8,192 rows, then each time they have doubled), which the sync may judge records by
while the rest streams.

A fork, not a fresh interpreter: the child keeps the parent's string hash, which the table's keys are made of, and
starts in no time. A fork copies only the thread that calls it, so a lock another thread held would stay held in
the child forever: the export only goes to a child process while the sync runs no other thread (as when a
full-refresh sync starts it early, before its first batch is written), and to a thread (snapshot.SnapshotLoader)
otherwise.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import signal
import struct
import threading
from typing import Callable, NoReturn, Optional

from destination_listmonk.forking import can_fork, run_child, write_all
from destination_listmonk.snapshot import (
    EXPORT_FIELDS,
    BackgroundExport,
    ExportFailed,
    LoadCancelled,
    MalformedExport,
    Snapshot,
    SnapshotLoader,
    _Table,
    empty_slots,
    export_table,
)
from listmonk_client.client import ListmonkClient
from listmonk_client.errors import ListmonkError

_TABLE, _PARTIAL, _ERROR = b"T", b"P", b"E"
_HEADER = struct.Struct("<qqBQ")  # slots, keys held, whether key 0 is held, key 0's value
_PROGRESS = struct.Struct("<q")


def start_export(client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int = 0) -> BackgroundExport:
    """The export, read in a child process where that is safe, else in a thread; both answer alike."""
    if can_fork():
        return ProcessSnapshotLoader(client, compare_name, compare_status, expected)
    return SnapshotLoader(client, compare_name, compare_status, expected)


class ProcessSnapshotLoader(BackgroundExport):
    """The export read by a forked child; a thread of the sync's waits for its answers."""

    gives_partials = True

    def __init__(self, client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int = 0) -> None:
        super().__init__()
        self._moved = threading.Condition()  # notified at each partial snapshot, and at the end
        self._ended = False
        self._progress = mmap.mmap(-1, _PROGRESS.size)  # anonymous and shared: the child counts rows into it
        self._cancelled = False
        parent = os.getpid()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(client, compare_name, compare_status, expected, self._progress, write_end, parent)
        os.close(write_end)
        self._pid = pid
        # Started after the fork, so that the child has no copy of it.
        self._thread = threading.Thread(target=self._receive, args=(read_end, compare_name, compare_status),
                                        name="listmonk-export", daemon=True)
        self._thread.start()

    @property
    def rows_read(self) -> int:
        return int(_PROGRESS.unpack_from(self._progress)[0])

    def wait_past(self, partials: int) -> None:
        with self._moved:
            self._moved.wait_for(lambda: self.partials > partials or self._ended)

    def _move(self, partial: Optional[Snapshot], ended: bool = False) -> None:
        with self._moved:
            self.partial, self._ended = partial, ended
            self.partials += partial is not None
            self._moved.notify_all()

    def cancel(self) -> None:
        if not self.done():
            self._cancelled = True
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:  # it had just ended
                pass
        self._thread.join()

    def _receive(self, read_end: int, compare_name: bool, compare_status: bool) -> None:
        try:
            with os.fdopen(read_end, "rb") as pipe:
                kind = pipe.read(1)
                while kind == _PARTIAL:
                    # Each partial table has the final one's size (32 MB at 1,000,000): the previous goes before the
                    # next is read, so that two are never held at once. Meanwhile the sync judges nothing early.
                    self._move(None)
                    self._move(Snapshot(_read_table(pipe), compare_name, compare_status, self.written, complete=False))
                    kind = pipe.read(1)
                if kind == _TABLE:
                    self._move(None, ended=True)  # no more partial snapshots: their memory goes before the table's
                    table = _read_table(pipe)
                    self._snapshot = Snapshot(table, compare_name, compare_status, self.written)
                elif kind == _ERROR:
                    self._error = ExportFailed(json.loads(pipe.read())["reason"])
                elif self._cancelled:
                    self._error = LoadCancelled()
                else:
                    self._error = ExportFailed("the process reading the export ended without an answer")
        except (OSError, ValueError, struct.error) as error:
            self._error = ExportFailed(f"the export's table could not be read back: {error}")
        finally:
            os.waitpid(self._pid, 0)
            self._move(None, ended=True)


def _read_table(pipe: io.BufferedReader) -> _Table:
    slots, size, zero_held, zero = _HEADER.unpack(_read_exactly(pipe, _HEADER.size))
    keys, values = empty_slots(slots), empty_slots(slots)
    for target in (keys, values):
        view = memoryview(target).cast("B")
        filled = 0
        while filled < len(view):
            got = pipe.readinto(view[filled:])
            if not got:
                raise ValueError("the table was cut short")
            filled += got
    return _Table.from_arrays(keys, values, size, zero if zero_held else None)


def _read_exactly(pipe: io.BufferedReader, size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise ValueError("the table was cut short")
    return data


def _child(client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int, progress: mmap.mmap,
           write_end: int, parent: int) -> NoReturn:
    def work() -> None:
        table = _read_export(client, compare_name, compare_status, expected, progress,
                             lambda table: _send_table(write_end, table, _PARTIAL))
        _send_table(write_end, table, _TABLE)

    def tell(error: BaseException) -> None:
        known = isinstance(error, (ListmonkError, MalformedExport))
        reason = str(error) if known else f"{type(error).__name__}: {error}"
        write_all(write_end, _ERROR + json.dumps({"reason": reason}).encode())

    run_child(parent, work, tell)


def _read_export(client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int,
                 progress: mmap.mmap, publish: Callable[[_Table], None]) -> _Table:
    def note(rows: int) -> None:
        _PROGRESS.pack_into(progress, 0, rows)

    own = client.fresh_copy()  # connections of its own: the parent's pooled sockets are shared with the fork
    try:
        rows = own.export_subscribers(EXPORT_FIELDS)
        try:
            return export_table(rows, compare_name, compare_status, progress=note, expected=expected, publish=publish)
        finally:
            rows.close()
    finally:
        own.close()


def _send_table(write_end: int, table: _Table, kind: bytes) -> None:
    keys, values, size, zero = table.arrays()
    header = _HEADER.pack(len(keys), size, zero is not None, zero or 0)
    write_all(write_end, kind + header)
    for part in (keys, values):
        write_all(write_end, memoryview(part).cast("B"))
