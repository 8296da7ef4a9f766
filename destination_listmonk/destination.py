"""The Airbyte protocol side of the destination: spec, check, discover (data activation) and write."""

from __future__ import annotations

import argparse
import io
import logging
from typing import Any, Iterable, List, Mapping, Optional, Union

import orjson
from airbyte_cdk.destinations import Destination
from airbyte_cdk.exception_handler import init_uncaught_exception_handler
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses import models as protocol
from serpyco_rs import Serializer

from connector_kit.failures import traced
from connector_kit.settings import CHECK_RETRY, parse_settings
from destination_listmonk.activation import Routes, StreamSettings, stream_settings
from destination_listmonk.audit import Audit
from destination_listmonk.config import DestinationConfig
from destination_listmonk.discover import discover
from destination_listmonk.input_messages import InputItem, lines_of
from destination_listmonk.lists import ListDirectory, ListResolutionError
from destination_listmonk.protection import Rules
from destination_listmonk.reader_process import InputFile, staged_input
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


logger = logging.getLogger("airbyte")

# The CDK's AirbyteMessage has no `destination_catalog`: the discover answer is the protocol package's own message.
_PROTOCOL_MESSAGE = Serializer(protocol.AirbyteMessage, omit_none=True)


def serialize(message: Union[AirbyteMessage, protocol.AirbyteMessage]) -> str:
    if isinstance(message, protocol.AirbyteMessage):
        return orjson.dumps(_PROTOCOL_MESSAGE.dump(message)).decode()
    return orjson.dumps(AirbyteMessageSerializer.dump(message)).decode()


def _split_list_refs(refs: Iterable[str]) -> tuple[list[int], list[str]]:
    ids = [int(r) for r in refs if r.strip().isdigit()]
    names = [r.strip() for r in refs if not r.strip().isdigit()]
    return ids, names


class DestinationListmonk(Destination):
    # The Python CDK's destinations know spec, check and write; Airbyte's data-activation UI also asks `discover`.
    VALID_CMDS = {"spec", "check", "discover", "write"}

    def parse_args(self, args: List[str]) -> argparse.Namespace:
        if args[:1] != ["discover"]:
            return super().parse_args(args)
        parser = argparse.ArgumentParser(prog="destination-listmonk discover")
        parser.add_argument("--config", type=str, required=True, help="path to the JSON configuration file")
        parsed = parser.parse_args(args[1:])
        parsed.command = "discover"
        return parsed

    def run_cmd(self, parsed_args: argparse.Namespace) -> Iterable[Union[AirbyteMessage, protocol.AirbyteMessage]]:
        if parsed_args.command != "discover":
            yield from super().run_cmd(parsed_args)
            return
        spec = self.spec(logger)
        config = self.read_config(config_path=parsed_args.config)
        update_secrets(get_secrets(spec.connectionSpecification, config))  # before anything can print them
        check_config_against_spec_or_exit(config, spec)
        yield protocol.AirbyteMessage(type=protocol.Type.DESTINATION_CATALOG, destination_catalog=self.discover(config))

    def run(self, args: List[str]) -> None:
        init_uncaught_exception_handler(logger)
        for message in self.run_cmd(self.parse_args(args)):
            print(serialize(message))

    def discover(self, config: Mapping[str, Any]) -> protocol.DestinationCatalog:
        parsed = parse_config(config)
        with make_client(parsed) as client:
            try:
                return discover(parsed, client)
            except ListmonkError as error:
                raise traced(error, parsed.url, "reading subscribers for discover") from error

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

    def _parse_input_stream(self, input_stream: io.TextIOWrapper) -> Iterable[InputItem]:  # type: ignore[override]
        # Unlike the CDK's, keeps every line it cannot parse: the sync rejects it with its line number. The file
        # itself, so that a reader process can read it (reader_process).
        return InputFile(lines_of(input_stream))

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[InputItem],
    ) -> Iterable[AirbyteMessage]:
        parsed, settings = stream_settings(parse_config(config), configured_catalog)
        try:
            yield from self._write(parsed, settings, input_messages)
        except ListmonkError as error:
            raise traced(error, parsed.url, "writing subscribers") from error

    def _write(
        self, parsed: DestinationConfig, settings: list[StreamSettings], input_messages: Iterable[InputItem]
    ) -> Iterable[AirbyteMessage]:
        with make_client(parsed) as client:
            server = client.server_info()
            directory = ListDirectory(client.all_lists())
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
            for stream in settings:
                audit.info("stream", stream=stream.label, data_activation=stream.activation, strategy=stream.strategy,
                           soft_delete=stream.soft_delete, match_key=parsed.match_key)
            routes = Routes(parsed, settings, directory, rules)
            # The reader process is forked before the sync starts any thread.
            with staged_input(input_messages, routes) as staged:
                yield from SubscriberSync(parsed, client, routes, audit).run(staged)
