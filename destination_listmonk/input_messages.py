"""Reads the Airbyte messages a destination is given on stdin, one per line, and keeps every line it cannot use.

The CDK drops a line it cannot parse with an INFO log, so a sync could end green with a record missing and not
counted. Here such a line comes out as an `UnreadableLine` that the sync rejects like any bad record.

A plain RECORD line (stream, data, emitted_at, maybe namespace) is built directly: the CDK's serializer validates
it against the whole protocol schema, about 16 us a line, as much as the rest of a no-change re-sync's work on a
record. Every other line goes through the serializer, so its verdicts are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, AnyStr, Iterable, Iterator, Optional, Union

import orjson
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, AirbyteRecordMessage, Type


@dataclass(frozen=True)
class UnreadableLine:
    line_number: int
    reason: str


InputItem = Union[AirbyteMessage, UnreadableLine]


def read_messages(lines: Iterable[AnyStr]) -> Iterator[InputItem]:
    """Messages in input order; a line that is not an Airbyte message becomes an UnreadableLine (its content is
    not repeated: it may hold personal data). Blank lines carry nothing and are passed over."""
    for number, line in enumerate(lines, start=1):
        item = read_line(number, line)
        if item is not None:
            yield item


def read_line(number: int, line: AnyStr) -> Optional[InputItem]:
    """The message of input line `number`, an UnreadableLine, or None for a blank line."""
    if not line.strip():
        return None
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return UnreadableLine(number, f"input line {number} is not JSON (or not UTF-8): {error}")
    return message_of(number, parsed)


def message_of(number: int, parsed: Any) -> InputItem:
    """The message that input line `number` holds, given as parsed JSON, or an UnreadableLine."""
    try:
        message = _plain_record(parsed) or AirbyteMessageSerializer.load(parsed)
    except ValueError as error:
        first = str(error).strip().splitlines()[-1].lstrip("- ")
        return UnreadableLine(number, f"input line {number} is not an Airbyte message: {first}")
    if message.type == Type.RECORD and message.record is None:
        return UnreadableLine(number, f"input line {number} is a RECORD message without a record")
    return message


_TOP_KEYS = frozenset(("type", "record"))
_RECORD_KEYS = frozenset(("stream", "data", "emitted_at", "namespace"))
PlainFields = tuple[Optional[str], str, dict[str, Any], int]  # namespace, stream, data, emitted_at


def plain_record_fields(parsed: Any) -> Optional[PlainFields]:
    """What a RECORD line holds, where it holds only what the serializer would accept as it is; None otherwise."""
    if type(parsed) is not dict or parsed.get("type") != "RECORD" or not _TOP_KEYS.issuperset(parsed):
        return None
    record = parsed.get("record")
    if type(record) is not dict or not _RECORD_KEYS.issuperset(record):
        return None
    stream, data, emitted_at, namespace = (record.get("stream"), record.get("data"), record.get("emitted_at"),
                                           record.get("namespace"))
    # `type(...) is`: a bool is an int to isinstance, and not an integer to the protocol's schema.
    if (type(stream) is not str or type(data) is not dict or type(emitted_at) is not int
            or not (namespace is None or type(namespace) is str)):
        return None
    return namespace, stream, data, emitted_at


def _plain_record(parsed: Any) -> Optional[AirbyteMessage]:
    """The message of a plain RECORD line (plain_record_fields); None otherwise."""
    fields = plain_record_fields(parsed)
    if fields is None:
        return None
    namespace, stream, data, emitted_at = fields
    # Positional (type, log, spec, connectionStatus, catalog, record; stream, data, emitted_at, namespace): keyword
    # arguments double the cost of both dataclasses. The differential property test fails if the order moves.
    return AirbyteMessage(Type.RECORD, None, None, None, None,
                          AirbyteRecordMessage(stream, data, emitted_at, namespace))


def lines_of(stream: IO[str]) -> Iterable[Union[str, bytes]]:
    """The raw bytes under a text stream where there are any, so that a line that is not UTF-8 is one bad line
    rather than a decoding error that ends the sync."""
    raw = getattr(stream, "buffer", None)
    return raw if raw is not None else stream
