"""Data activation as the Airbyte UI drives it: `discover` describes listmonk's subscribers, then `write` takes
streams mapped onto `subscribers` with a sync mode and a matching key, records already in listmonk's names."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
from airbyte_cdk.models import AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses import models as protocol
from serpyco_rs import Serializer

from integration_tests.destination.harness import STREAM, config, record, state, subscribers_of, subscriptions, write
from listmonk_client.client import ListmonkClient

SCRIPT = Path(sys.executable).with_name("destination-listmonk")


def mapped(mode: DestinationSyncMode, key: Optional[str] = None, target: str = "subscribers") -> ConfiguredAirbyteCatalog:
    """A stream mapped in the UI: the platform passes the object, the sync mode and the matching key."""
    return ConfiguredAirbyteCatalog(streams=[ConfiguredAirbyteStream(
        stream=AirbyteStream(name=STREAM, json_schema={"type": "object"}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh,
        destination_sync_mode=mode,
        destination_object_name=target,
        primary_key=[[key]] if key else None,
    )])


@pytest.fixture
def key() -> str:
    """An attribute key no other test (or data already in listmonk) uses."""
    return f"k{uuid.uuid4().hex[:8]}"


def test_discover_prints_a_destination_catalog_with_the_attribute_keys_listmonk_holds(
    listmonk: Any, client: ListmonkClient, domain: str, key: str, tmp_path: Path
) -> None:
    # 120 subscribers: enough of the newest thousand sampled for a unique key to count as an external ID.
    for i in range(120):
        client.create_subscriber(email=f"d{i}@{domain}", name=f"D {i}",
                                 attribs={f"{key}_id": f"X-{i}", f"{key}_plan": "pro", key: {"city": "Oslo"}})
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(listmonk, deletions="unsubscribe", protected_fields=[f"attribs.{key}_plan"])))
    done = subprocess.run([str(SCRIPT), "discover", "--config", str(config_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = done.stdout.splitlines()
    message = Serializer(protocol.AirbyteMessage).load(json.loads(line))  # validates against the protocol models
    assert message.type == protocol.Type.DESTINATION_CATALOG and message.destination_catalog is not None
    operations = {op.sync_mode: op for op in message.destination_catalog.operations}
    assert set(operations) == {protocol.DestinationSyncMode.append, protocol.DestinationSyncMode.update,
                               protocol.DestinationSyncMode.append_dedup, protocol.DestinationSyncMode.soft_delete}
    upsert = operations[protocol.DestinationSyncMode.append_dedup]
    assert upsert.object_name == "subscribers"
    fields = upsert.json_schema["properties"]
    assert {"email", "name", "status", "lists", f"attribs.{key}_id", f"attribs.{key}.city"} <= set(fields)
    assert f"attribs.{key}_plan" not in fields  # protected: never written, so not offered
    assert ["email"] in upsert.matching_keys and [f"attribs.{key}_id"] in upsert.matching_keys
    assert [f"attribs.{key}.city"] not in upsert.matching_keys  # the same value everywhere: no ID
    assert "status" not in operations[protocol.DestinationSyncMode.update].json_schema["properties"]
    assert set(operations[protocol.DestinationSyncMode.soft_delete].json_schema["properties"]) <= (
        {"email"} | {k[0] for k in upsert.matching_keys})


def test_insert_creates_new_subscribers_and_leaves_existing_ones_alone(
    listmonk: Any, client: ListmonkClient, domain: str, key: str
) -> None:
    client.create_subscriber(email=f"old@{domain}", name="Old", attribs={key: "kept"})
    run = write(config(listmonk), [
        record({"email": f"old@{domain}", "name": "Changed", f"attribs.{key}": "changed"}),
        record({"email": f"new@{domain}", "name": "New", f"attribs.{key}.tier": "gold", "plan": "pro"}),
        state(1),
    ], mapped(DestinationSyncMode.append))
    held = subscribers_of(client, domain)
    assert (held[f"old@{domain}"].name, held[f"old@{domain}"].attribs) == ("Old", {key: "kept"})
    assert held[f"new@{domain}"].attribs == {key: {"tier": "gold"}, "plan": "pro"}
    assert (run.summary["created"], run.states) == (1, [1])


def test_update_changes_existing_subscribers_and_creates_none(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    client.create_subscriber(email=f"old@{domain}", name="Old")
    write(config(listmonk), [
        record({"email": f"old@{domain}", "name": "Changed"}),
        record({"email": f"stranger@{domain}", "name": "Stranger"}),
        state(1),
    ], mapped(DestinationSyncMode.update))
    held = subscribers_of(client, domain)
    assert set(held) == {f"old@{domain}"} and held[f"old@{domain}"].name == "Changed"


def test_upsert_keeps_protected_fields_and_opt_outs(listmonk: Any, client: ListmonkClient, domain: str, key: str) -> None:
    newsletter = client.create_list(f"activation-{uuid.uuid4().hex[:8]}")
    existing = client.create_subscriber(email=f"left@{domain}", name="Left", attribs={key: True}, lists=[newsletter.id])
    client.change_subscriptions([existing.id], "unsubscribe", [newsletter.id])
    settings = config(listmonk, strategy={"mode": "full_sync"}, protected_fields=[f"attribs.{key}"])
    run = write(settings, [
        record({"email": f"left@{domain}", "name": "Renamed", f"attribs.{key}": False,
                "lists": [{"name": newsletter.name, "subscription_status": "confirmed"}]}),
        record({"email": f"joined@{domain}", "name": "Joined", "lists": [newsletter.name]}),
        state(1),
    ], mapped(DestinationSyncMode.append_dedup))
    held = subscribers_of(client, domain)
    left = held[f"left@{domain}"]
    assert (left.name, left.attribs, subscriptions(left)) == ("Renamed", {key: True}, {newsletter.id: "unsubscribed"})
    assert subscriptions(held[f"joined@{domain}"]) == {newsletter.id: "unconfirmed"}
    refused = {(e["field"], e["rule"]) for e in run.events("skipped_change")}
    assert {(f"attribs.{key}", f"protected:attribs.{key}"), (f"lists.{newsletter.id}", "consent_floor")} <= refused


def test_matching_key_chosen_in_the_ui_follows_an_email_change(
    listmonk: Any, client: ListmonkClient, domain: str, key: str
) -> None:
    before = client.create_subscriber(email=f"before@{domain}", name="Kim", attribs={key: "C-1"})
    write(config(listmonk), [record({"email": f"after@{domain}", f"attribs.{key}": "C-1"}), state(1)],
          mapped(DestinationSyncMode.update, key=f"attribs.{key}"))
    (after,) = subscribers_of(client, domain).values()
    assert (after.id, after.email) == (before.id, f"after@{domain}")


def test_soft_delete_follows_the_deletions_setting(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    newsletter = client.create_list(f"activation-{uuid.uuid4().hex[:8]}")
    client.create_subscriber(email=f"gone@{domain}", name="Gone", lists=[newsletter.id], preconfirm=True)
    write(config(listmonk, deletions="unsubscribe"), [record({"email": f"gone@{domain}"}), state(1)],
          mapped(DestinationSyncMode.soft_delete))
    assert subscriptions(subscribers_of(client, domain)[f"gone@{domain}"]) == {newsletter.id: "unsubscribed"}


@pytest.mark.parametrize("catalog,settings,message", [
    (mapped(DestinationSyncMode.append_dedup, target="contacts"), {}, "mapped to `contacts`, which listmonk does not have"),
    (mapped(DestinationSyncMode.soft_delete), {}, "`Deleted records` setting is `ignore`"),
    (mapped(DestinationSyncMode.append), {"strategy": {"mode": "update_only"}}, "cannot run under the `update_only` strategy"),
    (mapped(DestinationSyncMode.overwrite), {}, "`overwrite` is not offered"),
], ids=["unknown object", "soft delete ignored", "insert under update only", "overwrite"])
def test_a_stream_the_destination_cannot_honour_is_refused_before_anything_is_written(
    listmonk: Any, client: ListmonkClient, domain: str, catalog: ConfiguredAirbyteCatalog, settings: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(AirbyteTracedException, match=message):
        write(config(listmonk, **settings), [record({"email": f"x@{domain}"}), state(1)], catalog)
    assert subscribers_of(client, domain) == {}
