"""`source-listmonk spec|check|discover|read` as the platform runs them: console script, files, stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from listmonk_emulator import EmulatorServer

from source_harness import catalog, config

SCRIPT = Path(sys.executable).with_name("source-listmonk")


def _run(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stderr[-2000:]
    return messages


def _of(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [message for message in messages if message["type"] == kind]


def test_spec() -> None:
    (spec,) = _of(_run("spec"), "SPEC")
    assert spec["spec"]["connectionSpecification"]["properties"]["token"]["airbyte_secret"] is True


def test_check_discover_read_and_read_with_state(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.seed(30, list_ids=(1,))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(emulator)))
    (status,) = _of(_run("check", "--config", str(config_file)), "CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "SUCCEEDED"

    (found,) = _of(_run("discover", "--config", str(config_file)), "CATALOG")
    streams = {stream["name"]: stream for stream in found["catalog"]["streams"]}
    assert set(streams) == {"subscribers", "subscriptions", "lists", "campaigns", "bounces"}
    assert streams["subscriptions"]["source_defined_primary_key"] == [["subscriber_id"], ["list_id"]]
    assert "incremental" in streams["subscribers"]["supported_sync_modes"]

    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog("subscribers", "lists", "campaigns", "bounces"))))
    messages = _run("read", "--config", str(config_file), "--catalog", str(catalog_file))
    records = _of(messages, "RECORD")
    assert sum(1 for r in records if r["record"]["stream"] == "subscribers") == 32
    states = _of(messages, "STATE")
    assert states

    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps([states[-1]["state"]]))
    again = _run("read", "--config", str(config_file), "--catalog", str(catalog_file), "--state", str(state_file))
    assert not [r for r in _of(again, "RECORD") if r["record"]["stream"] == "subscribers"]


def test_check_reports_each_problem_and_never_the_token(emulator: EmulatorServer, tmp_path: Path) -> None:
    token = emulator.create_api_user("weak", ["campaigns:get_all"])
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(emulator, username="weak", token=token)))
    messages = _run("check", "--config", str(config_file))
    (status,) = _of(messages, "CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    lines = status["connectionStatus"]["message"].splitlines()
    assert len(lines) == 2 and "subscribers:get_all" in lines[1] and "lists:get_all" in lines[0]
    assert token not in json.dumps(messages)


def test_check_with_bad_config_is_a_config_error(tmp_path: Path) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"url": "ftp://nope", "username": "a", "token": "b"}))
    messages = _run("check", "--config", str(config_file))
    (status,) = _of(messages, "CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert "url" in status["connectionStatus"]["message"]
