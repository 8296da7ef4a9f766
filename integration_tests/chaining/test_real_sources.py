"""Real Airbyte sources from PyPI chained into destination-listmonk over the protocol: by a shell pipe, as
Airbyte's platform pipes a source into a destination, and through PyAirbyte (offline, local executables).
Each source lives in its own venv (`make sources`), as its pinned dependencies would clash with ours."""

from __future__ import annotations

import csv
import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from integration_tests.destination.harness import config as destination_config
from integration_tests.destination.harness import subscribers_of
from listmonk_client.client import ListmonkClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parents[1] / ".venv-sources"
BIN = Path(sys.executable).parent

Shape = tuple[Any, ...]


def source_venv(name: str) -> Path:
    venv = SOURCES / name
    if not (venv / ".installed").exists():
        message = f"{venv} is missing: `make sources` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return venv


@dataclass
class Chain:
    name: str  # the source's connector name, as PyAirbyte knows it
    executable: Path
    config: dict[str, Any]
    stream: str
    destination: dict[str, Any]  # destination settings besides the connection
    expected: Callable[[], dict[str, Shape]]  # what listmonk should hold for the records the source sent
    rejected: int = 0  # records the destination should refuse, with a reason


def faker_users(tmp_path: Path, domain: str, lists: list[str]) -> Chain:
    venv = source_venv("faker")
    records = tmp_path / "faker-records.jsonl"
    wrapper = tmp_path / "source-faker"
    wrapper.write_text(
        "#!/usr/bin/env bash\nset -o pipefail\n"
        f"{shlex.quote(str(venv / 'bin' / 'source-faker'))} \"$@\" | "
        f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'at_domain.py'))} {domain} {shlex.quote(str(records))}\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)

    def expected() -> dict[str, Shape]:
        users = [json.loads(line) for line in records.read_text().splitlines()]
        return {
            user["email"]: (user["name"], {k: v for k, v in user.items() if k not in ("email", "name", "updated_at")},
                            "enabled", [(lists[0], "confirmed")])
            for user in users
        }

    return Chain(
        name="source-faker", executable=wrapper, stream="users",
        config={"count": 60, "seed": 7, "records_per_slice": 25, "parallelism": 1},
        # updated_at is the time faker generated the user, new on every read: not profile data.
        destination={"mapping": {"excluded_fields": ["updated_at"]}, "target_lists": [lists[0]],
                     "new_subscription_status": "confirmed"},
        expected=expected,
    )


def file_contacts(tmp_path: Path, domain: str, lists: list[str]) -> Chain:
    venv = source_venv("file")
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "last_name", "plan", "score", "lists"])
        writer.writerow([f"ann@{domain}", "Ann", "Lee", "gold", 10, ",".join(lists)])
        writer.writerow([f"Bob.Stone@{domain.upper()}", "Bob", "", "silver", 7, lists[0]])
        writer.writerow([f"carl@{domain}", "Carl", "Diaz", "gold", 3, lists[1]])
        writer.writerow(["not-an-email", "Bad", "Row", "none", 0, lists[0]])  # rejected with its reason

    def expected() -> dict[str, Shape]:
        return {
            f"ann@{domain}": ("Ann Lee", {"plan": "gold", "score": 10}, "enabled",
                              [(lists[0], "unconfirmed"), (lists[1], "unconfirmed")]),
            f"bob.stone@{domain}": ("Bob", {"plan": "silver", "score": 7}, "enabled", [(lists[0], "unconfirmed")]),
            f"carl@{domain}": ("Carl Diaz", {"plan": "gold", "score": 3}, "enabled", [(lists[1], "unconfirmed")]),
        }

    return Chain(
        name="source-file", executable=venv / "bin" / "source-file", stream="contacts",
        config={"dataset_name": "contacts", "format": "csv", "url": str(contacts), "provider": {"storage": "local"}},
        destination={"mapping": {"name_template": "{first_name} {last_name}", "lists_field": "lists"}},
        expected=expected, rejected=1,
    )


def configured_catalog(chain: Chain, folder: Path) -> Path:
    """The source's own discovered stream, configured the way Airbyte's platform does for a destination."""
    (folder / "source.json").write_text(json.dumps(chain.config))
    done = subprocess.run([str(chain.executable), "discover", "--config", str(folder / "source.json")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    catalogs = [json.loads(line)["catalog"] for line in done.stdout.splitlines() if '"CATALOG"' in line]
    (stream,) = [s for s in catalogs[0]["streams"] if s["name"] == chain.stream]
    path = folder / "catalog.json"
    path.write_text(json.dumps({"streams": [
        {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}]}))
    return path


def by_pipe(chain: Chain, destination: dict[str, Any], folder: Path) -> None:
    catalog = configured_catalog(chain, folder)
    (folder / "destination.json").write_text(json.dumps(destination))
    command = (
        f"{shlex.quote(str(chain.executable))} read --config {folder / 'source.json'} --catalog {catalog}"
        f" | {BIN / 'destination-listmonk'} write --config {folder / 'destination.json'} --catalog {catalog}"
    )
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def by_pyairbyte(chain: Chain, destination: dict[str, Any], folder: Path) -> None:
    python = source_venv("pyairbyte") / "bin" / "python"
    job = folder / "job.json"
    job.write_text(json.dumps({
        "source_name": chain.name, "source_executable": str(chain.executable), "source_config": chain.config,
        "stream": chain.stream, "destination_executable": str(BIN / "destination-listmonk"),
        "destination_config": destination,
    }))
    env = {**os.environ, "AIRBYTE_OFFLINE_MODE": "1", "DO_NOT_TRACK": "1", "AIRBYTE_PROJECT_DIR": str(folder)}
    done = subprocess.run([str(python), str(HERE / "pyairbyte_sync.py"), str(job)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=folder)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])


def sync(runner: Callable[[Chain, dict[str, Any], Path], None], chain: Chain, listmonk: Any, folder: Path) -> dict[str, Any]:
    """Runs one sync and answers the destination's summary (from its audit file)."""
    folder.mkdir()
    audit = folder / "audit.jsonl"
    runner(chain, destination_config(listmonk, audit_file=str(audit), **chain.destination), folder)
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    (summary,) = [event for event in events if event.get("event") == "summary"]
    return summary


def held(client: ListmonkClient, domain: str) -> dict[str, Shape]:
    return {email: (s.name, s.attribs, s.status, sorted((x.name, x.subscription_status) for x in s.lists))
            for email, s in subscribers_of(client, domain).items()}


@pytest.mark.parametrize("runner", [by_pipe, by_pyairbyte], ids=["pipe", "pyairbyte"])
@pytest.mark.parametrize("source", [faker_users, file_contacts], ids=["faker-users", "file-csv"])
def test_a_real_source_lands_in_listmonk_and_a_rerun_writes_nothing(
        source: Callable[[Path, str, list[str]], Chain], runner: Callable[[Chain, dict[str, Any], Path], None],
        listmonk: Any, domain: str, tmp_path: Path) -> None:
    lists = [f"news-{domain}", f"offers-{domain}"]
    with listmonk.client() as client:
        for name in lists:
            client.create_list(name)
        chain = source(tmp_path, domain, lists)

        first = sync(runner, chain, listmonk, tmp_path / "first")
        expected = chain.expected()
        assert held(client, domain) == expected
        assert (first["created"], first["updated"], first["rejected"]) == (len(expected), 0, chain.rejected)
        before = {email: s.updated_at for email, s in subscribers_of(client, domain).items()}

        second = sync(runner, chain, listmonk, tmp_path / "second")
        assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, len(expected))
        assert second["rejected"] == chain.rejected
        assert held(client, domain) == expected
        assert {email: s.updated_at for email, s in subscribers_of(client, domain).items()} == before
