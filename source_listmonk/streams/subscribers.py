"""`subscribers`: full refresh, or incremental on `updated_at` with keyset progress checkpointed every page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from datetime import datetime
from typing import Any, Optional

from airbyte_cdk.sources.streams import CheckpointMixin

from source_listmonk import state as st
from source_listmonk.paging import newest_subscriber_change, updated_since
from source_listmonk.streams.base import Checkpoint, Item, ListmonkStream
from source_listmonk.timestamps import parse_optional_ts


class Subscribers(ListmonkStream, CheckpointMixin):
    cursor_field = "updated_at"
    source_defined_cursor = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state: st.ReadState = st.ReadState()

    @property
    def state(self) -> MutableMapping[str, Any]:
        return st.dump_state(self._state)

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self._state = st.load_state(st.ReadState, value)

    def items(self, incremental: bool) -> Iterator[Item]:
        pages = self._context.subscriber_pages
        if not incremental:
            for page in pages(0, None):
                yield from page
            return

        if not self._state.in_progress:
            self._state = st.begin(self._state, newest_subscriber_change(self._context.client))
        cut = st.cutoff(self._state, self._context.lookback, self._context.config.start_date)
        narrowing = updated_since(cut) if cut is not None else None
        for page in pages(self._state.last_id, narrowing):
            for row in page:
                if _changed_after(row, cut):
                    yield row
            self._state = st.advance(self._state, int(page[-1]["id"]))
            yield Checkpoint(self.state)
        self._state = st.finish(self._state)
        yield Checkpoint(self.state)


def _changed_after(row: Mapping[str, Any], cut: Optional[datetime]) -> bool:
    # Also applied to keyset pages: the offset fallback cannot filter server-side.
    if cut is None:
        return True
    updated = parse_optional_ts(row.get("updated_at"))
    return updated is None or updated > cut

