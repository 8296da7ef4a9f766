"""The Airbyte protocol side of the destination: spec, check and write."""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Optional

from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteMessage, ConfiguredAirbyteCatalog, FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from connector_kit.failures import traced
from connector_kit.settings import CHECK_RETRY, parse_settings
from destination_listmonk.audit import Audit
from destination_listmonk.config import DestinationConfig
from destination_listmonk.lists import ListDirectory, ListResolutionError
from destination_listmonk.mapping import RecordMapper
from destination_listmonk.protection import Rules
from destination_listmonk.sync import SubscriberSync
from listmonk_client.client import ListmonkClient
from listmonk_client.errors import ListmonkError
from listmonk_client.preflight import preflight
from listmonk_client.retry import RetryPolicy, retry_for


def parse_config(raw: Mapping[str, Any]) -> DestinationConfig:
    return parse_settings(DestinationConfig, raw, "listmonk destination")


def make_client(config: DestinationConfig, retry: Optional[RetryPolicy] = None) -> ListmonkClient:
    retry = retry or retry_for(config.advanced.retry_budget_seconds)
    return config.client(retry=retry, pool_size=max(16, config.advanced.concurrency * 2))


def required_permissions(config: DestinationConfig) -> set[str]:
    needed = {"subscribers:get_all", "subscribers:sql_query", "lists:get_all"}
    if not config.dry_run:
        needed.add("subscribers:manage")
    if config.advanced.bulk_import and not config.dry_run:
        needed.add("subscribers:import")
    return needed


def _split_list_refs(refs: Iterable[str]) -> tuple[list[int], list[str]]:
    ids = [int(r) for r in refs if r.strip().isdigit()]
    names = [r.strip() for r in refs if not r.strip().isdigit()]
    return ids, names


class DestinationListmonk(Destination):
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            parsed = parse_config(config)
        except AirbyteTracedException as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
        list_ids, list_names = _split_list_refs(parsed.target_lists)
        with make_client(parsed, CHECK_RETRY) as client:
            report = preflight(
                client, required_permissions=required_permissions(parsed), list_ids=list_ids, list_names=list_names
            )
        if not report.ok:
            return AirbyteConnectionStatus(status=Status.FAILED, message="\n".join(report.problems))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        parsed = parse_config(config)
        try:
            yield from self._write(parsed, configured_catalog, input_messages)
        except ListmonkError as error:
            raise traced(error, parsed.url, "writing subscribers") from error

    def _write(
        self, parsed: DestinationConfig, configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        with make_client(parsed) as client:
            server = client.server_info()
            directory = ListDirectory(client.iter_lists())
            try:
                target_ids = [directory.resolve(ref) for ref in parsed.target_lists]
            except ListResolutionError as error:
                raise AirbyteTracedException(
                    message=f"Target lists: {error}", failure_type=FailureType.config_error
                ) from error
            rules = Rules.from_config(parsed, target_ids, supports_patch=server.supports_patch)
            audit = Audit(file_path=parsed.audit_file, dry_run=parsed.dry_run)
            audit.info(
                "sync started",
                listmonk_version=server.version,
                update_call="PATCH" if server.supports_patch else "PUT with the full record",
                strategy=parsed.strategy.mode,
                protected_fields=sorted(parsed.protected_fields),
                consent_floor=parsed.consent_floor,
                dry_run=parsed.dry_run,
            )
            sync = SubscriberSync(parsed, client, RecordMapper(parsed, directory), rules, configured_catalog, audit)
            yield from sync.run(input_messages)
