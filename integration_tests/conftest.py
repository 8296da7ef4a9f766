"""The listmonk the end-to-end tests talk to: a real one when LISTMONK_URL, LISTMONK_USER and LISTMONK_TOKEN
are set, else the local listmonk-compatible server. Tests isolate themselves (own lists, own email domain, own
attribute-key values: see harness.key_of) and set listmonk up only with calls the server has (harness.change_in_listmonk),
so the same suite runs unchanged against both, again and again; tests that need the emulator's admin API are skipped
on a real one. scripts/suite_on_one_server.py checks that on every `make test`."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

from integration_tests.figures import FIGURES
from integration_tests.cli import Cli, Outputs, secrets_of
from listmonk_client.client import ListmonkClient
from listmonk_client.retry import RetryPolicy


@dataclass
class Listmonk:
    url: str
    user: str
    token: str
    emulator: Optional[object] = None  # listmonk_emulator.EmulatorServer when local

    def client(self, **kwargs: object) -> ListmonkClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.5, jitter=False))
        return ListmonkClient(self.url, self.user, self.token, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def listmonk() -> Iterator[Listmonk]:
    url = os.environ.get("LISTMONK_URL")
    if url:
        yield Listmonk(url.rstrip("/"), os.environ["LISTMONK_USER"], os.environ["LISTMONK_TOKEN"])
        return
    from listmonk_emulator import EmulatorServer

    with EmulatorServer() as server:
        yield Listmonk(server.url, server.api_user, server.token, emulator=server)


@pytest.fixture
def emulator(listmonk: Listmonk) -> Iterator[object]:
    """The local server's admin API (faults, stats, version switch); skips on a real listmonk."""
    if listmonk.emulator is None:
        pytest.skip("needs the local listmonk-compatible server's admin API")
    server = listmonk.emulator
    server.clear_faults()  # type: ignore[attr-defined]
    yield server
    server.clear_faults()  # type: ignore[attr-defined]
    server.set_version("v6.2.0")  # type: ignore[attr-defined]


@pytest.fixture
def client(listmonk: Listmonk) -> Iterator[ListmonkClient]:
    with listmonk.client() as c:
        yield c


@pytest.fixture
def domain() -> str:
    """An email domain no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}.example.com"


@pytest.fixture
def outputs(listmonk: Listmonk, tmp_path: Path) -> Iterator[Outputs]:
    """Collects what the test's commands print; afterwards, neither it nor any file the test's runs left in
    tmp_path (audit files, logs; config files aside) may hold the token."""
    collected = Outputs()
    yield collected
    leaks = collected.leaks(secrets_of(listmonk.user, listmonk.token), sorted(tmp_path.rglob("*")))
    assert not leaks, f"the token appears in: {leaks}"


@pytest.fixture
def cli(outputs: Outputs, tmp_path: Path) -> Cli:
    return Cli(tmp_path, outputs)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for what, amount in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{what}: {amount}")
