"""The CDK's entrypoint with a cheaper way out for RECORD messages, nearly all of a read's output.

For each record the CDK builds a stream descriptor to count it, has serpyco copy the message into dicts, has
orjson dump those and prints the text in two writes: about half of the source's CPU per row. Here a record is
counted under a descriptor made once per stream and written in one write, as orjson dumps the dict serpyco
would have made (the same bytes). Everything else (STATE with its record count, TRACE, LOG, spec, check,
discover, and a record orjson cannot dump) goes the CDK's own way, in the order the source gave it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, DefaultDict, Optional

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import AirbyteMessage, ConnectorSpecification, Type
from airbyte_cdk.sources import Source
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor


def record_line(message: AirbyteMessage) -> Optional[str]:
    """The line the CDK prints for a RECORD message (newline included), or None where it must do it itself
    (namespace, meta or file reference set; data orjson refuses, such as an integer beyond 64 bits)."""
    record = message.record
    if record is None or record.namespace is not None or record.meta is not None or record.file_reference is not None:
        return None
    data = record.data
    # serpyco leaves out the top-level None values of `data` (not nested ones).
    if None in data.values():
        data = {key: value for key, value in data.items() if value is not None}
    try:
        text = orjson.dumps(
            {"type": "RECORD", "record": {"stream": record.stream, "data": data, "emitted_at": record.emitted_at}},
            option=orjson.OPT_APPEND_NEWLINE,
        )
    except orjson.JSONEncodeError:
        return None
    return text.decode()


class ListmonkEntrypoint(AirbyteEntrypoint):
    """`run` yields every message but the records of a read as text, as the CDK's does; the records are written
    to sys.stdout as they pass, so `launch` below must print what `run` yields."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self._descriptors: dict[tuple[str, Optional[str]], HashableStreamDescriptor] = {}

    def read(
        self, source_spec: ConnectorSpecification, config: Any, catalog: Any, state: list[Any]
    ) -> Iterable[AirbyteMessage]:
        for message in super().read(source_spec, config, catalog, state):
            line = record_line(message) if message.type == Type.RECORD else None
            if line is None:
                yield message
            else:
                sys.stdout.write(line)

    def handle_record_counts(  # type: ignore[override]  # a method here: it keeps the descriptors
        self, message: AirbyteMessage, stream_message_count: DefaultDict[HashableStreamDescriptor, float]
    ) -> AirbyteMessage:
        record = message.record
        if message.type != Type.RECORD or record is None:
            return AirbyteEntrypoint.handle_record_counts(message, stream_message_count)
        key = (record.stream, record.namespace)
        descriptor = self._descriptors.get(key)
        if descriptor is None:
            descriptor = self._descriptors[key] = HashableStreamDescriptor(name=record.stream, namespace=record.namespace)
        stream_message_count[descriptor] += 1.0
        return message


def launch(source: Source, args: list[str]) -> None:
    """airbyte_cdk.entrypoint.launch, with ListmonkEntrypoint."""
    entrypoint = ListmonkEntrypoint(source)
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed_args):
            sys.stdout.write(f"{message}\n")
