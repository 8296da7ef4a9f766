"""`discover` for data activation: the DESTINATION_CATALOG the Airbyte UI maps source fields onto. One object,
`subscribers`, with an operation per sync mode the configured strategy allows; its fields are the subscriber's
own and the attribute keys listmonk holds, read from the newest subscribers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from airbyte_cdk.models import DestinationSyncMode
from airbyte_protocol_dataclasses.models import DestinationCatalog, DestinationOperation

from destination_listmonk.activation import ATTRIB_PREFIX, SUBSCRIBERS, SYNC_MODE_CAPABILITIES, allowed
from destination_listmonk.config import Capability, DestinationConfig
from destination_listmonk.mapping import SUBSCRIBER_STATUSES
from listmonk_client.client import ListmonkClient
from listmonk_client.models import Subscriber

SAMPLE_SIZE = 1000  # newest subscribers read: one page
MAX_DEPTH = 4  # attribute nesting described key by key; deeper objects are offered whole
MAX_ATTRIBUTE_FIELDS = 500  # the most held first
# An attribute is offered as a matching key when its values look like an external ID: text or integers, unique
# among the sampled subscribers, and held by enough of them that uniqueness means something. Not "by most": a
# listmonk base often mixes CRM-synced subscribers (all with the CRM's ID) with sign-ups from listmonk's forms.
ID_MIN_HOLDERS = 10
ID_MIN_SHARE = 0.1

_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"),
)


def _json_type(value: Any) -> str:
    for python_type, name in _JSON_TYPES:  # bool before int: True is an int too
        if isinstance(value, python_type):
            return name
    return "null"


@dataclass
class _Key:
    holders: int = 0
    types: set[str] = field(default_factory=set)
    values: set[Any] = field(default_factory=set)


@dataclass
class AttributeProfile:
    """Which attribute paths the sampled subscribers hold, with what types and how many distinct values."""

    sampled: int = 0
    keys: dict[str, _Key] = field(default_factory=dict)

    @classmethod
    def of(cls, subscribers: Iterable[Subscriber]) -> "AttributeProfile":
        profile = cls()
        for subscriber in subscribers:
            profile.sampled += 1
            profile._walk(subscriber.attribs or {}, ())
        return profile

    def _walk(self, node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            if not key or "." in key:
                continue  # not addressable by a dotted path
            path = prefix + (key,)
            if isinstance(value, Mapping) and value and len(path) < MAX_DEPTH:
                self._walk(value, path)
                continue
            if value is None:
                continue
            seen = self.keys.setdefault(".".join(path), _Key())
            seen.holders += 1
            seen.types.add(_json_type(value))
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                seen.values.add(str(value).strip())

    def fields(self) -> list[str]:
        ranked = sorted(self.keys, key=lambda k: (-self.keys[k].holders, k))[:MAX_ATTRIBUTE_FIELDS]
        return sorted(ranked)

    def external_ids(self) -> list[str]:
        needed = max(ID_MIN_HOLDERS, int(self.sampled * ID_MIN_SHARE))
        return sorted(
            path for path, seen in self.keys.items()
            if seen.holders >= needed
            and seen.types <= {"string", "integer"}
            and len(seen.values) == seen.holders
            and "" not in seen.values
        )

    def schema(self, path: str) -> dict[str, Any]:
        types = self.keys[path].types
        if {"integer", "number"} <= types:
            types = types - {"integer"}
        return {"type": ["null", *sorted(types)]}


def _subscriber_fields(profile: AttributeProfile) -> dict[str, dict[str, Any]]:
    fields: dict[str, dict[str, Any]] = {
        "email": {"type": "string", "description": "The subscriber's email (matched case-insensitively, trimmed)."},
        "name": {"type": ["null", "string"], "description": "The subscriber's name."},
        "status": {
            "type": ["null", "string"], "enum": [*SUBSCRIBER_STATUSES, None],
            "description": "enabled, disabled or blocklisted; a blocklist is never lifted under the consent floor.",
        },
        "lists": {
            "type": ["null", "array"],
            "items": {"type": ["integer", "string", "object"]},
            "description": "Lists to subscribe to: IDs, names, or {name|id, subscription_status} objects "
                           "(a comma-separated text works too).",
        },
    }
    for path in profile.fields():
        fields[ATTRIB_PREFIX + path] = {**profile.schema(path), "description": f"Attribute `{path}`."}
    return fields


def _is_protected(name: str, protected: set[str]) -> bool:
    if name in protected:
        return True
    return name.startswith(ATTRIB_PREFIX) and any(name.startswith(p + ".") for p in protected)


def _operation(
    mode: DestinationSyncMode, fields: Mapping[str, dict[str, Any]], keys: list[str], required: list[str]
) -> DestinationOperation:
    schema = {
        "type": "object",
        # Fields beyond these are written as attributes under their own names.
        "additionalProperties": True,
        "required": required,
        "properties": dict(fields),
    }
    return DestinationOperation(
        object_name=SUBSCRIBERS, sync_mode=mode, json_schema=schema, matching_keys=[[k] for k in keys]
    )


def destination_catalog(config: DestinationConfig, profile: AttributeProfile) -> DestinationCatalog:
    """An operation per sync mode the configured strategy leaves room for, each offering only the fields that
    mode may write (never a protected one, save the matching keys) and listmonk's matching keys."""
    keys = ["email", *(ATTRIB_PREFIX + path for path in profile.external_ids())]
    everything = _subscriber_fields(profile)
    protected = set(config.protected_fields)
    writable = {n: f for n, f in everything.items() if n in keys or not _is_protected(n, protected)}
    operations: list[DestinationOperation] = []
    for mode in SYNC_MODE_CAPABILITIES:
        capabilities = allowed(mode, config.strategy.mode)
        if not capabilities:
            continue
        creates = Capability.CREATE in capabilities
        # Status and lists are written on create, and on update only by a strategy that manages them.
        fields = {
            name: schema for name, schema in writable.items()
            if creates or not (name == "status" and Capability.STATUS not in capabilities
                               or name == "lists" and Capability.LISTS not in capabilities)
        }
        # Every record that creates or updates carries an email, even when another key matches it.
        operations.append(_operation(mode, fields, keys, ["email"]))
    if config.deletions != "ignore":
        operations.append(_operation(DestinationSyncMode.soft_delete, {k: everything[k] for k in keys}, keys, []))
    return DestinationCatalog(operations=operations)


def discover(config: DestinationConfig, client: ListmonkClient) -> DestinationCatalog:
    newest = client.iter_subscribers(order_by="id", order="desc", per_page=SAMPLE_SIZE)
    return destination_catalog(config, AttributeProfile.of(islice(newest, SAMPLE_SIZE)))
