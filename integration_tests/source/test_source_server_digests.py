"""With `subscribers:sql_query`, listmonk's PostgreSQL computes each range's digest: an incremental read of
`subscriptions` transfers only the ranges whose digest changed and the subscribers whose timestamps moved, so
a read after no change transfers no subscriber at all. States of blake2b digests are walked in full once."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateMessageSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from listmonk_client.client import ListmonkClient
from listmonk_emulator import EmulatorServer
from source_listmonk import digest
from listmonk_client.sql import SqlExpr
from source_listmonk.paging import SUBSCRIBERS_PATH, subscribers_where
from source_listmonk.server_digest import DIGEST_SQL, RANGE_SQL, changed_ranges
from source_listmonk.streams import subscriptions

from source_harness import ReadResult, catalog, config, interrupted, read, subscription_keys

Key = tuple[int, int]


@dataclass
class Traffic:
    """Each `GET /api/subscribers` the source made: its per_page and how many subscribers came back."""

    pages: list[tuple[str, int]] = field(default_factory=list)

    def rows(self) -> int:
        """Subscribers transferred, leaving out the one-row probes (newest change, highest id)."""
        return sum(count for per_page, count in self.pages if per_page != "1")


@pytest.fixture
def traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traffic]:
    seen = Traffic()
    original = ListmonkClient.get_undecoded

    def counting(client: ListmonkClient, path: str, params: Any) -> Any:
        response = original(client, path, params)
        if path == SUBSCRIBERS_PATH:
            results = (json.loads(response.content).get("data") or {}).get("results") or []
            seen.pages.append((str(params.get("per_page")), len(results)))
        return response

    monkeypatch.setattr(ListmonkClient, "get_undecoded", counting)
    yield seen


def traced_read(traffic: Traffic, *args: Any) -> ReadResult:
    traffic.pages.clear()
    return read(*args)


def range_digests(records: list[dict[str, Any]], kind: str) -> dict[int, int]:
    by_range: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for row in records:
        by_range[digest.range_of(row["subscriber_id"])].append(
            (row["subscriber_id"], row["list_id"], row["subscription_status"])
        )
    return {index: digest.range_digest(rows, kind) for index, rows in by_range.items()}


def keys_in(records: list[dict[str, Any]], first_id: int, last_id: int) -> set[Key]:
    return {key for key in subscription_keys(records) if first_id <= key[0] <= last_id}


rows_strategy = s.dictionaries(
    s.tuples(s.integers(min_value=1, max_value=5_000_000), s.integers(min_value=1, max_value=100_000)),
    s.sampled_from(digest.STATUSES),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows_strategy)
def test_the_python_digest_of_any_rows_is_the_one_postgresql_computes(
    source_emulator: EmulatorServer, rows: dict[Key, str]
) -> None:
    values = ", ".join(f"({sid}, {lid}, '{status}'::subscription_status)" for (sid, lid), status in rows.items())
    sql = f"SELECT {RANGE_SQL}, {DIGEST_SQL} FROM (VALUES {values}) AS sl(subscriber_id, list_id, status) GROUP BY 1"
    with psycopg.connect(source_emulator.dsn) as conn:
        from_sql = {int(index): int(value) for index, value in conn.execute(sql).fetchall()}
    by_range: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for (sid, lid), status in rows.items():
        by_range[digest.range_of(sid)].append((sid, lid, status))
    assert from_sql == {index: digest.range_digest(keys) for index, keys in by_range.items()}


def test_given_the_digests_read_when_listmonk_checks_them_then_it_names_exactly_the_ranges_that_differ(
    emulator: EmulatorServer, admin: ListmonkClient
) -> None:
    emulator.seed(3500, list_ids=(1, 2))
    admin.change_subscriptions([1200, 2900], "unsubscribe", [2])
    records = read(config(emulator), catalog("subscriptions", incremental=False)).records["subscriptions"]
    known = range_digests(records, digest.CURRENT_KIND)
    assert set(known) == {0, 1, 2, 3}

    assert changed_ranges(admin, 0, None, known) == set()
    altered = {**known, 1: (known[1] + 1) % (1 << 64)}
    del altered[3]  # a range with no saved digest counts as changed
    assert changed_ranges(admin, 0, None, altered) == {1, 3}
    assert changed_ranges(admin, 0, digest.range_end(2), altered) == {1}
    assert changed_ranges(admin, digest.range_end(1), None, altered) == {3}


def test_given_nothing_changed_when_read_again_then_no_subscriber_is_transferred(
    emulator: EmulatorServer, traffic: Traffic
) -> None:
    emulator.seed(2500, list_ids=(1, 2))
    cfg = config(emulator, page_size=100)
    cat = catalog("subscriptions")
    first = traced_read(traffic, cfg, cat)
    assert traffic.rows() >= 2502  # the first read walks every subscriber

    second = traced_read(traffic, cfg, cat, first.final_state())
    assert second.records == {}
    assert traffic.rows() == 0
    # Beyond the one-row probes: one digest check and one read of what moved, for these three ranges.
    assert len([page for page in traffic.pages if page[0] != "1"]) == 2


def read_before_a_silent_resubscribe(
    emulator: EmulatorServer, admin: ListmonkClient, seeded: int, subscriber_id: int
) -> tuple[dict[str, Any], Any, ReadResult]:
    """(config, catalog, first read) of `subscriptions` over `seeded` subscribers on list 1, `subscriber_id`
    unsubscribed; after the read, that subscription is confirmed again through the lists endpoint, which moves no
    timestamp."""
    emulator.seed(seeded, list_ids=(1,))
    admin.change_subscriptions([subscriber_id], "unsubscribe", [1])
    cfg = config(emulator, page_size=500)
    cat = catalog("subscriptions")
    first = read(cfg, cat)
    admin.change_subscriptions([subscriber_id], "add", [1], status="confirmed")
    return cfg, cat, first


def test_given_a_silent_resubscribe_in_one_range_then_only_that_range_is_transferred_and_emitted(
    emulator: EmulatorServer, admin: ListmonkClient, traffic: Traffic
) -> None:
    cfg, cat, first = read_before_a_silent_resubscribe(emulator, admin, seeded=5000, subscriber_id=3500)
    second = traced_read(traffic, cfg, cat, first.final_state())
    rows = subscription_keys(second.records["subscriptions"])
    assert rows[(3500, 1)] == "confirmed"
    assert set(rows) == {(sid, 1) for sid in range(3000, 4000)}
    assert traffic.rows() == 1 + 1000  # the check names range 3 by one subscriber; then the range is read

    assert read(cfg, cat, second.final_state()).records == {}


def test_given_a_state_of_blake2b_digests_then_one_full_walk_and_then_server_checked_reads(
    emulator: EmulatorServer, admin: ListmonkClient, traffic: Traffic
) -> None:
    emulator.seed(2500, list_ids=(1, 2))
    admin.change_subscriptions([2400], "unsubscribe", [1])
    admin.change_subscriptions([1200], "unsubscribe", [2])
    cfg = config(emulator, page_size=100)
    cat = catalog("subscriptions")
    first = read(cfg, cat)
    legacy = legacy_state(first, first.records["subscriptions"])

    admin.change_subscriptions([2400], "add", [1], status="confirmed")
    second = traced_read(traffic, cfg, cat, legacy)
    assert traffic.rows() >= 2502  # walked in full, compared in blake2b: only the silent change's range emits
    before = first.records["subscriptions"]
    assert set(subscription_keys(second.records["subscriptions"])) == keys_in(before, 2000, 2999)
    assert second.stream_state("subscriptions")["digest_kind"] == digest.CURRENT_KIND

    admin.change_subscriptions([1200], "add", [2], status="confirmed")
    third = traced_read(traffic, cfg, cat, second.final_state())
    assert traffic.rows() == 1 + 1000
    assert set(subscription_keys(third.records["subscriptions"])) == keys_in(before, 1000, 1999)
    assert subscription_keys(third.records["subscriptions"])[(1200, 2)] == "confirmed"

    assert read(cfg, cat, third.final_state()).records == {}


def legacy_state(result: ReadResult, records: list[dict[str, Any]]) -> list[AirbyteStateMessage]:
    """The result's final state as the previous version saved it: blake2b digests, no `digest_kind`."""
    state = {key: value for key, value in result.stream_state("subscriptions").items() if key != "digest_kind"}
    state["digests"] = {
        str(index): digest.encode(value) for index, value in range_digests(records, digest.LEGACY_KIND).items()
    }
    message = {"type": "STREAM", "stream": {"stream_descriptor": {"name": "subscriptions"}, "stream_state": state}}
    return [AirbyteStateMessageSerializer.load(message)]


def test_given_a_server_checked_read_stopped_when_resumed_then_every_change_comes_out_and_digests_hold(
    emulator: EmulatorServer, admin: ListmonkClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two ranges per check, so that 6,000 subscribers take three checks, each ending with a checkpoint.
    monkeypatch.setattr(subscriptions, "RANGES_PER_CHECK", 2)
    emulator.seed(6000, list_ids=(1,))
    admin.change_subscriptions([1500, 4500], "unsubscribe", [1])
    cfg = config(emulator, page_size=700)
    first = read(cfg, catalog("subscriptions"))

    admin.change_subscriptions([1500, 4500], "add", [1], status="confirmed")  # silent, in ranges 1 and 4
    admin.change_subscriptions([5500], "unsubscribe", [1])  # timestamped, in range 5
    stopped = interrupted(cfg, "subscriptions", stop_after_states=1, extra_records=0, state=first.final_state())
    assert stopped.stream_state("subscriptions")["last_id"] == digest.range_end(1)
    assert set(subscription_keys(stopped.records["subscriptions"])) == {(sid, 1) for sid in range(1000, 2000)}

    resumed = read(cfg, catalog("subscriptions"), stopped.final_state())
    rows = subscription_keys(resumed.records["subscriptions"])
    assert set(rows) == {(sid, 1) for sid in range(4000, 5000)} | {(5500, 1)}
    assert rows[(4500, 1)] == "confirmed" and rows[(5500, 1)] == "unsubscribed"

    assert read(cfg, catalog("subscriptions"), resumed.final_state()).records == {}


def test_given_only_timestamped_changes_that_keep_every_status_then_just_those_rows_are_transferred_and_emitted(
    emulator: EmulatorServer, admin: ListmonkClient, traffic: Traffic
) -> None:
    emulator.seed(3500, list_ids=(1, 2))
    cfg = config(emulator, page_size=500)
    cat = catalog("subscriptions")
    first = read(cfg, cat)

    admin.patch_subscriber(2500, {"name": "Renamed"})  # no status changes: no digest differs
    second = traced_read(traffic, cfg, cat, first.final_state())
    assert set(subscription_keys(second.records["subscriptions"])) == {(2500, 1), (2500, 2)}
    assert traffic.rows() == 1

    admin.request("PUT", "/api/lists/2", json={"name": "Renamed list", "type": "public", "optin": "single"})
    third = traced_read(traffic, cfg, cat, second.final_state())
    assert set(subscription_keys(third.records["subscriptions"])) == {(sid, 2) for sid in range(1, 3503) if sid != 1}


def test_given_a_listmonk_that_refuses_the_digest_check_then_every_subscriber_is_read_with_the_same_result(
    emulator: EmulatorServer, admin: ListmonkClient, monkeypatch: pytest.MonkeyPatch, traffic: Traffic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg, cat, first = read_before_a_silent_resubscribe(emulator, admin, seeded=2500, subscriber_id=1500)

    def refused(client: ListmonkClient, *_: Any) -> set[int]:
        # As a listmonk that checks `query` more strictly would: a 400 for the check's SQL.
        subscribers_where(client, SqlExpr("subscribers.id IN (SELECT id FROM users)"), per_page="all")
        raise AssertionError("the local server took a query on a table listmonk does not allow")

    monkeypatch.setattr(subscriptions, "changed_ranges", refused)
    with caplog.at_level("WARNING", logger="airbyte"):
        second = traced_read(traffic, cfg, cat, first.final_state())
    assert any("refused the digest check" in message for message in caplog.messages)
    assert traffic.rows() >= 2502
    rows = subscription_keys(second.records["subscriptions"])
    assert rows[(1500, 1)] == "confirmed" and set(rows) == {(sid, 1) for sid in range(1000, 2000)}
