"""Whatever breaks the export part-way, the sync goes on by looking every record up, and says why."""

from __future__ import annotations

import csv
import json
from collections.abc import Generator
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    Level,
    SyncMode,
    Type,
)

from destination_listmonk.activation import Routes, stream_settings
from destination_listmonk.audit import Audit
from destination_listmonk.config import DestinationConfig
from destination_listmonk.lists import ListDirectory
from destination_listmonk.protection import Rules
from destination_listmonk.staging import stage
from destination_listmonk.sync import SubscriberSync
from listmonk_client.errors import ConnectionFailed
from listmonk_client.models import SubscriberState
from listmonk_client.sql import SqlExpr

EXPORT_PATH = "/api/subscribers/export"
BREAKS = {
    "csv field limit": csv.Error("field larger than field limit (131072)"),
    "stream cut": ConnectionFailed(method="GET", path=EXPORT_PATH, status=None, message="export stream broke off"),
    "bad utf-8": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    "anything else": RuntimeError("unexpected"),
}


class ExportBreaksMidway:
    """A listmonk holding `held` whose export stops with `error` after the first row."""

    def __init__(self, held: list[str], error: BaseException) -> None:
        self.held = held
        self.error = error
        self.looked_up: list[str] = []

    def export_subscribers(self, columns: Any) -> Generator[tuple[str, str, str, str], None, None]:
        yield self.held[0], "Held", "{}", "enabled"
        raise self.error

    def fresh_copy(self) -> ExportBreaksMidway:  # for the export's child process
        return self

    def close(self) -> None:
        pass

    def count_subscribers(self) -> int:
        return len(self.held)

    def find_subscribers(self, query: SqlExpr) -> list[SubscriberState]:
        asked = [email for email in self.held + [f"new{i}@example.com" for i in range(10)] if f"'{email}'" in query.sql]
        self.looked_up.extend(asked)
        return [SubscriberState(id=i + 1, email=e, name="Held", attribs={}, status="enabled")
                for i, e in enumerate(self.held) if e in asked]


@pytest.mark.parametrize("error", BREAKS.values(), ids=BREAKS.keys())
def test_given_an_export_that_breaks_midway_then_every_record_is_looked_up_and_the_sync_ends(
    error: BaseException,
) -> None:
    held = [f"held{i}@example.com" for i in range(3)]
    emails = held + [f"new{i}@example.com" for i in range(10)]
    client = ExportBreaksMidway(held, error)
    config = DestinationConfig.model_validate({
        "url": "http://listmonk.invalid", "username": "u", "token": "t", "dry_run": True,
        "advanced": {"batch_size": 5, "snapshot_lookup": "always"},
    })
    catalog = ConfiguredAirbyteCatalog(streams=[ConfiguredAirbyteStream(
        stream=AirbyteStream(name="c", json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.append)])
    audit = Audit(dry_run=True)
    config, settings = stream_settings(config, catalog)
    routes = Routes(config, settings, ListDirectory([]), Rules.from_config(config, [], supports_patch=True))
    sync = SubscriberSync(config, client, routes, audit)  # type: ignore[arg-type]
    records = [AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(
        stream="c", data={"email": email, "name": "Held"}, emitted_at=0)) for email in emails]

    out = list(sync.run(stage(records, routes)))

    logs = [(m.log.level, json.loads(m.log.message)) for m in out if m.type == Type.LOG and m.log is not None]
    (warning,) = [(level, event) for level, event in logs if event.get("event", "").startswith("export snapshot")]
    assert warning[0] == Level.WARN and str(error) in warning[1]["reason"]
    assert sorted(client.looked_up) == sorted(emails)
    summary = next(event for _, event in logs if event.get("event") == "summary")
    assert (summary["created"], summary["unchanged"]) == (10, 3)
