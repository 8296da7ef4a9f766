"""Every recorded listmonk v6.2 scenario, replayed step by step against the emulator."""
from __future__ import annotations

from pathlib import Path

import pytest

from listmonk_emulator import EmulatorServer

from .replay import Replayer, check_step, load, scenario_files


@pytest.mark.parametrize("fixture_path", scenario_files(), ids=lambda p: p.stem)
def test_given_fresh_install_when_scenario_replayed_then_every_response_matches(
        fresh: EmulatorServer, fixture_path: Path) -> None:
    scenario = load(fixture_path)
    replayer = Replayer(fresh.url, fresh.api_user, fresh.token)
    failures: list[str] = []
    for index, step in enumerate(scenario["steps"]):
        failures.extend(check_step(replayer, index, step))
    assert not failures, f"{scenario['scenario']}: {len(failures)} mismatches\n" + "\n".join(failures)


def test_fixture_copies_are_present() -> None:
    assert len(scenario_files()) >= 20
