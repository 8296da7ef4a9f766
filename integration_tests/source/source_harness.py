"""Small builders for driving SourceListmonk in-process: config, catalog, state, and a read that keeps messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    Type,
)

from listmonk_emulator import EmulatorServer
from source_listmonk.source import SourceListmonk

LOGGER = logging.getLogger("airbyte")


def config(emulator: EmulatorServer, **overrides: Any) -> dict[str, Any]:
    return {
        "url": emulator.url,
        "username": emulator.api_user,
        "token": emulator.token,
        "lookback_seconds": 0,
        **overrides,
    }


def catalog(*streams: str, incremental: bool = True, fields: Optional[dict[str, Sequence[str]]] = None) -> ConfiguredAirbyteCatalog:
    entries = []
    for stream in SourceListmonk().streams({"url": "http://unused", "username": "x", "token": "y"}):
        if stream.name not in streams:
            continue
        schema = dict(stream.get_json_schema())
        if fields and stream.name in fields:
            schema = {**schema, "properties": {k: v for k, v in schema["properties"].items() if k in fields[stream.name]}}
        mode = "incremental" if incremental else "full_refresh"
        entries.append({
            "stream": {"name": stream.name, "json_schema": schema, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": mode,
            "destination_sync_mode": "append",
        })
    return ConfiguredAirbyteCatalogSerializer.load({"streams": entries})


def read_messages(
    cfg: dict[str, Any], cat: ConfiguredAirbyteCatalog, state: Optional[list[AirbyteStateMessage]] = None
) -> Iterator[AirbyteMessage]:
    yield from SourceListmonk().read(LOGGER, cfg, cat, state)


@dataclass
class ReadResult:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[AirbyteStateMessage] = field(default_factory=list)

    def final_state(self) -> list[AirbyteStateMessage]:
        """The last state message of each stream, as the platform would pass to the next sync."""
        latest: dict[str, AirbyteStateMessage] = {}
        for message in self.states:
            latest[message.stream.stream_descriptor.name] = message
        return list(latest.values())

    def stream_state(self, stream: str) -> dict[str, Any]:
        for message in reversed(self.states):
            if message.stream.stream_descriptor.name == stream:
                return dict(message.stream.stream_state.__dict__)
        return {}


def collect(messages: Iterator[AirbyteMessage], into: Optional[ReadResult] = None) -> ReadResult:
    result = into or ReadResult()
    for message in messages:
        if message.type == Type.RECORD:
            result.records.setdefault(message.record.stream, []).append(message.record.data)
        elif message.type == Type.STATE:
            result.states.append(message.state)
    return result


def read(cfg: dict[str, Any], cat: ConfiguredAirbyteCatalog, state: Optional[list[AirbyteStateMessage]] = None) -> ReadResult:
    return collect(read_messages(cfg, cat, state))


def interrupted(
    cfg: dict,
    stream: str,
    stop_after_states: int,
    extra_records: int,
    state: Optional[list[AirbyteStateMessage]] = None,
) -> ReadResult:
    """Read until the given number of checkpoints, plus a few records past the last one, then stop."""
    result = ReadResult()
    messages = read_messages(cfg, catalog(stream), state)
    states = 0
    for message in messages:
        collect(iter([message]), result)
        if message.type == Type.STATE:
            states += 1
        if states >= stop_after_states:
            for message in messages:
                if extra_records == 0:
                    break
                if message.type == Type.RECORD:
                    collect(iter([message]), result)
                    extra_records -= 1
            break
    messages.close()
    return result


def subscription_keys(rows: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    return {(row["subscriber_id"], row["list_id"]): row["subscription_status"] for row in rows}
