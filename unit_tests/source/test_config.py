"""The config model, the shipped spec.json it generates, and config errors as the Airbyte UI shows them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_listmonk.config import SPEC_PATH, parse_config, spec_document


def config(**overrides: Any) -> dict[str, Any]:
    return {"url": "https://lists.example.com", "username": "syncbot", "token": "s3cret", **overrides}


def test_shipped_spec_is_generated_from_the_model() -> None:
    assert json.loads(SPEC_PATH.read_text()) == spec_document(), "run `python -m source_listmonk.config`"


def test_spec_marks_the_token_secret_and_orders_every_field() -> None:
    properties = spec_document()["connectionSpecification"]["properties"]
    assert properties["token"]["airbyte_secret"] is True
    orders = [field["order"] for field in properties.values()]
    assert sorted(orders) == list(range(len(properties)))
    for name, field in properties.items():
        assert field.get("title") and field.get("description"), name
        assert "anyOf" not in field, name


def test_given_minimal_config_when_parsed_then_defaults_apply() -> None:
    parsed = parse_config(config(url="https://lists.example.com/"))
    assert parsed.url == "https://lists.example.com"
    assert (parsed.auth_method, parsed.verify_tls, parsed.page_size, parsed.start_date) == ("token", True, 1000, None)
    assert parsed.lookback_seconds > 0


def test_given_naive_start_date_when_parsed_then_it_is_utc() -> None:
    parsed = parse_config(config(start_date="2024-01-01T00:00:00"))
    assert parsed.start_date is not None and parsed.start_date.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"url": "lists.example.com"}, "url"),
        ({"auth_method": "oauth"}, "auth_method"),
        ({"page_size": 0}, "page_size"),
        ({"lookback_seconds": -1}, "lookback_seconds"),
        ({"token": None}, "token"),
    ],
)
def test_given_bad_config_when_parsed_then_config_error_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(AirbyteTracedException) as raised:
        parse_config(config(**overrides))
    assert raised.value.failure_type == FailureType.config_error
    assert field in (raised.value.message or "")


def test_given_bad_config_when_rejected_then_the_token_is_not_in_the_message() -> None:
    with pytest.raises(AirbyteTracedException) as raised:
        parse_config(config(token="hunter2-secret", page_size="many"))
    assert "hunter2-secret" not in f"{raised.value.message} {raised.value.internal_message}"
