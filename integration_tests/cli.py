"""Running the console scripts as Airbyte does (a process, JSON lines in and out), and collecting everything
they print so a test can prove no secret is in it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

STREAM = "contacts"
CATALOG = {"streams": [{
    "stream": {"name": STREAM, "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
    "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}]}


def script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def input_lines(records: Sequence[dict[str, Any]], every: int, start: int = 0) -> str:
    """RECORD lines for records[start:], a STATE after every `every`-th record counted from 0 and at the end; a
    STATE's marker is the number of records before it, so a replay resumes at records[marker:]."""
    lines = []
    for position in range(start, len(records)):
        lines.append({"type": "RECORD", "record": {"stream": STREAM, "data": records[position], "emitted_at": 0}})
        if (position + 1) % every == 0 or position + 1 == len(records):
            lines.append({"type": "STATE", "state": {"type": "STREAM", "stream": {
                "stream_descriptor": {"name": STREAM}, "stream_state": {"marker": position + 1}}}})
    return "".join(json.dumps(line) + "\n" for line in lines)


@dataclass
class Outputs:
    """Everything the commands of one test printed or wrote; `inputs` are files that hold secrets on purpose."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    inputs: set[Path] = field(default_factory=set)

    def add(self, label: str, text: str) -> None:
        self.texts.append((label, text))

    def leaks(self, secrets: Iterable[str], files: Iterable[Path] = ()) -> list[str]:
        """Labels of the outputs (and of files other than inputs) holding any of the secrets."""
        found = [label for label, text in self.texts if any(s in text for s in secrets)]
        for path in files:
            if path.is_file() and path not in self.inputs:
                text = path.read_text(encoding="utf-8", errors="replace")
                found.extend(str(path) for s in secrets if s in text)
        return found


def secrets_of(user: str, token: str) -> list[str]:
    """The token as it could leak: as is, and inside an HTTP Basic header."""
    return [token, base64.b64encode(f"{user}:{token}".encode()).decode()]


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        parsed = []
        for line in self.stdout.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                parsed.append(message)
        return parsed

    @property
    def states(self) -> list[int]:
        return [m["state"]["stream"]["stream_state"]["marker"] for m in self.messages if m.get("type") == "STATE"]

    def events(self, kind: Optional[str] = None) -> list[dict[str, Any]]:
        found = []
        for message in self.messages:
            if message.get("type") != "LOG":
                continue
            try:
                event = json.loads(message["log"]["message"])
            except ValueError:
                continue
            if isinstance(event, dict) and (kind is None or kind in (event.get("audit"), event.get("event"))):
                found.append(event)
        return found

    @property
    def summary(self) -> dict[str, Any]:
        (summary,) = self.events("summary")
        return summary

    @property
    def traces(self) -> list[dict[str, Any]]:
        return [m["trace"] for m in self.messages if m.get("type") == "TRACE"]


class Cli:
    """One test's console-script runs, with its config and catalog in `directory`."""

    def __init__(self, directory: Path, outputs: Outputs) -> None:
        self.directory = directory
        self.outputs = outputs
        self._runs = 0

    def config_file(self, config: dict[str, Any], name: str = "config.json") -> Path:
        path = self.directory / name
        path.write_text(json.dumps(config))
        self.outputs.inputs.add(path)
        return path

    def catalog_file(self, catalog: Optional[dict[str, Any]] = None) -> Path:
        path = self.directory / "catalog.json"
        path.write_text(json.dumps(catalog or CATALOG))
        return path

    def start(self, command: str, args: Sequence[str], stdin_text: Union[str, bytes] = "") -> "RunningCli":
        """Starts a console script reading `stdin_text` (bytes for input that is not UTF-8); its output goes to
        files, so it never blocks on a pipe."""
        self._runs += 1
        base = self.directory / f"run{self._runs}"
        data = stdin_text.encode() if isinstance(stdin_text, str) else stdin_text
        (base.with_suffix(".in")).write_bytes(data)
        with open(base.with_suffix(".in"), "rb") as stdin, open(base.with_suffix(".out"), "wb") as stdout, \
                open(base.with_suffix(".err"), "wb") as stderr:
            process = subprocess.Popen([script(command), *args], stdin=stdin, stdout=stdout, stderr=stderr)
        return RunningCli(process, base, f"{command} {args[0] if args else ''} #{self._runs}", self.outputs)

    def run(self, command: str, args: Sequence[str], stdin_text: Union[str, bytes] = "", timeout: float = 300) -> CliRun:
        return self.start(command, args, stdin_text).finish(timeout)

    def write(self, config: dict[str, Any], stdin_text: Union[str, bytes], timeout: float = 300) -> CliRun:
        return self.run("destination-listmonk", self.write_args(config), stdin_text, timeout)

    def write_args(self, config: dict[str, Any]) -> list[str]:
        return ["write", "--config", str(self.config_file(config)), "--catalog", str(self.catalog_file())]


@dataclass
class RunningCli:
    process: subprocess.Popen[bytes]
    base: Path
    label: str
    outputs: Outputs

    def finish(self, timeout: float = 300) -> CliRun:
        self.process.wait(timeout)
        return self._collected()

    def kill(self) -> CliRun:
        self.process.kill()  # SIGKILL: no cleanup, no last words, as when a container is OOM-killed
        self.process.wait(30)
        return self._collected()

    def _collected(self) -> CliRun:
        stdout = self.base.with_suffix(".out").read_text(encoding="utf-8", errors="replace")
        stderr = self.base.with_suffix(".err").read_text(encoding="utf-8", errors="replace")
        self.outputs.add(f"{self.label} stdout", stdout)
        self.outputs.add(f"{self.label} stderr", stderr)
        return CliRun(self.process.returncode, stdout, stderr)
