"""One emulator per test session for the source's integration tests; each test starts from a fresh install."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from listmonk_client.client import ListmonkClient
from listmonk_emulator import EmulatorServer


@pytest.fixture(scope="session")
def source_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(version="v6.2.0") as emulator:
        yield emulator


@pytest.fixture
def emulator(source_emulator: EmulatorServer) -> EmulatorServer:
    source_emulator.clear_faults()
    source_emulator.reset()
    return source_emulator


@pytest.fixture
def admin(emulator: EmulatorServer) -> Iterator[ListmonkClient]:
    with ListmonkClient(emulator.url, emulator.api_user, emulator.token) as client:
        yield client
