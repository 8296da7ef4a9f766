"""The connection settings both connectors ask for, and config validation that the Airbyte UI can show."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Literal, Optional, TypeVar

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from listmonk_client.client import ListmonkClient
from listmonk_client.retry import RetryPolicy

CONNECTION_FIELDS = ("url", "username", "token", "auth_method", "verify_tls")

# `check` should answer in seconds, so it retries little; a sync retries with the full budget.
CHECK_RETRY = RetryPolicy(max_attempts=2, base_delay=0.5, max_elapsed=10.0)
# How long a sync waits, per call, for a listmonk that is unreachable or restarting: past a minute's restart.
RETRY_BUDGET_SECONDS = 120
RETRY_BUDGET_DESCRIPTION = (
    "How long a call waits for a listmonk that is unreachable, restarting or pushing back (connection refused or "
    "reset, 429, 502, 503, 504) before the sync fails with a transient error, which Airbyte retries."
)

Settings = TypeVar("Settings", bound="ConnectionSettings")

logger = logging.getLogger("airbyte")


class ConnectionSettings(BaseModel):
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

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must start with http:// or https:// followed by a host, e.g. https://lists.example.com")
        return value

    def client(self, *, retry: Optional[RetryPolicy] = None, pool_size: int = 16) -> ListmonkClient:
        if not self.verify_tls:
            logger.warning(
                "verify_tls is off: the listmonk server's TLS certificate is not checked, so anyone between this "
                "connector and %s could read the API token. Turn it on once the server has a trusted certificate.",
                self.url,
            )
        return ListmonkClient(
            self.url,
            self.username,
            self.token.get_secret_value(),
            auth_method=self.auth_method,
            verify_tls=self.verify_tls,
            retry=retry,
            pool_size=pool_size,
        )


def parse_settings(model: type[Settings], raw: Mapping[str, Any], what: str) -> Settings:
    """The validated config; problems become a config_error naming each field (never echoing values)."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'config'}: {item['msg']}"
            for item in error.errors(include_input=False)
        )
        raise AirbyteTracedException(
            message=f"Invalid {what} configuration: {problems}",
            internal_message=problems,
            failure_type=FailureType.config_error,
        ) from None
