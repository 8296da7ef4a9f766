"""The destination's configuration: one pydantic model that validates a config and generates spec.json."""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector_kit.settings import (
    CONNECTION_FIELDS, RETRY_BUDGET_DESCRIPTION, RETRY_BUDGET_SECONDS, ConnectionSettings,
)
from connector_kit.spec_schema import airbyte_schema
from destination_listmonk import paths

SPEC_PATH = Path(__file__).with_name("spec.json")
DOCS_URL = "https://github.com/airbyte-listmonk/airbyte-listmonk/blob/main/docs/destination-listmonk.md"

# A plain dotted key path: keys neither empty nor starting with a space, no brackets (record paths use them).
_KEY_PATH_RE = re.compile(r"^[^.\s\[\]][^.\[\]]*(\.[^.\s\[\]][^.\[\]]*)*$")
# The record paths in a name template: `{first_name} {contact.last}`.
TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")
# A protected-field entry: a top-level field, or `attribs.` followed by a dotted key path.
_PROTECTED_RE = re.compile(r"^(email|name|status|lists|attribs)(\.[^.\s]+)*$")


class Capability(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    STATUS = "status"
    LISTS = "lists"


class _Strategy(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfilesOnly(_Strategy):
    mode: Literal["profiles_only"] = Field("profiles_only", json_schema_extra={"const": "profiles_only"})
    model_config = ConfigDict(
        title="Profiles only (recommended)",
        json_schema_extra={
            "description": (
                "Creates missing subscribers and updates name and attributes; never changes a subscriber's status, "
                "blocklist or existing list subscriptions.\n\n"
                "| may touch | |\n|---|---|\n| create subscribers (on the target lists) | yes |\n"
                "| name, attributes, email (attribute key matching) | yes |\n| subscriber status | no |\n"
                "| existing list subscriptions | no |"
            )
        },
    )


class FullSync(_Strategy):
    mode: Literal["full_sync"] = Field("full_sync", json_schema_extra={"const": "full_sync"})
    model_config = ConfigDict(
        title="Full sync",
        json_schema_extra={
            "description": (
                "Also writes subscriber status and list subscriptions from the mapped columns, except protected "
                "fields; the consent floor still applies.\n\n| may touch | |\n|---|---|\n"
                "| create subscribers | yes |\n| name, attributes, email | yes |\n"
                "| subscriber status (status column) | yes |\n| list subscriptions (target lists, lists column) | add, "
                "confirm, unsubscribe |"
            )
        },
    )


class CreateOnly(_Strategy):
    mode: Literal["create_only"] = Field("create_only", json_schema_extra={"const": "create_only"})
    model_config = ConfigDict(
        title="Create only",
        json_schema_extra={
            "description": (
                "Creates subscribers that do not exist yet; never modifies an existing one.\n\n| may touch | |\n"
                "|---|---|\n| create subscribers | yes |\n| existing subscribers | no |"
            )
        },
    )


class UpdateOnly(_Strategy):
    mode: Literal["update_only"] = Field("update_only", json_schema_extra={"const": "update_only"})
    model_config = ConfigDict(
        title="Update only",
        json_schema_extra={
            "description": (
                "Updates the profiles (name, attributes) of subscribers that already exist; never creates one.\n\n"
                "| may touch | |\n|---|---|\n| create subscribers | no |\n| name, attributes, email | yes |\n"
                "| subscriber status, list subscriptions | no |"
            )
        },
    )


Strategy = Union[ProfilesOnly, FullSync, CreateOnly, UpdateOnly]

STRATEGY_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "profiles_only": frozenset({Capability.CREATE, Capability.UPDATE}),
    "full_sync": frozenset({Capability.CREATE, Capability.UPDATE, Capability.STATUS, Capability.LISTS}),
    "create_only": frozenset({Capability.CREATE}),
    "update_only": frozenset({Capability.UPDATE}),
}


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Field mapping")

    email_field: str = Field(
        "email",
        title="Email field",
        description=(
            "Record path holding the subscriber's email: dots for nesting (`contact.email`), `[0]` for an array's "
            "first element, `[primary=true]` for its first element whose `primary` is true (`email[primary=true].value`)."
        ),
        json_schema_extra={"order": 0},
    )
    name_field: Optional[str] = Field(
        "name",
        title="Name field",
        description="Record path holding the subscriber's name. Ignored when a name template is set.",
        json_schema_extra={"order": 1},
    )
    name_template: Optional[str] = Field(
        None,
        title="Name template",
        description="Builds the name from several fields, e.g. `{first_name} {last_name}` (paths allowed: `{contact.first}`).",
        examples=["{first_name} {last_name}"],
        json_schema_extra={"order": 2},
    )
    attributes: Literal["listed", "remaining", "object"] = Field(
        "remaining",
        title="Attributes",
        description=(
            "`remaining`: every record field not mapped to email, name, status or lists becomes an attribute "
            "(Airbyte's `_ab_*` metadata columns are never copied). `listed`: only the attribute fields below. "
            "`object`: the record already holds the attributes as one object, at the attributes object path "
            "(e.g. records read by source-listmonk)."
        ),
        json_schema_extra={"order": 3},
    )
    attribute_fields: list[str] = Field(
        default_factory=list,
        title="Attribute fields",
        description="With `listed`: record paths copied into attributes under the same (nested) keys, e.g. `plan`, `address.country`.",
        json_schema_extra={"order": 4},
    )
    attributes_object_field: str = Field(
        "attribs",
        title="Attributes object path",
        description="With `object`: record path of the object whose keys become the attributes.",
        json_schema_extra={"order": 5},
    )
    excluded_fields: list[str] = Field(
        default_factory=list,
        title="Excluded fields",
        description="With `remaining`: top-level record fields never copied into attributes.",
        json_schema_extra={"order": 6},
    )
    status_field: Optional[str] = Field(
        None,
        title="Status field",
        description="Record path holding `enabled`, `disabled` or `blocklisted`. Written only by the full sync strategy.",
        json_schema_extra={"order": 7},
    )
    lists_field: Optional[str] = Field(
        None,
        title="Lists field",
        description=(
            "Record path holding the lists a subscriber should be on: list IDs, list names, or objects "
            "`{id|name, subscription_status}`. Used on create, and by the full sync strategy for existing subscribers."
        ),
        json_schema_extra={"order": 8},
    )

    @field_validator("email_field", "name_field", "status_field", "lists_field", "attributes_object_field")
    @classmethod
    def _valid_path(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            paths.parse(value)  # its PathError says what is wrong and where
        return value

    @field_validator("name_template")
    @classmethod
    def _valid_template(cls, value: Optional[str]) -> Optional[str]:
        for path in TEMPLATE_RE.findall(value or ""):
            paths.parse(path.strip())
        return value

    @field_validator("attribute_fields")
    @classmethod
    def _plain_paths(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _KEY_PATH_RE.match(value):
                raise ValueError(
                    f"'{value}' is not an attribute field: its value is copied under the same keys, so it takes "
                    "plain keys and dots (no empty key, no [..])"
                )
        return values


class RejectedRecords(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Rejected records")

    policy: Literal["skip", "fail"] = Field(
        "skip",
        title="Policy",
        description="`skip`: report the bad record with its reason and go on. `fail`: stop the sync at the first bad record.",
        json_schema_extra={"order": 0},
    )
    max_rejected_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        title="Maximum rejected ratio",
        description="With `skip`: fail the sync when more than this share of the records (once 100 were seen) is rejected.",
        json_schema_extra={"order": 1},
    )


class Advanced(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Performance")

    batch_size: int = Field(
        10000, ge=1, le=20000, title="Batch size",
        description="Records looked up, planned and written together (new subscribers: one listmonk import per batch); "
        "a STATE is passed on once every record before it is committed.",
        json_schema_extra={"order": 0},
    )
    concurrency: int = Field(
        4, ge=1, le=32, title="Concurrent writes",
        description="Parallel write calls to listmonk; lowered automatically while listmonk pushes back.",
        json_schema_extra={"order": 1},
    )
    bulk_import: bool = Field(
        True, title="Write in bulk through listmonk's importer",
        description=(
            "Batches of new subscribers headed for target lists are created with one CSV import (all overwrite "
            "flags off) instead of one call each: much faster initial loads. On listmonk v6.1+, batches of profile "
            "updates (name and attributes) of subscribers already on a list go by one import too, with only "
            "`overwrite_userinfo`, so no status or subscription status moves; not where a name, attribute or list "
            "is protected. Needs the `subscribers:import` permission; listmonk runs one import at a time, so the "
            "sync waits for anyone else's."
        ),
        json_schema_extra={"order": 2},
    )
    snapshot_lookup: Literal["auto", "always", "never"] = Field(
        "auto", title="Read listmonk's export instead of looking every record up",
        description=(
            "Streams listmonk's subscriber export into memory (about 32 bytes a subscriber) so records that are "
            "certainly new or certainly unchanged need no lookup call; the rest are looked up as usual. `auto` starts "
            "reading it in the background once a sync has covered a 22nd of listmonk's subscribers (up to 2,000,000 of them) "
            "and switches to it once in, at an 11th at the latest, where reading the export costs what the lookups "
            "it saves would; small syncs never pay for it. A full-refresh stream starts it after 1,000 records (or "
            "its first batch, if smaller) and waits for it once one lookup call of the first batch's first records "
            "shows a re-sync (most of them already in listmonk). Applies when matching on email."
        ),
        json_schema_extra={"order": 4},
    )
    lookup_keys_per_call: int = Field(
        150, ge=1, le=1000, title="Keys per lookup call",
        description=(
            "Emails (or key values) per `GET /api/subscribers?query=` lookup. The query travels in the URL: "
            "150 keeps it under the 8 KB request line of a default nginx in front of listmonk; raise it where "
            "the proxy allows longer URLs."
        ),
        json_schema_extra={"order": 3},
    )

    retry_budget_seconds: int = Field(
        RETRY_BUDGET_SECONDS, ge=1, le=3600, title="Wait for listmonk (seconds)",
        description=RETRY_BUDGET_DESCRIPTION + " A listmonk restarted mid-sync is waited for, and the batch it "
        "interrupted is planned again.",
        json_schema_extra={"order": 5},
    )

    @field_validator("snapshot_lookup", mode="before")
    @classmethod
    def _snapshot_switch(cls, value: Any) -> Any:
        # Configs from 0.1.0 hold a boolean here.
        return {True: "always", False: "never"}.get(value, value) if isinstance(value, bool) else value


class DestinationConfig(ConnectionSettings):
    """listmonk destination configuration."""

    model_config = ConfigDict(extra="ignore", title="listmonk Destination Spec")

    strategy: Strategy = Field(
        default_factory=ProfilesOnly, title="Sync strategy",
        description="What this connector may change in listmonk. Protected fields and the consent floor apply on top.",
        json_schema_extra={"order": 10, "group": "sync"},
    )
    protected_fields: list[str] = Field(
        default_factory=list, title="Protected fields",
        description=(
            "Never written by this connector, whatever the input holds or the strategy says: any of `email`, `name`, "
            "`status`, `lists`, `attribs` (all attributes) or single attribute keys such as `attribs.vip` or "
            "`attribs.billing.plan`. Every skipped change is recorded in the audit trail."
        ),
        examples=[["status", "attribs.vip"]],
        json_schema_extra={"order": 11, "group": "sync"},
    )
    consent_floor: bool = Field(
        True, title="Consent floor",
        description=(
            "A blocklisted subscriber is never un-blocklisted, given new subscriptions or deleted, and an unsubscribed "
            "list subscription is never re-subscribed. Switch off only if you are sure."
        ),
        json_schema_extra={"order": 12, "group": "sync"},
    )
    mapping: FieldMapping = Field(
        default_factory=FieldMapping, title="Field mapping",
        json_schema_extra={"order": 13, "group": "sync"},
    )
    target_lists: list[str] = Field(
        default_factory=list, title="Target lists",
        description="Lists (IDs or exact names) that new subscribers are subscribed to. Full sync also adds existing subscribers.",
        examples=[["3", "Newsletter"]],
        json_schema_extra={"order": 14, "group": "sync"},
    )
    new_subscription_status: Literal["unconfirmed", "confirmed"] = Field(
        "unconfirmed", title="Status of new subscriptions",
        description="`confirmed` preconfirms new subscriptions (no opt-in email); `unconfirmed` leaves double opt-in to listmonk.",
        json_schema_extra={"order": 15, "group": "sync"},
    )
    match_key: str = Field(
        "email", title="Matching key",
        description=(
            "How records find their subscriber: `email` (case-insensitive, trimmed) or an attribute such as "
            "`attribs.crm_id`, so an email change upstream updates the subscriber instead of creating a duplicate."
        ),
        json_schema_extra={"order": 16, "group": "sync"},
    )
    attribute_merge: Literal["deep_merge", "replace"] = Field(
        "deep_merge", title="Attribute handling",
        description="`deep_merge`: incoming attributes are merged into listmonk's (listmonk-only keys survive). `replace`: the attributes become exactly the incoming ones (protected keys kept).",
        json_schema_extra={"order": 17, "group": "sync"},
    )
    null_values: Literal["skip", "clear"] = Field(
        "skip", title="Null values",
        description="`skip`: a null in the record leaves the value in listmonk. `clear`: a null attribute clears it.",
        json_schema_extra={"order": 18, "group": "sync"},
    )
    deletions: Literal["ignore", "unsubscribe", "blocklist", "delete"] = Field(
        "ignore", title="Deleted records",
        description=(
            "What a record marked deleted upstream (`_ab_cdc_deleted_at` set, or a stream in `soft_delete` mode) does: "
            "nothing, unsubscribe from the target lists, blocklist, or delete the subscriber."
        ),
        json_schema_extra={"order": 19, "group": "sync"},
    )
    dry_run: bool = Field(
        False, title="Dry run",
        description="Plan and report every change (audit trail and summary) without writing anything to listmonk.",
        json_schema_extra={"order": 20, "group": "sync"},
    )
    rejected_records: RejectedRecords = Field(
        default_factory=RejectedRecords, title="Rejected records",
        json_schema_extra={"order": 21, "group": "sync"},
    )
    audit_file: Optional[str] = Field(
        None, title="Audit file",
        description="Optional path of a JSON Lines file that receives the audit trail (skipped protected changes, rejections, summary).",
        json_schema_extra={"order": 22, "group": "sync"},
    )
    advanced: Advanced = Field(
        default_factory=Advanced, title="Performance",
        json_schema_extra={"order": 30, "group": "advanced"},
    )

    @field_validator("protected_fields")
    @classmethod
    def _protected(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PROTECTED_RE.match(value):
                raise ValueError(
                    f"'{value}' is not a protectable field: use email, name, status, lists, attribs or attribs.<key>[.<key>...]"
                )
        return values

    @field_validator("match_key")
    @classmethod
    def _match_key(cls, value: str) -> str:
        if value != "email" and not re.match(r"^attribs(\.[^.\s]+)+$", value):
            raise ValueError("must be `email` or an attribute path such as `attribs.crm_id`")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "DestinationConfig":
        if self.mapping.attributes == "listed" and self.match_key.startswith("attribs."):
            key_path = self.match_key[len("attribs."):]
            if key_path not in self.mapping.attribute_fields:
                raise ValueError(f"matching on {self.match_key} needs `{key_path}` among the mapping's attribute fields")
        return self

    @property
    def capabilities(self) -> frozenset[Capability]:
        return STRATEGY_CAPABILITIES[self.strategy.mode]


def connection_specification() -> dict[str, Any]:
    schema = airbyte_schema(DestinationConfig)
    for name in CONNECTION_FIELDS:
        schema["properties"][name]["group"] = "connection"
    schema["groups"] = [
        {"id": "connection", "title": "Connection"},
        {"id": "sync", "title": "What to sync"},
        {"id": "advanced", "title": "Performance"},
    ]
    for option in schema["properties"]["strategy"]["oneOf"]:
        option.setdefault("required", [])
        if "mode" not in option["required"]:
            option["required"].append("mode")
    return schema


def spec_document() -> dict[str, Any]:
    return {
        "documentationUrl": DOCS_URL,
        "supported_destination_sync_modes": ["append", "append_dedup", "overwrite", "soft_delete", "update"],
        "supportsIncremental": True,
        "connectionSpecification": connection_specification(),
    }


def write_spec() -> None:
    SPEC_PATH.write_text(json.dumps(spec_document(), indent=2) + "\n")


if __name__ == "__main__":
    write_spec()
