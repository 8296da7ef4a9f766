"""The source's configuration: one pydantic model that validates a config and generates spec.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from pydantic import ConfigDict, Field, field_validator

from connector_kit.settings import RETRY_BUDGET_DESCRIPTION, RETRY_BUDGET_SECONDS, ConnectionSettings, parse_settings
from connector_kit.spec_schema import airbyte_schema
from listmonk_client.client import ListmonkClient
from listmonk_client.retry import RetryPolicy, retry_for

SPEC_PATH = Path(__file__).with_name("spec.json")
DOCS_URL = "https://github.com/airbyte-listmonk/airbyte-listmonk/blob/main/docs/source-listmonk.md"


class SourceConfig(ConnectionSettings):
    """listmonk source configuration."""

    model_config = ConfigDict(extra="ignore", title="listmonk Source Spec")

    start_date: Optional[datetime] = Field(
        None, title="Start date",
        description=(
            "Only for the first incremental sync: subscribers and subscriptions last changed before this UTC time "
            "are skipped. Leave empty to read everything."
        ),
        examples=["2024-01-01T00:00:00Z"],
        json_schema_extra={"order": 5, "format": "date-time"},
    )
    lookback_seconds: int = Field(
        300, ge=0, le=86_400, title="Lookback window (seconds)",
        description=(
            "Incremental reads re-read changes this far behind the saved cursor, so rows written by transactions "
            "that were still open at the last sync are not missed. Larger values only add duplicates."
        ),
        json_schema_extra={"order": 6},
    )
    page_size: int = Field(
        1000, ge=1, le=10_000, title="Page size",
        description="Rows per listmonk API call. Larger pages mean fewer calls but more memory per call.",
        json_schema_extra={"order": 7},
    )

    retry_budget_seconds: int = Field(
        RETRY_BUDGET_SECONDS, ge=1, le=3600, title="Wait for listmonk (seconds)",
        description=RETRY_BUDGET_DESCRIPTION,
        json_schema_extra={"order": 8},
    )

    @field_validator("start_date")
    @classmethod
    def _utc(cls, value: Optional[datetime]) -> Optional[datetime]:
        # A naive time is read as UTC, like listmonk's own timestamps.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def parse_config(raw: Mapping[str, Any]) -> SourceConfig:
    return parse_settings(SourceConfig, raw, "listmonk source")


def build_client(config: SourceConfig, retry: Optional[RetryPolicy] = None) -> ListmonkClient:
    return config.client(retry=retry or retry_for(config.retry_budget_seconds))


def connection_specification() -> dict[str, Any]:
    return airbyte_schema(SourceConfig)


def spec_document() -> dict[str, Any]:
    return {"documentationUrl": DOCS_URL, "connectionSpecification": connection_specification()}


def write_spec() -> None:
    SPEC_PATH.write_text(json.dumps(spec_document(), indent=2) + "\n")


if __name__ == "__main__":
    write_spec()
