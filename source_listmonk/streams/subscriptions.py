"""`subscriptions`: one row per subscriber and list, incremental by timestamps plus per-range status digests.

Every incremental read walks all subscribers in id order (the only way to see statuses listmonk changes
without a timestamp) and emits, per completed range of subscriber ids, what `digest.rows_to_emit` decides.
Only one range of subscribers is held in memory; state is checkpointed at range boundaries.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import datetime
from typing import Any, Optional

from airbyte_cdk.sources.streams import CheckpointMixin

from source_listmonk import digest
from source_listmonk import state as st
from source_listmonk.paging import newest_list_change, newest_subscriber_change, newest_subscription_change
from source_listmonk.records import scan_range, subscription_records, subscription_rows
from source_listmonk.streams.base import Checkpoint, Item, ListmonkStream
from source_listmonk.timestamps import LaterThan, later

# Checkpoint after this many completed ranges: the state carries every range's digest, so not every page.
RANGES_PER_CHECKPOINT = 10


class Subscriptions(ListmonkStream, CheckpointMixin):
    primary_key = ["subscriber_id", "list_id"]
    cursor_field = "subscription_updated_at"
    source_defined_cursor = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state: st.SubscriptionsState = st.SubscriptionsState()

    @property
    def state(self) -> MutableMapping[str, Any]:
        return st.dump_state(self._state)

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self._state = st.load_state(st.SubscriptionsState, value)

    def _high_water(self) -> Optional[datetime]:
        client = self._context.client
        newest = later(newest_subscriber_change(client), newest_list_change(client))
        if self._context.can_query:
            newest = later(newest, newest_subscription_change(client))
        return newest

    def items(self, incremental: bool) -> Iterator[Item]:
        if not incremental:
            for page in self._context.subscriber_pages(0, None):
                for subscriber in page:
                    yield from subscription_records(subscriber)
            return
        yield from _IncrementalPass(self)


class _IncrementalPass:
    """One incremental read of `subscriptions`, resumable from the stream's state."""

    def __init__(self, stream: Subscriptions) -> None:
        self._stream = stream
        context = stream._context
        if not stream._state.in_progress:
            stream._state = st.begin(stream._state, stream._high_water())
        self._start = stream._state
        cut = st.cutoff(self._start, context.lookback, context.config.start_date)
        self._after = LaterThan(cut) if cut is not None else None
        self._first_range = digest.range_of(self._start.last_id + 1)
        self._new: dict[int, str] = {}
        self._last_completed = self._first_range - 1

    def __iter__(self) -> Iterator[Item]:
        current: Optional[int] = None
        buffer: list[Mapping[str, Any]] = []
        since_checkpoint = 0
        for page in self._stream._context.subscriber_pages(self._start.last_id, None):
            start = 0
            while start < len(page):
                range_index = digest.range_of(_subscriber_id(page[start]))
                if current is not None and range_index != current:
                    yield from self._complete(current, buffer)
                    buffer = []
                    since_checkpoint += 1
                current = range_index
                # Pages are in id order: the range's part of the page ends where the next range's ids begin.
                end = bisect_left(page, digest.range_end(range_index) + 1, lo=start, key=_subscriber_id)
                buffer.extend(page[start:end])
                start = end
            if since_checkpoint >= RANGES_PER_CHECKPOINT:
                yield self._checkpoint()
                since_checkpoint = 0
        if current is not None:
            yield from self._complete(current, buffer)
        self._stream._state = st.finish(self._start, digests=self._digests(final=True), baseline=True)
        yield Checkpoint(self._stream.state)

    def _complete(self, range_index: int, subscribers: list[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        old = self._start.digests.get(range_index) if self._start.baseline else None
        # No stored digest under a baseline means the range held no subscriptions.
        old_digest = None if not self._start.baseline else digest.decode(old) if old else 0
        # Most ranges of most syncs hold no change: decided from the raw subscribers, building nothing.
        new_digest, any_moved = scan_range(subscribers, self._after)
        if not digest.nothing_to_emit(old_digest, new_digest, any_moved):
            rows = [row for subscriber in subscribers for row in subscription_rows(subscriber, self._after)]
            records, new_digest = digest.rows_to_emit(rows, old_digest)
            yield from records
        if new_digest:
            self._new[range_index] = digest.encode(new_digest)
        self._last_completed = range_index

    def _digests(self, final: bool) -> dict[int, str]:
        # Ranges before this attempt were finished by an interrupted one; ranges after the last completed
        # one keep their old digest until reached. Ranges skipped in between no longer hold anyone.
        kept = {
            index: value
            for index, value in self._start.digests.items()
            if index < self._first_range or (not final and index > self._last_completed)
        }
        return {**kept, **self._new}

    def _checkpoint(self) -> Checkpoint:
        self._stream._state = st.advance(
            self._start, digest.range_end(self._last_completed), digests=self._digests(final=False)
        )
        return Checkpoint(self._stream.state)


def _subscriber_id(subscriber: Mapping[str, Any]) -> int:
    return int(subscriber["id"])
