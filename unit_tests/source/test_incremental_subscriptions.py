"""Incremental `subscriptions` over many ranges of subscriber ids, read twice and three times: what changed
between two syncs comes out (also a status change listmonk leaves no timestamp on), a range where nothing
changed emits nothing, and a sync after no change emits nothing at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as s

from source_listmonk.digest import MAX_EXPLAINED_ROWS, STATUSES, range_of
from source_listmonk.streams.base import Checkpoint
from source_listmonk.streams.subscriptions import Subscriptions
from source_listmonk.timestamps import format_ts

Key = tuple[int, int]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)  # every row before the first sync
T1 = T0 + timedelta(hours=1)  # timestamped changes between the syncs
LISTS = (1, 2, 3)


class FakeListmonk:
    """What the stream reads of listmonk: subscribers in id order, pages of 7, and the newest change."""

    def __init__(self, table: dict[Key, str]) -> None:
        self.subscriptions = {key: {"status": status, "created": T0, "updated": T0} for key, status in table.items()}
        self.subscribers = {sid for sid, _ in table}
        self.newest = T0
        self.lookback = timedelta(0)
        self.config = SimpleNamespace(start_date=None)
        self.can_query = False

    def subscriber_pages(self, after_id: int, narrowing: Optional[Any]) -> Iterator[list[dict[str, Any]]]:
        ids = sorted(sid for sid in self.subscribers if sid > after_id)
        for start in range(0, len(ids), 7):
            yield [self._subscriber(sid) for sid in ids[start:start + 7]]

    def _subscriber(self, sid: int) -> dict[str, Any]:
        entries = [
            {"id": lid, "subscription_status": row["status"], "subscription_created_at": format_ts(row["created"]),
             "subscription_updated_at": format_ts(row["updated"]), "updated_at": format_ts(T0)}
            for (subscriber, lid), row in sorted(self.subscriptions.items()) if subscriber == sid
        ]
        return {"id": sid, "updated_at": format_ts(T0), "status": "enabled", "lists": entries}


class StreamOnFake(Subscriptions):
    def _high_water(self) -> Optional[datetime]:
        return self._context.newest  # type: ignore[attr-defined]


def sync(server: FakeListmonk, state: dict[str, Any]) -> tuple[dict[Key, str], dict[str, Any]]:
    """(emitted subscription statuses by key, final state) of one incremental read."""
    stream = StreamOnFake(server)  # type: ignore[arg-type]
    stream.state = state
    emitted: dict[Key, str] = {}
    for item in stream.items(incremental=True):
        if not isinstance(item, Checkpoint):
            emitted[(item["subscriber_id"], item["list_id"])] = item["subscription_status"]
    return emitted, json.loads(json.dumps(stream.state))  # as the platform hands it back


keys = s.tuples(s.integers(min_value=1, max_value=4500), s.sampled_from(LISTS))
tables = s.dictionaries(keys, s.sampled_from(STATUSES), min_size=1, max_size=120)
# silent: status changed, no timestamp moved; stamped: status and subscription_updated_at changed; touched:
# only subscription_updated_at moved (e.g. its meta changed).
changes = s.sampled_from(["none", "none", "none", "silent", "stamped", "touched", "removed"])


@settings(max_examples=60)
@given(tables, s.data())
def test_given_changes_between_syncs_then_each_comes_out_and_unchanged_ranges_stay_silent(
    table: dict[Key, str], data: s.DataObject
) -> None:
    server = FakeListmonk(table)
    first, state = sync(server, {})
    assert first == table

    silent, stamped, touched, removed = set(), set(), set(), set()
    for key in sorted(table):
        change = data.draw(changes, label=f"change {key}")
        if change == "removed":
            del server.subscriptions[key]
            removed.add(key)
        elif change == "touched":
            server.subscriptions[key]["updated"] = T1
            touched.add(key)
        elif change != "none":
            row = server.subscriptions[key]
            row["status"] = data.draw(s.sampled_from([st for st in STATUSES if st != row["status"]]))
            if change == "stamped":
                row["updated"] = T1
            (stamped if change == "stamped" else silent).add(key)
    added = {key for key in data.draw(s.sets(keys, max_size=3), label="added") if key not in table}
    for key in added:
        server.subscriptions[key] = {"status": "confirmed", "created": T1, "updated": T1}
        server.subscribers.add(key[0])
    server.newest = T1

    second, state = sync(server, state)
    now = {key: row["status"] for key, row in server.subscriptions.items()}
    changed = silent | stamped | touched | added
    assert {key: now[key] for key in changed} == {key: second[key] for key in changed}  # none lost, as they are now
    # Beyond the changed rows, only whole ranges holding a change without a timestamp (or a removal), or too
    # many timestamped rows to explain the digest by, come again.
    timestamped = [range_of(sid) for sid, _ in stamped | touched | added]
    unexplained = {range_of(sid) for sid, _ in silent | removed}
    unexplained |= {index for index in timestamped if timestamped.count(index) > MAX_EXPLAINED_ROWS}
    assert set(second) - changed <= {key for key in now if range_of(key[0]) in unexplained}
    quiet = {range_of(sid) for sid, _ in now} - unexplained - {range_of(sid) for sid, _ in changed}
    assert not {key for key in second if range_of(key[0]) in quiet}

    third, _ = sync(server, state)
    assert third == {}
