"""Data activation without a server: which strategy each mapped stream gets, how records in listmonk's field
names become subscribers, and that every catalog `discover` can print is valid for the Airbyte protocol."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
from airbyte_cdk.models import AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses import models as protocol
from hypothesis import given, settings, strategies as st
from serpyco_rs import Serializer

from destination_listmonk.activation import stream_settings, strategy_for, subscriber_fields
from destination_listmonk.destination import parse_config, serialize
from destination_listmonk.discover import AttributeProfile, destination_catalog
from destination_listmonk.mapping import RecordError
from listmonk_client.models import Subscriber

M = DestinationSyncMode


def config(**overrides: Any) -> Any:
    return parse_config({"url": "http://x", "username": "u", "token": "t", **overrides})


def stream(name: str, mode: DestinationSyncMode, key: Optional[list[list[str]]] = None, target: Optional[str] = "subscribers") -> ConfiguredAirbyteStream:
    return ConfiguredAirbyteStream(
        stream=AirbyteStream(name=name, json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh, destination_sync_mode=mode, destination_object_name=target, primary_key=key)


@pytest.mark.parametrize("mode,configured,expected", [
    (M.append, "profiles_only", "create_only"),
    (M.append, "full_sync", "create_only"),
    (M.append, "create_only", "create_only"),
    (M.update, "profiles_only", "update_only"),
    (M.update, "full_sync", "full_sync restricted to update"),
    (M.update, "update_only", "update_only"),
    (M.append_dedup, "profiles_only", "profiles_only"),
    (M.append_dedup, "full_sync", "full_sync"),
    (M.append_dedup, "create_only", "create_only"),
    (M.append_dedup, "update_only", "update_only"),
])
def test_the_sync_mode_picks_the_strategy_and_the_configured_one_only_narrows_it(
    mode: DestinationSyncMode, configured: str, expected: str
) -> None:
    assert strategy_for(mode, configured)[0] == expected


@pytest.mark.parametrize("mode,configured", [(M.append, "update_only"), (M.update, "create_only")])
def test_a_sync_mode_the_strategy_leaves_nothing_to_do_is_refused(mode: DestinationSyncMode, configured: str) -> None:
    with pytest.raises(AirbyteTracedException, match=f"cannot run under the `{configured}` strategy"):
        strategy_for(mode, configured)


def test_the_matching_key_chosen_in_the_ui_becomes_the_write_s_and_must_be_one() -> None:
    parsed, settings = stream_settings(config(), ConfiguredAirbyteCatalog(streams=[
        stream("a", M.append_dedup, [["attribs.crm_id"]]), stream("b", M.update, [["attribs", "crm_id"]])]))
    assert parsed.match_key == "attribs.crm_id" and [s.strategy for s in settings] == ["profiles_only", "update_only"]
    with pytest.raises(AirbyteTracedException, match="share one matching key"):
        stream_settings(config(), ConfiguredAirbyteCatalog(streams=[stream("a", M.append, [["email"]]), stream("b", M.update, [["attribs.id"]])]))
    with pytest.raises(AirbyteTracedException, match="one matching key is supported"):
        stream_settings(config(), ConfiguredAirbyteCatalog(streams=[stream("a", M.append, [["email"], ["attribs.id"]])]))
    with pytest.raises(AirbyteTracedException, match="match_key"):
        stream_settings(config(), ConfiguredAirbyteCatalog(streams=[stream("a", M.append, [["phone"]])]))


def test_streams_without_an_object_keep_the_config_s_strategy_whatever_their_sync_mode() -> None:
    _, (legacy,) = stream_settings(config(), ConfiguredAirbyteCatalog(streams=[stream("a", M.append, target=None)]))
    assert (legacy.activation, legacy.strategy) == (False, "profiles_only")


def test_fields_in_listmonk_names_become_the_subscriber_and_its_attributes() -> None:
    record = {"email": "a@x.io", "name": "A", "status": "enabled", "lists": [1], "_ab_cdc_deleted_at": None,
              "attribs": {"plan": "free", "keep": 1}, "attribs.plan": "pro", "attribs.address.city": "Oslo", "score": 3}
    assert subscriber_fields(record) == {
        "email": "a@x.io", "name": "A", "status": "enabled", "lists": [1], "_ab_cdc_deleted_at": None,
        "attribs": {"plan": "pro", "keep": 1, "address": {"city": "Oslo"}, "score": 3},
    }
    for bad in ({"attribs..x": 1}, {"attribs": "text"}):
        with pytest.raises(RecordError):
            subscriber_fields(bad)


_keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8)
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
_attribs = st.dictionaries(_keys, st.recursive(_scalars | st.lists(_scalars, max_size=2),
                                               lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=6),
                           max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(_attribs, max_size=15), st.sampled_from(["profiles_only", "full_sync", "create_only", "update_only"]),
       st.sampled_from(["ignore", "delete"]))
def test_every_catalog_is_a_valid_protocol_message_whose_matching_keys_are_fields(
    attribs: list[dict[str, Any]], strategy: str, deletions: str
) -> None:
    subscribers = [Subscriber(id=i, email=f"s{i}@x.io", attribs=a) for i, a in enumerate(attribs)]
    catalog = destination_catalog(config(strategy={"mode": strategy}, deletions=deletions), AttributeProfile.of(subscribers))
    line = serialize(protocol.AirbyteMessage(type=protocol.Type.DESTINATION_CATALOG, destination_catalog=catalog))
    message = Serializer(protocol.AirbyteMessage).load(json.loads(line))
    assert message.destination_catalog is not None and message.destination_catalog.operations
    for operation in message.destination_catalog.operations:
        assert operation.object_name == "subscribers" and operation.matching_keys
        properties = operation.json_schema["properties"]
        assert all(len(key) == 1 and key[0] in properties for key in operation.matching_keys)
        assert set(operation.json_schema["required"]) <= set(properties)
        assert all(name == "email" or name in ("name", "status", "lists") or name.startswith("attribs.") for name in properties)
    modes = {op.sync_mode for op in message.destination_catalog.operations}
    assert (protocol.DestinationSyncMode.soft_delete in modes) == (deletions != "ignore")


def test_attribute_keys_are_dotted_paths_and_external_ids_are_unique_well_held_scalars() -> None:
    subscribers = [Subscriber(id=i, email=f"s{i}@x.io", attribs={
        "crm": {"id": f"C{i}"}, "seq": i, "plan": "pro", "rare": f"r{i}" if i < 3 else None, "flag": bool(i % 2),
        "dup": i // 2, "a.b": i}) for i in range(20)]
    profile = AttributeProfile.of(subscribers)
    assert profile.fields() == ["crm.id", "dup", "flag", "plan", "rare", "seq"]
    assert profile.external_ids() == ["crm.id", "seq"]
    assert profile.schema("seq") == {"type": ["null", "integer"]}
