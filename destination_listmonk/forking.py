"""What a forked child of the sync (the export's reader, the input's reader) needs to be safe: forked only while
the sync runs no other thread, killed when the sync ends, silent on the sync's stdout, and writing to its pipe in
full. A fork copies only the thread that calls it, so a lock another thread held would stay held in the child
forever."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from typing import Callable, NoReturn, TextIO, Union

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


_SYNC_STREAMS: list[TextIO] = []


def silence() -> None:
    """The child's stdout and stderr go nowhere. They are the sync's: stdout carries its Airbyte messages, and the
    child holds a copy of whatever the sync's output buffers held at the fork, which a log line (a retried export
    call) would flush a second time. Its failures reach the sync through the pipe."""
    logging.disable(logging.CRITICAL)
    nowhere = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(nowhere, fd)
    os.close(nowhere)
    # The sync's stream objects are kept as they are, buffers unflushed (a stream freed would flush as it
    # closes; the child ends with os._exit, which flushes nothing); print and warnings write elsewhere.
    _SYNC_STREAMS.extend((sys.stdout, sys.stderr))
    sys.stdout = sys.stderr = open(os.devnull, "w")


def die_with(parent: int) -> None:
    """The child is killed when the sync's process ends, rather than working on for nobody."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the child ends at its first write instead
        pass
    if os.getppid() != parent:  # the parent ended before prctl took
        os._exit(2)


def write_all(fd: int, data: Union[bytes, memoryview]) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run_child(parent: int, work: Callable[[], None], tell: Callable[[BaseException], None]) -> NoReturn:
    """The life of a child forked from the sync (`parent`): `work`, whose failure `tell` sends to the sync. Never
    returns: whatever happens, the child ends with os._exit, so that none of the sync's buffered output, exit
    handlers or finally blocks run twice."""
    code = 0
    try:
        die_with(parent)
        silence()
        try:
            work()
        except BaseException as error:  # every failure goes back to the sync, which decides
            code = 1
            tell(error)
    except BaseException:  # the pipe is gone (the sync ended): nobody is left to tell
        code = 2
    finally:
        os._exit(code)
