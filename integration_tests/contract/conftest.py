"""One emulator subprocess for the whole contract-test session, reset before each scenario."""
from __future__ import annotations

from typing import Iterator

import pytest

from listmonk_emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(version="v6.2.0") as server:
        yield server


@pytest.fixture()
def fresh(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator back at listmonk's install state, answering as v6.2.0, with no faults."""
    emulator.clear_faults()
    emulator.set_version("v6.2.0")
    emulator.reset()
    yield emulator
    emulator.clear_faults()
    emulator.set_version("v6.2.0")
