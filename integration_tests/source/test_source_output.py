"""`source-listmonk read` writes what the CDK's own entrypoint writes for the same read: the same lines in the
same order (records, STATE with its record counts, TRACE, LOG), byte for byte once times are masked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from listmonk_client.client import ListmonkClient
from listmonk_emulator import EmulatorServer

from source_harness import catalog, config

SCRIPT = Path(sys.executable).with_name("source-listmonk")
CDK_LAUNCH = "import sys; from airbyte_cdk.entrypoint import launch; from source_listmonk.source import SourceListmonk; launch(SourceListmonk(), sys.argv[1:])"
# Times that differ between two runs: emitted_at of records and traces, and durations in the closing log.
_EMITTED_AT = re.compile(r'"emitted_at":[0-9.]+')
_DURATION = re.compile(r"(Syncing stream \w+ )\d+:\d\d:\d\d\.\d+")


def _output(command: list[str], args: list[str]) -> list[str]:
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # Split on newlines only: str.splitlines would also cut at a U+2028 inside a record.
    return [_DURATION.sub(r"\g<1>0:00:00", _EMITTED_AT.sub('"emitted_at":0', line)) for line in done.stdout.split("\n") if line]


def _both(args: list[str]) -> list[str]:
    ours = _output([str(SCRIPT)], args)
    assert ours == _output([sys.executable, "-c", CDK_LAUNCH], args)
    return ours


def _read_args(tmp_path: Path, incremental: bool, state: Optional[list[dict]] = None) -> list[str]:
    catalog_file = tmp_path / f"catalog_{incremental}.json"
    catalog_file.write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog("subscribers", "subscriptions", "lists", incremental=incremental))))
    args = ["read", "--config", str(tmp_path / "config.json"), "--catalog", str(catalog_file)]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    return args


def test_reads_write_what_the_cdk_writes(emulator: EmulatorServer, admin: ListmonkClient, tmp_path: Path) -> None:
    emulator.seed(40, list_ids=(1, 2))
    admin.create_subscriber(
        email="zoe@example.com", name="Zoë 🌍 \u2028 <b>&", lists=[1],
        attribs={"city": None, "tags": ["a", None], "n": 1.5e300, "deep": {"x": [{"y": None}]}, "note": "\"quoted\"\n"},
    )
    admin.delete_subscribers([5, 6, 7])  # a gap in the ids
    (tmp_path / "config.json").write_text(json.dumps({**config(emulator), "page_size": 7}))

    full = _both(_read_args(tmp_path, incremental=False))
    first = _both(_read_args(tmp_path, incremental=True))
    messages = [json.loads(line) for line in first]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert sum(r["stream"] == "subscribers" for r in records) == 42 - 3 + 1
    assert any(r["data"].get("name") == "Zoë 🌍 \u2028 <b>&" for r in records)
    states = {json.dumps(m["state"]["stream"]["stream_descriptor"]): m["state"] for m in messages if m["type"] == "STATE"}
    assert all(state["sourceStats"]["recordCount"] >= 0 for state in states.values())
    assert len([line for line in full if '"type":"RECORD"' in line]) == len(records)

    admin.patch_subscriber(10, {"name": "Changed"})
    again = _both(_read_args(tmp_path, incremental=True, state=list(states.values())))
    changed = [json.loads(line)["record"]["data"] for line in again if '"type":"RECORD"' in line and '"stream":"subscribers"' in line]
    assert [record["id"] for record in changed] == [10]
