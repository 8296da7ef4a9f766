"""Stages the input (destination_listmonk.staging: parsing its JSON lines, mapping its records) in a forked child
process that reads the input file itself, so that on two cores it runs beside the sync's judging, planning and
writing instead of taking turns with them under one GIL: parsing and mapping are about two thirds of a no-change
re-sync's CPU.

The child sends what it staged in batches through a pipe, as marshal bytes: a record costs about 1.5 us to send
and rebuild so, against 7 us with pickle. Staging is pure, so the sync sees exactly what it would have staged
itself; it stages in-process where the input is not a file, where it has fewer than two cores (a container's CPU
quota counted), or where a fork is not safe (destination_listmonk.forking).
"""

from __future__ import annotations

import fcntl
import marshal
import os
import signal
import struct
from contextlib import contextmanager
from typing import IO, Any, Iterable, Iterator, NoReturn, Optional, Union

from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_listmonk.activation import Routes
from destination_listmonk.forking import can_fork, run_child, write_all
from destination_listmonk.input_messages import InputItem, read_messages
from destination_listmonk.mapping import Desired, ListIntent, Rejected
from destination_listmonk.staging import Staged, stage, stage_lines

BATCH = 500  # staged items a message of the pipe carries (about 60 KB of records)
PIPE_BYTES = 1 << 20  # how far the child may stage ahead of the sync
_BATCH, _END, _ERROR = b"B", b"Z", b"E"
_FRAME = struct.Struct("<cQ")  # kind, length of what follows


class InputFile:
    """The destination's input as the file it arrives in (stdin): messages when iterated in-process, or the file
    itself for a reader process to read."""

    def __init__(self, stream: Iterable[Any]) -> None:  # lines as str or bytes
        self.stream = stream

    def __iter__(self) -> Iterator[InputItem]:
        return read_messages(self.stream)


@contextmanager
def staged_input(messages: Iterable[InputItem], routes: Routes) -> Iterator[Iterable[Staged]]:
    """The input staged, by a reader process where that is worth it and safe."""
    fd = _readable_fd(messages)
    if fd is None:
        yield stage(messages, routes)
        return
    with read_in_child(fd, routes) as reader:
        yield reader


class ReaderProcess:
    """What the child staged, in input order, as it comes through the pipe."""

    def __init__(self, pid: int, pipe: IO[bytes]) -> None:
        self.pid = pid
        self._pipe = pipe
        self.ended = False  # reaped: it has nothing more to say

    def __iter__(self) -> Iterator[Staged]:
        pipe = self._pipe
        while True:
            head = pipe.read(_FRAME.size)
            kind, size = _FRAME.unpack(head) if len(head) == _FRAME.size else (b"", 0)
            body = pipe.read(size)
            if kind == _BATCH and len(body) == size:
                for entry in marshal.loads(body):
                    # A record mapped without lists, the common case, straight into its class.
                    yield Desired(*entry) if len(entry) == 9 and entry[6] is None else _decode(entry)
                continue
            status = self._reap()
            if kind == _END:
                return
            reason = body.decode() if kind == _ERROR and len(body) == size else (
                f"it ended before the input did (wait status {status})")
            raise AirbyteTracedException(
                message="The destination failed while reading its input; nothing after the last STATE is counted "
                "as written, and the next attempt writes it.",
                internal_message=f"the input reader process failed: {reason}",
                failure_type=FailureType.system_error,
            )

    def _reap(self) -> int:
        self.ended = True
        return os.waitpid(self.pid, 0)[1]

    def stop(self) -> None:
        """Ends the child if it still reads (the sync failed, or stopped early)."""
        if not self.ended:
            os.kill(self.pid, signal.SIGKILL)
            self._reap()


@contextmanager
def read_in_child(fd: int, routes: Routes) -> Iterator[ReaderProcess]:
    """A forked child reads the file `fd` and stages it; it is ended on leaving, whatever it still had to read."""
    parent = os.getpid()
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError):  # not Linux, or over the system's limit: the default pipe still works
        pass
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(fd, write_end, routes, parent)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reader = ReaderProcess(pid, pipe)
        try:
            yield reader
        finally:
            reader.stop()


def _readable_fd(messages: Iterable[InputItem]) -> Optional[int]:
    if not isinstance(messages, InputFile) or not can_fork() or usable_cores() < 2:
        return None
    try:
        return int(messages.stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # not a file: an in-memory stream, a list of lines
        return None


def usable_cores(cgroup: str = "/sys/fs/cgroup") -> float:
    """The CPUs this process may use: those it may run on, capped by its container's CPU quota (a Kubernetes pod's
    limit), under which a second process would only take turns with the sync."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    for quota_file, period_file in ((f"{cgroup}/cpu.max", None),
                                    (f"{cgroup}/cpu/cpu.cfs_quota_us", f"{cgroup}/cpu/cpu.cfs_period_us")):
        try:
            with open(quota_file) as handle:
                fields = handle.read().split()
            if period_file is not None:
                with open(period_file) as handle:
                    fields.append(handle.read().strip())
            if fields[0] in ("max", "-1"):  # cgroup v2 says "max", v1 "-1": no quota
                return cores
            quota, period = int(fields[0]), int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
        return min(cores, quota / period) if quota > 0 and period > 0 else cores
    return cores


def _child(fd: int, write_end: int, routes: Routes, parent: int) -> NoReturn:
    def work() -> None:
        batch: list[tuple[Any, ...]] = []
        with os.fdopen(fd, "rb") as lines:
            for item in stage_lines(lines, routes):
                batch.append(_encode(item))
                # A STATE goes at once: the sync may pass it on before more input arrives.
                if len(batch) >= BATCH or isinstance(item, AirbyteMessage):
                    _send(write_end, _BATCH, marshal.dumps(batch))
                    batch = []
        if batch:
            _send(write_end, _BATCH, marshal.dumps(batch))
        _send(write_end, _END, b"")

    run_child(parent, work, lambda error: _send(write_end, _ERROR, f"{type(error).__name__}: {error}".encode()))


def _send(write_end: int, kind: bytes, body: bytes) -> None:
    write_all(write_end, _FRAME.pack(kind, len(body)) + body)


def _encode(item: Staged) -> tuple[Any, ...]:
    """A tuple of plain values, which marshal takes: 9 long for a record mapped, 3 for a rejection, 1 for a STATE."""
    if isinstance(item, Desired):
        lists = None if item.lists is None else tuple((intent.list_id, intent.status) for intent in item.lists)
        return (item.position, item.key, item.email, item.name, item.attribs, item.status, lists, item.deleted,
                item.stream)
    if isinstance(item, Rejected):
        return (item.position, item.reason, item.record_hint)
    return (AirbyteMessageSerializer.dump(item),)


def _decode(entry: tuple[Any, ...]) -> Staged:
    if len(entry) == 9:
        position, key, email, name, attribs, status, lists, deleted, stream = entry
        intents: Union[tuple[ListIntent, ...], None] = None
        if lists is not None:
            intents = tuple(ListIntent(list_id, list_status) for list_id, list_status in lists)
        return Desired(position, key, email, name, attribs, status, intents, deleted, stream)
    if len(entry) == 3:
        return Rejected(*entry)
    return AirbyteMessageSerializer.load(entry[0])
