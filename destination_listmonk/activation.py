"""Data activation: what each configured stream asks of the write. A stream mapped in the Airbyte UI names a
destination object (`destination_object_name`), a sync mode and a matching key (its `primary_key`), and its
records already carry listmonk's field names; a stream without an object name follows the config as before."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from airbyte_cdk.models import (
    ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, FailureType, SyncMode,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connector_kit.settings import parse_settings
from destination_listmonk import paths
from destination_listmonk.config import STRATEGY_CAPABILITIES, Capability, DestinationConfig, FieldMapping
from destination_listmonk.lists import ListDirectory
from destination_listmonk.mapping import Desired, RecordError, RecordMapper, Rejected
from destination_listmonk.protection import Rules

SUBSCRIBERS = "subscribers"
OBJECTS = (SUBSCRIBERS,)
ATTRIBS = "attribs"
ATTRIB_PREFIX = ATTRIBS + "."
SUBSCRIBER_FIELDS = ("email", "name", "status", "lists")
_METADATA_PREFIXES = ("_ab_", "_airbyte_")

# What each destination sync mode may do to subscribers. The configured strategy stays the ceiling: a stream's
# strategy is what both allow, so a sync mode never widens what the config lets the connector change.
SYNC_MODE_CAPABILITIES: dict[DestinationSyncMode, frozenset[Capability]] = {
    DestinationSyncMode.append: frozenset({Capability.CREATE}),
    DestinationSyncMode.update: frozenset({Capability.UPDATE, Capability.STATUS, Capability.LISTS}),
    DestinationSyncMode.append_dedup: frozenset(Capability),
}

# Records of an activation stream, once `attribs.*` and other attribute fields are gathered under `attribs`.
ACTIVATION_MAPPING = FieldMapping(
    email_field="email", name_field="name", status_field="status", lists_field="lists",
    attributes="object", attributes_object_field=ATTRIBS,
)


def _config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, failure_type=FailureType.config_error)


@dataclass(frozen=True)
class StreamSettings:
    namespace: Optional[str]
    name: str
    activation: bool  # mapped in the UI: records already carry listmonk's field names
    strategy: str
    capabilities: frozenset[Capability]
    soft_delete: bool
    match_key: Optional[str]  # None: the config's
    whole_dataset: bool = False  # read in full refresh: the source sends everything it holds, every sync

    @property
    def label(self) -> str:
        return self.name if self.namespace is None else f"{self.namespace}.{self.name}"


def allowed(sync_mode: DestinationSyncMode, configured: str) -> frozenset[Capability]:
    """What a stream in `sync_mode` may do under the configured strategy; nothing if it could neither create nor
    update a subscriber."""
    both = STRATEGY_CAPABILITIES[configured] & SYNC_MODE_CAPABILITIES[sync_mode]
    return both if both & {Capability.CREATE, Capability.UPDATE} else frozenset()


def strategy_for(sync_mode: DestinationSyncMode, configured: str) -> tuple[str, frozenset[Capability]]:
    """The strategy an activation stream in `sync_mode` runs under the configured one, named after the configured
    strategy it equals, or else after the configured strategy and the sync mode that narrows it."""
    capabilities = allowed(sync_mode, configured)
    if not capabilities:
        raise _config_error(
            f"The sync mode `{sync_mode.value}` cannot run under the `{configured}` strategy, which allows "
            "neither: choose another sync mode for the stream, or another strategy in the destination settings.")
    for name, named in STRATEGY_CAPABILITIES.items():
        if named == capabilities:
            return name, capabilities
    return f"{configured} restricted to {sync_mode.value}", capabilities


def _match_key(stream: ConfiguredAirbyteStream) -> Optional[str]:
    """The matching key chosen in the UI, which the platform passes as the stream's primary key."""
    keys = [".".join(part for part in key) for key in stream.primary_key or [] if key]
    if len(keys) > 1:
        raise _config_error(
            f"Stream {stream.stream.name}: one matching key is supported, got {', '.join(keys)}.")
    return keys[0] if keys else None


def _settings(stream: ConfiguredAirbyteStream, config: DestinationConfig) -> StreamSettings:
    mode = stream.destination_sync_mode
    whole = stream.sync_mode == SyncMode.full_refresh
    soft_delete = mode == DestinationSyncMode.soft_delete
    name, namespace = stream.stream.name, stream.stream.namespace
    target = stream.destination_object_name
    if target is None:
        return StreamSettings(namespace, name, False, config.strategy.mode, config.capabilities, soft_delete, None, whole)
    if target not in OBJECTS:
        raise _config_error(
            f"Stream {name} is mapped to `{target}`, which listmonk does not have: map it to "
            f"{', '.join(f'`{o}`' for o in OBJECTS)}.")
    if soft_delete:
        if config.deletions == "ignore":
            raise _config_error(
                f"Stream {name} deletes subscribers (soft delete) but the destination's `Deleted records` setting "
                "is `ignore`: set it to unsubscribe, blocklist or delete.")
        strategy, capabilities = config.strategy.mode, config.capabilities
    elif mode in SYNC_MODE_CAPABILITIES:
        strategy, capabilities = strategy_for(mode, config.strategy.mode)
    else:
        raise _config_error(
            f"Stream {name}: the sync mode `{mode.value}` is not offered for `{target}`; use append (insert), "
            "update, append_dedup (upsert) or soft_delete.")
    return StreamSettings(namespace, name, True, strategy, capabilities, soft_delete, _match_key(stream), whole)


def stream_settings(config: DestinationConfig, catalog: ConfiguredAirbyteCatalog) -> tuple[DestinationConfig, list[StreamSettings]]:
    """Each configured stream's settings, and the config with the write's one matching key: one lookup per batch
    serves every stream, so streams that name different matching keys are refused."""
    settings = [_settings(stream, config) for stream in catalog.streams]
    keys = {s.match_key or config.match_key for s in settings} or {config.match_key}
    if len(keys) > 1:
        raise _config_error(
            f"The streams of one sync must share one matching key, got {', '.join(sorted(keys))}; "
            "sync the streams in separate connections, or choose one matching key for all.")
    (key,) = keys
    if key != config.match_key:
        # Validated again: the key must be one listmonk can look up, and fit the config's mapping.
        config = parse_settings(DestinationConfig, {**config.model_dump(), "match_key": key}, "listmonk destination")
    return config, settings


def subscriber_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record in listmonk's field names, shaped for ACTIVATION_MAPPING: `email`, `name`, `status`, `lists` and
    Airbyte's metadata stay; an `attribs` object, `attribs.<path>` fields and every other field become attributes
    (the last two as in Customer.io's destination: what is not a subscriber field is an attribute)."""
    shaped: dict[str, Any] = {}
    held = record.get(ATTRIBS)
    attribs: dict[str, Any] = paths.copy_json(held) if isinstance(held, Mapping) else {}
    if held is not None and not isinstance(held, Mapping):
        raise RecordError("attribs must be an object")
    for key, value in record.items():
        if key in SUBSCRIBER_FIELDS or key.startswith(_METADATA_PREFIXES):
            shaped[key] = value
        elif key.startswith(ATTRIB_PREFIX):
            path = paths.split(key[len(ATTRIB_PREFIX):])
            if "" in path:
                raise RecordError(f"field '{key}' does not name an attribute (attribs.<key>[.<key>...])")
            paths.set_(attribs, path, value)
        elif key != ATTRIBS:
            attribs[key] = value
    shaped[ATTRIBS] = attribs
    return shaped


class ActivationMapper:
    """RecordMapper for records already in listmonk's field names."""

    def __init__(self, mapper: RecordMapper) -> None:
        self._mapper = mapper

    def map(self, record: Mapping[str, Any], position: int, soft_delete: bool = False) -> Union[Desired, Rejected]:
        try:
            shaped = subscriber_fields(record)
        except RecordError as error:
            email = record.get("email")
            return Rejected(position, str(error), {"email": email} if isinstance(email, str) else {})
        return self._mapper.map(shaped, position, soft_delete)


class Routes:
    """Per configured stream, the mapper its records go through and the rules their plans follow. A record of a
    stream the catalog does not hold is rejected: nobody asked for it to be written."""

    def __init__(
        self, config: DestinationConfig, settings: list[StreamSettings], directory: ListDirectory, base_rules: Rules
    ) -> None:
        activation_config = config.model_copy(update={"mapping": ACTIVATION_MAPPING})
        self.configs: list[DestinationConfig] = []
        self.rules: list[Rules] = []
        self._mappers: list[Union[RecordMapper, ActivationMapper]] = []
        self._soft_delete: list[bool] = []
        self._index: dict[tuple[Optional[str], str], int] = {}
        self._by_name: dict[str, int] = {}
        self.whole_dataset = bool(settings) and all(stream.whole_dataset for stream in settings)
        for index, stream in enumerate(settings):
            self._index[(stream.namespace, stream.name)] = index
            self._by_name.setdefault(stream.name, index)
            self._soft_delete.append(stream.soft_delete)
            self.rules.append(dataclasses.replace(base_rules, mode=stream.strategy, capabilities=stream.capabilities))
            if stream.activation:
                self.configs.append(activation_config)
                self._mappers.append(ActivationMapper(RecordMapper(activation_config, directory, index)))
            else:
                self.configs.append(config)
                self._mappers.append(RecordMapper(config, directory, index))

    def mapper_of(self, namespace: Optional[str], stream: str) -> Callable[[Mapping[str, Any], int],
                                                                           Union[Desired, Rejected]]:
        """What maps the records of one stream, as a function of (data, position): a stream not in the configured
        catalog gets every record rejected. Routed once, for a stager to keep by stream."""
        index = self._route(namespace, stream)
        if index is None:
            return lambda data, position: Rejected(position, f"stream '{stream}' is not in the configured catalog")
        mapper = self._mappers[index].map
        if self._soft_delete[index]:
            return lambda data, position: mapper(data, position, True)
        return mapper

    def _route(self, namespace: Optional[str], stream: str) -> Optional[int]:
        """The configured stream a record belongs to; a namespace left out on either side matches any."""
        index = self._index.get((namespace, stream))
        if index is None:
            index = self._index.get((None, stream)) if namespace is not None else self._by_name.get(stream)
        return index

    def rules_of(self, desired: Desired) -> Rules:
        return self.rules[desired.stream]
