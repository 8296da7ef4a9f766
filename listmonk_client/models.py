"""listmonk's objects as pydantic models; unknown server fields are kept (extra="allow")."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _none_as(empty: type) -> BeforeValidator:
    # listmonk sends null for some empty collections (e.g. `?minimal=true` lists).
    return BeforeValidator(lambda value: empty() if value is None else value)


Tags = Annotated[list[str], _none_as(list)]
JsonObject = Annotated[dict[str, Any], _none_as(dict)]

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


class ListmonkModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class SubscriptionState(BaseModel):
    """The part of a subscription that decides what may be written: which list, in which status."""

    model_config = ConfigDict(extra="ignore")

    id: int
    subscription_status: str = ""


class SubscriberState(BaseModel):
    """A subscriber as far as a sync compares and writes it. Lookups parse only these fields, straight from the
    response bytes: a third of the cost of the full model, on the path that reads every synced subscriber."""

    model_config = ConfigDict(extra="ignore")

    id: int
    email: str
    name: str = ""
    attribs: JsonObject = Field(default_factory=dict)
    status: str = ""
    lists: Annotated[list[SubscriptionState], _none_as(list)] = Field(default_factory=list)


class _FoundSubscribers(BaseModel):
    results: Annotated[list[SubscriberState], _none_as(list)] = Field(default_factory=list)


class FoundSubscribersEnvelope(BaseModel):
    """`{"data": {"results": [...]}}` of `GET /api/subscribers`."""

    data: _FoundSubscribers


class Subscription(SubscriptionState):
    """A list as it appears inside a subscriber, with that subscriber's subscription to it."""

    model_config = ConfigDict(extra="allow")

    uuid: str = ""
    name: str = ""
    type: str = ""
    optin: str = ""
    status: str | None = None
    tags: Tags = Field(default_factory=list)
    subscription_created_at: str | None = None
    subscription_updated_at: str | None = None
    subscription_meta: JsonObject = Field(default_factory=dict)


class Subscriber(SubscriberState):
    model_config = ConfigDict(extra="allow")

    uuid: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    lists: Annotated[list[Subscription], _none_as(list)] = Field(default_factory=list)  # type: ignore[assignment]


class MailingList(ListmonkModel):
    id: int
    uuid: str = ""
    name: str = ""
    type: str = ""
    optin: str = ""
    status: str | None = None
    tags: Tags = Field(default_factory=list)
    description: str = ""
    subscriber_count: int = 0
    subscriber_statuses: dict[str, int] | None = None
    created_at: str | None = None
    updated_at: str | None = None


class ImportStatus(ListmonkModel):
    name: str = ""
    total: int = 0
    imported: int = 0
    status: str = "none"

    @property
    def running(self) -> bool:
        return self.status in ("importing", "stopping")


class ServerInfo(ListmonkModel):
    version: str

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        """(major, minor, patch) from "v6.2.0", "v5.1.0", "v6.2.0-beta"...

        An unreadable version (a dev build) reads as (0, 0, 0), so callers pick
        the oldest, most compatible behaviour rather than a missing endpoint.
        """
        match = _VERSION.match(self.version.strip())
        if match is None:
            return (0, 0, 0)
        major, minor, patch = match.groups()
        return (int(major), int(minor), int(patch or 0))

    @property
    def supports_patch(self) -> bool:
        return self.version_tuple >= (6, 1, 0)

    @property
    def supports_split_overwrite(self) -> bool:
        """Import knows overwrite_userinfo / overwrite_subscription_status (v5 silently ignores them)."""
        return self.version_tuple >= (6, 0, 0)


class Profile(ListmonkModel):
    """The calling API user; `permissions` are its user role's."""

    username: str = ""
    permissions: frozenset[str] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _lift_role_permissions(cls, data: Any) -> Any:
        if isinstance(data, dict) and "permissions" not in data:
            role = data.get("user_role") or {}
            return {**data, "permissions": role.get("permissions") or []}
        return data


class Campaign(ListmonkModel):
    id: int


class Bounce(ListmonkModel):
    id: int
