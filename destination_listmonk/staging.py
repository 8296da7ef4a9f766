"""Turns the input into what the sync works on, in input order: each record (or line that should have been one)
numbered and mapped to the subscriber it describes or a rejection, and each STATE stamped with the records of its
stream counted since the one before. Pure: the same input always stages the same, in this process or another."""

from __future__ import annotations

from typing import Any, AnyStr, Callable, Iterable, Iterator, Optional, Union

import orjson
from airbyte_cdk.models import AirbyteMessage, Type

from destination_listmonk.activation import Routes
from destination_listmonk.input_messages import (
    InputItem, UnreadableLine, message_of, plain_record_fields, read_line,
)
from destination_listmonk.mapping import Desired, Rejected
from destination_listmonk.state_counts import StateRecordCounts, StreamKey

Staged = Union[Desired, Rejected, AirbyteMessage]  # the message is a STATE


class _Stager:
    def __init__(self, routes: Routes) -> None:
        self._routes = routes
        self._counts = StateRecordCounts()
        self._position = 0
        self._mappers: dict[StreamKey, Callable[[dict[str, Any], int], Union[Desired, Rejected]]] = {}

    def message(self, message: InputItem) -> Optional[Staged]:
        """Other messages (a source's LOG or TRACE passed along) carry nothing to write: None."""
        if isinstance(message, UnreadableLine):
            self._position += 1
            return Rejected(self._position, message.reason)
        if message.type == Type.RECORD and message.record is not None:
            record = message.record
            return self.record(record.namespace, record.stream, record.data)
        if message.type == Type.STATE:
            self._counts.stamp(message)
            return message
        return None

    def record(self, namespace: Optional[str], stream: str, data: dict[str, Any]) -> Union[Desired, Rejected]:
        self._position += 1
        key = (namespace, stream)
        self._counts.record(key)
        mapper = self._mappers.get(key)
        if mapper is None:  # each stream routed once
            mapper = self._mappers[key] = self._routes.mapper_of(namespace, stream)
        return mapper(data, self._position)


def stage(messages: Iterable[InputItem], routes: Routes) -> Iterator[Staged]:
    stager = _Stager(routes)
    for message in messages:
        staged = stager.message(message)
        if staged is not None:
            yield staged


def stage_lines(lines: Iterable[AnyStr], routes: Routes) -> Iterator[Staged]:
    """stage(read_messages(lines)), with a plain RECORD line mapped straight from its parsed JSON, without the
    message objects in between (about a tenth of the reader process's work on a record)."""
    stager = _Stager(routes)
    loads, plain = orjson.loads, plain_record_fields
    for number, line in enumerate(lines, start=1):
        try:
            parsed = loads(line)
        except orjson.JSONDecodeError:
            message = read_line(number, line)  # blank, or not JSON
        else:
            fields = plain(parsed)
            if fields is not None:
                namespace, stream, data, _ = fields
                yield stager.record(namespace, stream, data)
                continue
            message = message_of(number, parsed)  # parsed once: a STATE, or a record the serializer must read
        staged = stager.message(message) if message is not None else None
        if staged is not None:
            yield staged
