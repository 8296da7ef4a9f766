"""Full-refresh streams read as listmonk returns them: lists (at once), campaigns (with their view/click/bounce stats), bounces."""

from __future__ import annotations

from collections.abc import Iterator

from source_listmonk.streams.base import Item, ListmonkStream


class _PagedStream(ListmonkStream):
    path: str

    def items(self, incremental: bool) -> Iterator[Item]:
        # Oldest first, so rows created during the read land on later pages instead of shifting earlier ones.
        params = {"order_by": "created_at", "order": "asc"}
        yield from self._context.client.iter_pages(self.path, params, per_page=self._context.config.page_size)


class Lists(ListmonkStream):
    def items(self, incremental: bool) -> Iterator[Item]:
        # Not paged: listmonk cuts a page of lists before it sorts it (see ListmonkClient.list_rows).
        yield from self._context.client.list_rows()


class Campaigns(_PagedStream):
    path = "/api/campaigns"


class Bounces(_PagedStream):
    path = "/api/bounces"
