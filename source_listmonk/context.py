"""What every stream of one source run shares: the config, one client, and what the API user may do."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cached_property

from listmonk_client.client import ListmonkClient
from listmonk_client.errors import EndpointNotFound, PermissionDenied

from source_listmonk.config import SourceConfig
from source_listmonk.paging import KeysetPages, OffsetPages, SubscriberPages

SQL_QUERY_PERMISSION = "subscribers:sql_query"

logger = logging.getLogger("airbyte")


class ReadContext:
    def __init__(self, config: SourceConfig, client: ListmonkClient) -> None:
        self.config = config
        self.client = client

    @property
    def lookback(self) -> timedelta:
        return timedelta(seconds=self.config.lookback_seconds)

    @cached_property
    def can_query(self) -> bool:
        """Whether the API user may send `query=` SQL; asked once per run."""
        try:
            permissions = self.client.profile().permissions
        except EndpointNotFound:
            # listmonk before v4 has no roles: every API user may query.
            return True
        except PermissionDenied:
            permissions = frozenset()
        if SQL_QUERY_PERMISSION in permissions:
            return True
        logger.warning(
            "The listmonk API user lacks '%s': subscribers are read in full, page by page in id order, and "
            "filtered here. Incremental results are the same, but every sync transfers every subscriber. "
            "Grant the permission to read only what changed.",
            SQL_QUERY_PERMISSION,
        )
        return False

    @cached_property
    def subscriber_pages(self) -> SubscriberPages:
        pages = KeysetPages if self.can_query else OffsetPages
        return pages(self.client, self.config.page_size)
