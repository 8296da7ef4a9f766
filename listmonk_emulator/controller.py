"""EmulatorServer: run `listmonk-emulator --json` as a subprocess and drive its admin API.

A subprocess (not a thread) keeps the emulator's memory and CPU out of the measurements of
whatever is under test, and its process group is killed on stop so PostgreSQL goes with it.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Optional


class EmulatorError(RuntimeError):
    """The emulator could not start, or an admin call failed."""


class EmulatorServer:
    def __init__(self, version: str = "v6.2.0", host: str = "127.0.0.1", port: int = 0,
                 token: Optional[str] = None, startup_timeout: float = 60.0,
                 log_path: Optional[Path] = None) -> None:
        self.version = version
        self._host = host
        self._port = port
        self._token = token
        self._startup_timeout = startup_timeout
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="listmonk-emulator-", suffix=".log")[1])
        self._proc: Optional[subprocess.Popen[str]] = None
        self._info: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "EmulatorServer":
        if self._proc is not None:
            return self
        cmd = [sys.executable, "-m", "listmonk_emulator", "--json", "--host", self._host,
               "--port", str(self._port), "--version", self.version]
        if self._token:
            cmd += ["--token", self._token]
        log = open(self.log_path, "w", encoding="utf-8")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                      start_new_session=True)
        log.close()
        try:
            self._info = self._read_startup_line()
        except Exception:
            self.stop()
            raise
        return self

    def _read_startup_line(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmulatorError(f"listmonk-emulator exited with {self._proc.returncode}; see {self.log_path}")
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline()
                if line.strip():
                    return dict(json.loads(line))
        raise EmulatorError(f"listmonk-emulator did not start within {self._startup_timeout}s; see {self.log_path}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    # -- connection details ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self._info["url"])

    @property
    def api_user(self) -> str:
        return str(self._info["api_user"])

    @property
    def token(self) -> str:
        return str(self._info["token"])

    @property
    def dsn(self) -> str:
        return str(self._info["dsn"])

    # -- admin API ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/__emulator/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())["data"]
        except urllib.error.HTTPError as err:
            raise EmulatorError(f"{method} /__emulator/{path}: {err.code} {err.read().decode()}") from None

    def reset(self) -> None:
        """Fresh install state: sample data, ids from 3, import state cleared."""
        self._admin("POST", "reset", {})

    def set_version(self, version: str) -> None:
        self._admin("POST", "version", {"version": version})
        self.version = version

    def set_faults(self, **spec: Any) -> dict[str, Any]:
        """See listmonk_emulator.faults for the keys (latency_ms, status, count, resets, ...)."""
        return dict(self._admin("POST", "faults", spec))

    def faults(self) -> dict[str, Any]:
        """The faults in force, with what is left of the counted ones, `answered` (matching calls carried out)
        and `held` (answers withheld now)."""
        return dict(self._admin("GET", "faults"))

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def restart(self, down_seconds: float = 2.0) -> None:
        """Restart the HTTP side now, as a listmonk restart looks to clients: from the return of this call,
        connections are refused for `down_seconds`, then it serves again on the same port. The running import is
        forgotten (status `none`) and its uncommitted rows lost; what PostgreSQL committed stays."""
        self._admin("POST", "restart", {"down_seconds": down_seconds})

    def restart_on_call(self, after: int, down_seconds: float = 2.0, method: Optional[str] = None,
                        path_prefix: Optional[str] = None) -> None:
        """Let `after` matching /api calls through, then restart on the next one (see `restart`): it gets no
        answer. Replaces any other faults."""
        self.set_faults(restart_after=after, restart_down_ms=int(down_seconds * 1000), method=method,
                        path_prefix=path_prefix)

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._admin("GET", "version")
                return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise EmulatorError(f"listmonk-emulator did not serve again within {timeout}s") from None
                time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "stats"))

    def reset_stats(self) -> None:
        self._admin("DELETE", "stats")

    def create_api_user(self, username: str, permissions: Iterable[str]) -> str:
        """A new API user on its own role with exactly these permissions; returns its token."""
        result = self._admin("POST", "users", {"username": username, "permissions": list(permissions)})
        return str(result["token"])

    def seed(self, n: int, list_ids: Iterable[int] = (), subscription_status: str = "confirmed",
             email_prefix: str = "seed", domain: str = "example.com",
             attribs: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Insert n synthetic subscribers `<prefix><i>@<domain>` in one SQL statement."""
        return dict(self._admin("POST", "seed", {
            "count": n, "list_ids": list(list_ids), "subscription_status": subscription_status,
            "email_prefix": email_prefix, "domain": domain, "attribs": attribs or {},
        }))
