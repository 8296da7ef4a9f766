"""Builders for running the destination in-process the way Airbyte runs it, and for reading listmonk back."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional, Sequence

import pytest
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStream,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    StreamDescriptor,
    SyncMode,
    Type,
)

from destination_listmonk.destination import DestinationListmonk
from listmonk_client.client import ListmonkClient
from listmonk_client.models import Subscriber
from listmonk_client.sql import SqlExpr, quote_literal

STREAM = "contacts"


def config(listmonk: Any, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": listmonk.url,
        "username": listmonk.user,
        "token": listmonk.token,
        # `auto` snapshots depend on how many subscribers the shared server holds: tests choose it explicitly.
        "advanced": {"batch_size": 200, "concurrency": 4, "snapshot_lookup": "never"},
    }
    advanced = {**base["advanced"], **overrides.pop("advanced", {})}
    base.update(overrides)
    base["advanced"] = advanced
    return base


def catalog(mode: DestinationSyncMode = DestinationSyncMode.append_dedup, stream: str = STREAM,
            sync_mode: SyncMode = SyncMode.full_refresh) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(name=stream, json_schema={"type": "object"}, supported_sync_modes=[sync_mode]),
                sync_mode=sync_mode,
                destination_sync_mode=mode,
            )
        ]
    )


def record(data: dict[str, Any], stream: str = STREAM) -> AirbyteMessage:
    return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=0))


def state(marker: int, stream: str = STREAM) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(marker=marker)
            ),
        ),
    )


def with_states(records: Sequence[dict[str, Any]], every: int) -> Iterator[AirbyteMessage]:
    """Records with a STATE message after every `every` records and one at the end."""
    for index, data in enumerate(records, start=1):
        yield record(data)
        if index % every == 0:
            yield state(index)
    yield state(len(records))


class Run:
    def __init__(self, messages: list[AirbyteMessage]) -> None:
        self.messages = messages

    @property
    def states(self) -> list[int]:
        return [m.state.stream.stream_state.marker for m in self.messages if m.type == Type.STATE]  # type: ignore[union-attr]

    def events(self, kind: Optional[str] = None) -> list[dict[str, Any]]:
        parsed = []
        for message in self.messages:
            if message.type == Type.LOG and message.log is not None:
                try:
                    event = json.loads(message.log.message)
                except ValueError:
                    continue
                if kind is None or event.get("audit") == kind or event.get("event") == kind:
                    parsed.append(event)
        return parsed

    @property
    def summary(self) -> dict[str, Any]:
        (summary,) = self.events("summary")
        return summary


def write(cfg: dict[str, Any], messages: Iterable[AirbyteMessage], cat: Optional[ConfiguredAirbyteCatalog] = None) -> Run:
    out = list(DestinationListmonk().write(cfg, cat or catalog(), messages))
    return Run(out)


def subscribers_of(client: ListmonkClient, domain: str) -> dict[str, Subscriber]:
    expr = SqlExpr(f"subscribers.email LIKE {quote_literal('%@' + domain)}")
    return {s.email: s for s in client.iter_subscribers(query=expr, per_page=1000)}


def subscriptions(subscriber: Subscriber) -> dict[int, str]:
    return {s.id: s.subscription_status for s in subscriber.lists}


def change_in_listmonk(client: ListmonkClient, subscriber_id: int, fields: dict[str, Any]) -> None:
    """A change someone makes in listmonk, with the calls that server has: PATCH from v6.1 (attributes merged
    one level deep), else PUT with the whole record so that nothing else is lost (listmonk v5 has no PATCH)."""
    if client.server_info().supports_patch:
        client.patch_subscriber(subscriber_id, fields)
        return
    held = client.get_subscriber(subscriber_id)
    client.put_subscriber(subscriber_id, {
        "email": held.email,
        "name": fields.get("name", held.name),
        "status": fields.get("status", held.status),
        "attribs": {**held.attribs, **fields.get("attribs", {})},
        "lists": [subscription.id for subscription in held.lists],
        "preconfirm_subscriptions": False,
    })


def key_of(domain: str, name: str) -> str:
    """An attribute-key value no other test and no earlier run holds: the server may keep every run's data."""
    return f"{name}.{domain}"


def held_as_compared(client: ListmonkClient, domain: str, list_roles: dict[int, str]) -> dict[str, tuple[Any, ...]]:
    """What listmonk holds for a domain, field by field, comparable across domains: per email's local part its
    name, attributes, status and subscription status per list role (`list_roles` names the test's lists)."""
    return {
        email.split("@")[0]: (s.name, s.attribs, s.status,
                              {list_roles.get(sub.id, str(sub.id)): sub.subscription_status for sub in s.lists})
        for email, s in subscribers_of(client, domain).items()
    }


def skip_without_profile_imports(client: ListmonkClient) -> None:
    """Profile updates go by import only where listmonk's importer can rewrite profiles without touching
    subscription statuses (v6.1+); on older servers they go by PUT, one by one."""
    if not client.server_info().supports_patch:
        pytest.skip("profile updates by import need listmonk v6.1+")
