"""The Airbyte protocol side of the listmonk source: spec, check, streams."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from connector_kit.settings import CHECK_RETRY
from listmonk_client.preflight import preflight
from source_listmonk.config import SPEC_PATH, build_client, parse_config
from source_listmonk.context import ReadContext
from source_listmonk.streams import Bounces, Campaigns, Lists, Subscribers, Subscriptions

REQUIRED_PERMISSIONS = frozenset({"subscribers:get_all", "lists:get_all"})


class SourceListmonk(AbstractSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecificationSerializer.load(json.loads(SPEC_PATH.read_text()))

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # Overridden so the user sees the problems one per line, not the repr() AbstractSource would show.
        ok, message = self.check_connection(logger, config)
        if ok:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=message)

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        with build_client(parse_config(config), CHECK_RETRY) as client:
            report = preflight(client, required_permissions=REQUIRED_PERMISSIONS)
        if report.ok:
            return True, None
        return False, "\n".join(report.problems)

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        parsed = parse_config(config)
        context = ReadContext(parsed, build_client(parsed))
        return [Subscribers(context), Subscriptions(context), Lists(context), Campaigns(context), Bounces(context)]
