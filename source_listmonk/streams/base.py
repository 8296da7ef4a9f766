"""A listmonk stream: records and checkpoints come out of one generator, so state is emitted exactly
where the stream knows every record before it has been handed over (page and range boundaries)."""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Optional, Union

from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, ConfiguredAirbyteStream, SyncMode, Type
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.utils.slice_logger import SliceLogger
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig

from connector_kit.failures import traced
from listmonk_client.errors import ListmonkError

from source_listmonk.context import ReadContext
from source_listmonk.records import project, selected_fields

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


@dataclass(frozen=True)
class Checkpoint:
    state: dict[str, Any]


Item = Union[dict[str, Any], Checkpoint]


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / f"{name}.json").read_text())


class ListmonkStream(Stream, ABC):
    primary_key: Optional[Union[str, list[str]]] = "id"

    def __init__(self, context: ReadContext) -> None:
        self._context = context

    def get_json_schema(self) -> Mapping[str, Any]:
        return load_schema(self.name)

    @abstractmethod
    def items(self, incremental: bool) -> Iterator[Item]:
        """Records (raw dicts) and, for incremental reads, checkpoints."""

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[list[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[StreamData]:
        for item in self.items(sync_mode == SyncMode.incremental):
            if not isinstance(item, Checkpoint):
                yield item

    def read(  # type: ignore[override]  # same signature as Stream.read, whose state_manager is untyped
        self,
        configured_stream: ConfiguredAirbyteStream,
        logger: logging.Logger,
        slice_logger: SliceLogger,
        stream_state: MutableMapping[str, Any],
        state_manager: Optional[ConnectorStateManager],
        internal_config: InternalConfig,
    ) -> Iterable[StreamData]:
        fields = selected_fields(configured_stream.stream.json_schema)
        incremental = configured_stream.sync_mode == SyncMode.incremental
        name = self.name
        try:
            for item in self.items(incremental):
                if isinstance(item, Checkpoint):
                    if incremental and state_manager is not None:
                        yield self._checkpoint_state(item.state, state_manager=state_manager)
                else:
                    # A finished message, which the CDK passes on as it is: for a plain dict it would copy the
                    # record again and run the stream's transformer, which these streams leave at NoTransform.
                    record = AirbyteRecordMessage(stream=name, data=project(item, fields), emitted_at=time.time_ns() // 1_000_000)
                    yield AirbyteMessage(type=Type.RECORD, record=record)
        except ListmonkError as error:
            raise traced(error, self._context.config.url, f"reading {self.name}") from error
