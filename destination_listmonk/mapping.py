"""Turns one upstream record into the subscriber it describes, or a rejection with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Optional, Union

from destination_listmonk import paths
from destination_listmonk.config import TEMPLATE_RE, DestinationConfig
from destination_listmonk.lists import ListDirectory, ListResolutionError

SUBSCRIBER_STATUSES = ("enabled", "disabled", "blocklisted")
SUBSCRIPTION_STATUSES = ("unconfirmed", "confirmed", "unsubscribed")
# No NUL either: PostgreSQL text cannot hold it, and a lookup quoting it (sql.quote_literal) would fail the batch.
_EMAIL_RE = re.compile(r"^[^@\s<>,;\"\x00]+@[^@\s<>,;\"\x00]+$")
_METADATA_PREFIXES = ("_ab_", "_airbyte_")
CDC_DELETED_AT = "_ab_cdc_deleted_at"


@dataclass(frozen=True)
class ListIntent:
    list_id: int
    status: Optional[str] = None  # None: the configured status for new subscriptions


@dataclass(frozen=True)
class Desired:
    """What the upstream record says the subscriber should look like. None means "not given"."""

    position: int
    key: str
    email: Optional[str] = None
    name: Optional[str] = None
    attribs: Optional[dict[str, Any]] = None
    status: Optional[str] = None
    lists: Optional[tuple[ListIntent, ...]] = None
    deleted: bool = False
    stream: int = 0  # which of the write's stream settings (activation.Routes) its record came through

    def __init__(self, position: int, key: str, email: Optional[str] = None, name: Optional[str] = None,
                 attribs: Optional[dict[str, Any]] = None, status: Optional[str] = None,
                 lists: Optional[tuple[ListIntent, ...]] = None, deleted: bool = False, stream: int = 0) -> None:
        # The generated __init__ of a frozen dataclass sets each field through object.__setattr__: a third of
        # mapping a record. Filling the instance dict directly is twice as fast; assignment still raises.
        self.__dict__.update(position=position, key=key, email=email, name=name, attribs=attribs, status=status,
                             lists=lists, deleted=deleted, stream=stream)


@dataclass(frozen=True)
class Rejected:
    position: int
    reason: str
    record_hint: dict[str, Any] = field(default_factory=dict)


class RecordError(ValueError):
    pass


def normalise_email(value: Any) -> str:
    if not isinstance(value, str):
        raise RecordError(f"email must be a string, got {type(value).__name__}")
    email = value.strip().lower()
    if not email:
        raise RecordError("email is empty")
    if len(email) > 1000 or not _EMAIL_RE.match(email):
        raise RecordError(f"'{email[:100]}' is not a valid email address")
    return email


def _remaining(record: Mapping[str, Any], excluded: set[str]) -> dict[str, Any]:
    """The `remaining` attributes: every field but the mapped, the excluded and Airbyte's metadata."""
    # A plain loop with local names: a third cheaper than the comprehension, once per record.
    remaining = {}
    for key, value in record.items():
        if key not in excluded and not key.startswith(_METADATA_PREFIXES):
            remaining[key] = value
    return remaining


def _top_key(path: tuple[paths.Step, ...]) -> Optional[str]:
    """The key of a path that is one key of the record itself."""
    return path[0] if len(path) == 1 and type(path[0]) is str else None


class RecordMapper:
    def __init__(self, config: DestinationConfig, directory: ListDirectory, stream: int = 0) -> None:
        self._config = config
        self._stream = stream
        self._mapping = config.mapping
        self._directory = directory
        self._email_path = paths.parse(self._mapping.email_field)
        self._name_path = paths.parse(self._mapping.name_field) if self._mapping.name_field else None
        self._status_path = paths.parse(self._mapping.status_field) if self._mapping.status_field else None
        self._lists_path = paths.parse(self._mapping.lists_field) if self._mapping.lists_field else None
        self._attributes_path = paths.parse(self._mapping.attributes_object_field)
        self._key_path = None if config.match_key == "email" else paths.split(config.match_key)[1:]
        self._template_paths = {text: paths.parse(text.strip())
                                for text in TEMPLATE_RE.findall(self._mapping.name_template or "")}
        mapped_roots = {self._email_path[0]}
        for optional in (self._name_path, self._status_path, self._lists_path, *self._template_paths.values()):
            if optional:
                mapped_roots.add(optional[0])
        self._excluded_roots = mapped_roots | set(self._mapping.excluded_fields)
        # The common mapping (email and name at top-level keys, the remaining fields as attributes, matched by
        # email) has a path of its own: a third of mapping a record went on the general path's calls.
        self._email_key = _top_key(self._email_path)
        self._name_key = _top_key(self._name_path) if self._name_path else None
        if (self._email_key is not None and self._key_path is None and self._mapping.attributes == "remaining"
                and not self._mapping.name_template and (self._name_path is None or self._name_key is not None)
                and self._status_path is None and self._lists_path is None):
            self.map = self._map_top_level  # type: ignore[method-assign]

    def map(self, record: Mapping[str, Any], position: int, soft_delete: bool = False) -> Union[Desired, Rejected]:
        try:
            return self._map(record, position, soft_delete)
        except RecordError as error:
            hint = paths.get(record, self._email_path)
            return Rejected(position=position, reason=str(error), record_hint={"email": hint} if hint else {})

    def _map_top_level(self, record: Mapping[str, Any], position: int,
                       soft_delete: bool = False) -> Union[Desired, Rejected]:
        """map() of the common mapping: the same checks, in the same order, with the same reasons."""
        if type(record) is not dict:
            return RecordMapper.map(self, record, position, soft_delete)
        raw_email = record.get(self._email_key)
        try:
            email = None if raw_email is None else normalise_email(raw_email)
            attribs = _remaining(record, self._excluded_roots)
            if email is None:
                raise RecordError(f"no email at '{self._mapping.email_field}'")
            name = None if self._name_key is None else self._name_text(record.get(self._name_key))
        except RecordError as error:
            return Rejected(position=position, reason=str(error), record_hint={"email": raw_email} if raw_email else {})
        deleted = soft_delete or record.get(CDC_DELETED_AT) not in (None, "")
        return Desired(position, email, email, name, attribs, None, None, deleted, self._stream)

    def _map(self, record: Mapping[str, Any], position: int, soft_delete: bool) -> Desired:
        deleted = soft_delete or record.get(CDC_DELETED_AT) not in (None, "")
        raw_email = paths.get(record, self._email_path)
        email: Optional[str] = None
        if raw_email is not None:
            email = normalise_email(raw_email)
        attribs = self._attribs(record)
        if self._key_path is None:
            if email is None:
                raise RecordError(f"no email at '{self._mapping.email_field}'")
            key = email
        else:
            key_value = paths.get(attribs or {}, self._key_path)
            if key_value is None or isinstance(key_value, (dict, list)) or str(key_value).strip() == "":
                raise RecordError(f"no value for the matching key {self._config.match_key}")
            key = str(key_value).strip()
            if "\x00" in key:
                raise RecordError(f"the matching key {self._config.match_key} contains a NUL character")
            if email is None and not deleted:
                raise RecordError(f"no email at '{self._mapping.email_field}'")
        name, status, lists = self._name(record), self._status(record), self._lists(record)
        # Positional, in field order: keyword arguments cost a tenth of mapping a record.
        return Desired(position, key, email, name, attribs, status, lists, deleted, self._stream)

    def _name(self, record: Mapping[str, Any]) -> Optional[str]:
        template = self._mapping.name_template
        if template:
            def substitute(match: re.Match[str]) -> str:
                value = paths.get(record, self._template_paths[match.group(1)])
                return "" if value is None else str(value)

            name = " ".join(TEMPLATE_RE.sub(substitute, template).split())
            return name or None
        if self._name_path is None:
            return None
        return self._name_text(paths.get(record, self._name_path))

    def _name_text(self, value: Any) -> Optional[str]:
        """The name a value at the name field gives."""
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise RecordError(f"name at '{self._mapping.name_field}' must be text")
        return str(value).strip() or None

    def _attribs(self, record: Mapping[str, Any]) -> dict[str, Any]:
        if self._mapping.attributes == "object":
            value = paths.get(record, self._attributes_path)
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise RecordError(f"attributes at '{self._mapping.attributes_object_field}' must be an object")
            return dict(value)
        if self._mapping.attributes == "listed":
            attribs: dict[str, Any] = {}
            for path in self._mapping.attribute_fields:
                keys = paths.split(path)
                if paths.has(record, keys):
                    paths.set_(attribs, keys, paths.get(record, keys))
            return attribs
        return _remaining(record, self._excluded_roots)

    def _status(self, record: Mapping[str, Any]) -> Optional[str]:
        if self._status_path is None:
            return None
        value = paths.get(record, self._status_path)
        if value is None:
            return None
        status = str(value).strip().lower()
        if status not in SUBSCRIBER_STATUSES:
            raise RecordError(f"status '{value}' is not one of {', '.join(SUBSCRIBER_STATUSES)}")
        return status

    def _lists(self, record: Mapping[str, Any]) -> Optional[tuple[ListIntent, ...]]:
        if self._lists_path is None:
            return None
        value = paths.get(record, self._lists_path)
        if value is None:
            return None
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, list):
            raise RecordError(f"lists at '{self._mapping.lists_field}' must be an array")
        intents: dict[int, ListIntent] = {}
        for item in value:
            status = None
            ref: Any = item
            if isinstance(item, Mapping):
                # By name first: list IDs differ between listmonk servers, names travel.
                ref = item.get("name") if item.get("name") not in (None, "") else item.get("id")
                status = item.get("subscription_status")
                if status is not None and status not in SUBSCRIPTION_STATUSES:
                    raise RecordError(f"subscription_status '{status}' is not one of {', '.join(SUBSCRIPTION_STATUSES)}")
            try:
                list_id = self._directory.resolve(ref)
            except ListResolutionError as error:
                raise RecordError(str(error)) from None
            intents[list_id] = ListIntent(list_id, status)
        return tuple(intents.values())
