"""An API user without `subscribers:sql_query`: full page-by-page reads that still give incremental results."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import Type

from listmonk_client.client import ListmonkClient
from listmonk_emulator import EmulatorServer

from source_harness import catalog, config, read, read_messages, subscription_keys

READ_ONLY = ["subscribers:get_all", "lists:get_all", "campaigns:get_all", "bounces:get"]


def test_given_no_sql_query_permission_when_reading_then_same_records_as_with_it(
    emulator: EmulatorServer, admin: ListmonkClient, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.seed(1200, list_ids=(1, 2))
    token = emulator.create_api_user("reader", READ_ONLY)
    restricted = config(emulator, username="reader", token=token, page_size=300)
    full = config(emulator, page_size=300)
    cat = catalog("subscribers", "subscriptions")

    with caplog.at_level("WARNING", logger="airbyte"):
        first = read(restricted, cat)
    assert any("lacks 'subscribers:sql_query'" in message for message in caplog.messages)
    assert first.records == read(full, cat).records

    admin.change_subscriptions([100], "unsubscribe", [2])
    admin.patch_subscriber(900, {"attribs": {"plan": "pro"}})
    second = read(restricted, cat, first.final_state())
    assert [row["id"] for row in second.records["subscribers"]] == [900]
    assert subscription_keys(second.records["subscriptions"]) == {(100, 2): "unsubscribed", (900, 1): "confirmed", (900, 2): "confirmed"}


def test_given_no_sql_query_when_rows_are_deleted_mid_read_then_none_is_skipped(
    emulator: EmulatorServer, admin: ListmonkClient
) -> None:
    emulator.seed(900)
    token = emulator.create_api_user("reader", READ_ONLY)
    cfg = config(emulator, username="reader", token=token, page_size=100)

    ids: list[int] = []
    for message in read_messages(cfg, catalog("subscribers", incremental=False)):
        if message.type == Type.RECORD:
            ids.append(message.record.data["id"])
            if len(ids) == 250:
                # Deleting already-read rows shifts every later row back onto pages already read.
                admin.delete_subscribers(list(range(3, 60)))
    assert ids == sorted(set(ids))
    assert set(range(1, 903)) - set(range(3, 60)) <= set(ids)


def test_given_no_sql_query_when_a_status_changes_silently_then_its_range_comes_out_by_the_full_walk(
    emulator: EmulatorServer, admin: ListmonkClient
) -> None:
    emulator.seed(2500, list_ids=(1,))
    admin.change_subscriptions([2400], "unsubscribe", [1])
    # Without sql_query the high-water mark comes from subscribers and lists: a later write puts it past that
    # unsubscribe, which would otherwise be read again as a timestamped change.
    admin.patch_subscriber(5, {"name": "Later"})
    token = emulator.create_api_user("reader", READ_ONLY)
    cfg = config(emulator, username="reader", token=token, page_size=300)
    first = read(cfg, catalog("subscriptions"))

    admin.change_subscriptions([2400], "add", [1], status="confirmed")  # moves no timestamp
    second = read(cfg, catalog("subscriptions"), first.final_state())
    rows = subscription_keys(second.records["subscriptions"])
    assert rows[(2400, 1)] == "confirmed"
    assert set(rows) == {(sid, 1) for sid in range(2000, 2503)}
    assert read(cfg, catalog("subscriptions"), second.final_state()).records == {}
