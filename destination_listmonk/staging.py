"""Turns the input into what the sync works on, in input order: each record (or line that should have been one)
numbered and mapped to the subscriber it describes or a rejection, and each STATE stamped with the records of its
stream counted since the one before. Pure: the same input always stages the same, in this process or another."""

from __future__ import annotations

from typing import Iterable, Iterator, Union

from airbyte_cdk.models import AirbyteMessage, Type

from destination_listmonk.activation import Routes
from destination_listmonk.input_messages import InputItem, UnreadableLine
from destination_listmonk.mapping import Desired, Rejected
from destination_listmonk.state_counts import StateRecordCounts

Staged = Union[Desired, Rejected, AirbyteMessage]  # the message is a STATE


def stage(messages: Iterable[InputItem], routes: Routes) -> Iterator[Staged]:
    """Other messages (a source's LOG or TRACE passed along) carry nothing to write and are left out."""
    counts = StateRecordCounts()
    position = 0
    for message in messages:
        if isinstance(message, UnreadableLine):
            position += 1
            yield Rejected(position, message.reason)
        elif message.type == Type.RECORD and message.record is not None:
            position += 1
            record = message.record
            counts.record(record.namespace, record.stream)
            yield routes.map(record, position)
        elif message.type == Type.STATE:
            counts.stamp(message)
            yield message
