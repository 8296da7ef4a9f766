"""The destination's settings: what users can type, and the spec the Airbyte UI renders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_listmonk.config import SPEC_PATH, spec_document
from destination_listmonk.destination import parse_config


def raw(**overrides: Any) -> dict[str, Any]:
    return {"url": "https://lists.example.com/", "username": "bot", "token": "s3cret-token", **overrides}


def test_committed_spec_matches_the_model() -> None:
    assert json.loads(SPEC_PATH.read_text()) == spec_document()


def test_spec_marks_the_token_secret_and_groups_every_field() -> None:
    spec = spec_document()["connectionSpecification"]
    assert spec["properties"]["token"]["airbyte_secret"] is True
    groups = {g["id"] for g in spec["groups"]}
    assert all(prop.get("group") in groups for prop in spec["properties"].values())
    modes = [option["properties"]["mode"]["const"] for option in spec["properties"]["strategy"]["oneOf"]]
    assert modes == ["profiles_only", "full_sync", "create_only", "update_only"]


def test_defaults_are_the_safe_ones() -> None:
    config = parse_config(raw())
    assert config.url == "https://lists.example.com"
    assert (config.strategy.mode, config.consent_floor, config.deletions, config.dry_run) == ("profiles_only", True, "ignore", False)


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"url": "lists.example.com"}, "url"),
        ({"protected_fields": ["phone"]}, "protected_fields"),
        ({"match_key": "crm_id"}, "match_key"),
        ({"strategy": {"mode": "everything"}}, "strategy"),
        ({"mapping": {"attributes": "listed", "attribute_fields": ["plan"]}, "match_key": "attribs.crm_id"}, "crm_id"),
        ({"advanced": {"batch_size": 0}}, "batch_size"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_field_without_echoing_secrets(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(AirbyteTracedException) as error:
        parse_config(raw(**overrides))
    assert field in error.value.message and "s3cret-token" not in error.value.message


@pytest.mark.parametrize("given,mode", [(None, "auto"), (True, "always"), (False, "never"), ("never", "never")])
def test_snapshot_lookup_defaults_to_auto_and_reads_the_booleans_of_earlier_configs(given: Any, mode: str) -> None:
    advanced = {} if given is None else {"snapshot_lookup": given}
    assert parse_config(raw(advanced=advanced)).advanced.snapshot_lookup == mode


def test_nested_protected_attribute_paths_are_accepted() -> None:
    assert parse_config(raw(protected_fields=["attribs.billing.tier", "status"])).protected_fields == ["attribs.billing.tier", "status"]
