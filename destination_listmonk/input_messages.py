"""Reads the Airbyte messages a destination is given on stdin, one per line, and keeps every line it cannot use.

The CDK drops a line it cannot parse with an INFO log, so a sync could end green with a record missing and not
counted. Here such a line comes out as an `UnreadableLine` that the sync rejects like any bad record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, AnyStr, Iterable, Iterator, Union

import orjson
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type


@dataclass(frozen=True)
class UnreadableLine:
    line_number: int
    reason: str


InputItem = Union[AirbyteMessage, UnreadableLine]


def read_messages(lines: Iterable[AnyStr]) -> Iterator[InputItem]:
    """Messages in input order; a line that is not an Airbyte message becomes an UnreadableLine (its content is
    not repeated: it may hold personal data). Blank lines carry nothing and are passed over."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            message = AirbyteMessageSerializer.load(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            yield UnreadableLine(number, f"input line {number} is not JSON (or not UTF-8): {error}")
            continue
        except ValueError as error:
            first = str(error).strip().splitlines()[-1].lstrip("- ")
            yield UnreadableLine(number, f"input line {number} is not an Airbyte message: {first}")
            continue
        if message.type == Type.RECORD and message.record is None:
            yield UnreadableLine(number, f"input line {number} is a RECORD message without a record")
            continue
        yield message


def lines_of(stream: IO[str]) -> Iterable[Union[str, bytes]]:
    """The raw bytes under a text stream where there are any, so that a line that is not UTF-8 is one bad line
    rather than a decoding error that ends the sync."""
    raw = getattr(stream, "buffer", None)
    return raw if raw is not None else stream
