"""Stream schemas are valid JSON schema and declare every field listmonk returns in the recorded fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from source_listmonk.records import subscription_rows
from source_listmonk.streams.base import SCHEMAS_DIR, load_schema

# The recorded real-server responses, copied into the repo so the suite runs from a plain clone.
FIXTURES = Path(__file__).resolve().parents[2] / "integration_tests" / "data" / "listmonk-fixtures"
STREAMS = ["subscribers", "subscriptions", "lists", "campaigns", "bounces"]


def _responses(path_prefix: str) -> Iterator[Any]:
    fixtures = sorted(FIXTURES.glob("*.json"))
    if not fixtures:
        raise FileNotFoundError(f"no recorded fixtures in {FIXTURES}")
    for fixture in fixtures:
        for step in json.loads(fixture.read_text()).get("steps", []):
            request, response = step["request"], step["response"]
            if request["method"] == "GET" and request["path"].startswith(path_prefix) and response.get("status") == 200:
                yield request["path"], response.get("json")


def _rows(path_prefix: str, single_prefix: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path, body in _responses(path_prefix):
        data = (body or {}).get("data")
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            rows.extend(row for row in data["results"] if isinstance(row, dict) and len(row) > 1)
        elif single_prefix and path.startswith(single_prefix) and isinstance(data, dict) and "id" in data:
            rows.append(data)
    return rows


def _undeclared(value: Any, schema: dict[str, Any], where: str) -> Iterator[str]:
    if isinstance(value, dict) and "properties" in schema:
        for key, inner in value.items():
            if key not in schema["properties"]:
                yield f"{where}.{key}"
            else:
                yield from _undeclared(inner, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            yield from _undeclared(item, schema["items"], f"{where}[]")


def _check(stream: str, rows: list[dict[str, Any]]) -> None:
    schema = load_schema(stream)
    validator = jsonschema.Draft7Validator(schema)
    for row in rows:
        assert list(_undeclared(row, schema, stream)) == []
        # The fixtures normalise timestamps to "<ts>"; types are what is checked here.
        errors = [error for error in validator.iter_errors(row) if error.validator != "format"]
        assert errors == [], errors[0].message if errors else ""


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_is_valid_draft7(stream: str) -> None:
    jsonschema.Draft7Validator.check_schema(load_schema(stream))
    assert (SCHEMAS_DIR / f"{stream}.json").is_file()


def test_every_subscriber_field_in_the_fixtures_is_declared() -> None:
    rows = _rows("/api/subscribers", single_prefix="/api/subscribers/")
    assert len(rows) > 10
    _check("subscribers", rows)


def test_every_subscription_row_built_from_the_fixtures_fits_its_schema() -> None:
    subscribers = _rows("/api/subscribers", single_prefix="/api/subscribers/")
    rows = [row.record for subscriber in subscribers for row in subscription_rows(subscriber, None)]
    assert rows
    _check("subscriptions", rows)


def test_every_list_field_in_the_fixtures_is_declared() -> None:
    rows = _rows("/api/lists", single_prefix="/api/lists/")
    assert rows
    _check("lists", rows)


def test_every_campaign_field_in_the_fixtures_is_declared() -> None:
    rows = _rows("/api/campaigns")
    assert rows
    _check("campaigns", rows)


def test_bounce_schema_declares_listmonk_bounce_fields() -> None:
    # No bounce is recorded in the fixtures; these are the json tags of listmonk's models.Bounce.
    fields = {"id", "type", "source", "meta", "created_at", "email", "subscriber_uuid", "subscriber_id",
              "subscriber_status", "campaign_uuid", "campaign"}
    assert fields <= set(load_schema("bounces")["properties"])
