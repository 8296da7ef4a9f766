"""The source's configuration: one pydantic model that validates a config and generates spec.json."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from listmonk_client.client import ListmonkClient

SPEC_PATH = Path(__file__).with_name("spec.json")
DOCS_URL = "https://github.com/airbyte-listmonk/airbyte-listmonk/blob/main/docs/source-listmonk.md"


class SourceConfig(BaseModel):
    """listmonk source configuration."""

    model_config = ConfigDict(extra="ignore", title="listmonk Source Spec")

    url: str = Field(
        ..., title="listmonk URL", description="Base URL of the listmonk server, e.g. `https://lists.example.com`.",
        examples=["https://lists.example.com"],
        json_schema_extra={"order": 0},
    )
    username: str = Field(
        ..., title="API user", description="listmonk API user (Admin > Users; type API).",
        json_schema_extra={"order": 1},
    )
    token: SecretStr = Field(
        ..., title="API token", description="The API user's token (or password for HTTP Basic).",
        json_schema_extra={"order": 2, "airbyte_secret": True},
    )
    auth_method: Literal["token", "basic"] = Field(
        "token", title="Authentication",
        description="`token`: `Authorization: token user:token` (listmonk v4+). `basic`: HTTP Basic with the same pair.",
        json_schema_extra={"order": 3},
    )
    verify_tls: bool = Field(
        True, title="Verify TLS certificate",
        description="Turn off only for a server with a self-signed certificate you trust.",
        json_schema_extra={"order": 4},
    )
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

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must start with http:// or https:// followed by a host, e.g. https://lists.example.com")
        return value

    @field_validator("start_date")
    @classmethod
    def _utc(cls, value: Optional[datetime]) -> Optional[datetime]:
        # A naive time is read as UTC, like listmonk's own timestamps.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def parse_config(raw: Mapping[str, Any]) -> SourceConfig:
    """The validated config; problems become a config_error the Airbyte UI shows to the user."""
    try:
        return SourceConfig.model_validate(dict(raw))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'config'}: {item['msg']}" for item in error.errors()
        )
        raise AirbyteTracedException(
            message=f"Invalid listmonk source configuration: {problems}",
            internal_message=problems,
            failure_type=FailureType.config_error,
        ) from None


def build_client(config: SourceConfig) -> ListmonkClient:
    return ListmonkClient(
        config.url,
        config.username,
        config.token.get_secret_value(),
        auth_method=config.auth_method,
        verify_tls=config.verify_tls,
    )


def _tidy(node: Any) -> Any:
    """Shape pydantic's schema the way Airbyte expects: no `anyOf` null branches."""
    if isinstance(node, dict):
        node = {key: _tidy(value) for key, value in node.items()}
        if "anyOf" in node:
            branches = [branch for branch in node.pop("anyOf") if branch.get("type") != "null"]
            node = {**branches[0], **node}
        if node.get("default", 0) is None:
            del node["default"]
        return node
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def connection_specification() -> dict[str, Any]:
    schema = _tidy(SourceConfig.model_json_schema())
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["additionalProperties"] = True
    return schema


def spec_document() -> dict[str, Any]:
    return {"documentationUrl": DOCS_URL, "connectionSpecification": connection_specification()}


def write_spec() -> None:
    SPEC_PATH.write_text(json.dumps(spec_document(), indent=2) + "\n")


if __name__ == "__main__":
    write_spec()
