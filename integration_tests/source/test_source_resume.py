"""An interrupted read resumes from its last checkpoint: nothing is lost, and nothing is repeated beyond
the rows between that checkpoint and the interruption (at-least-once)."""

from __future__ import annotations

from collections import Counter

from listmonk_client.client import ListmonkClient
from listmonk_emulator import EmulatorServer

from source_harness import catalog, config, interrupted, read, subscription_keys


def test_given_subscribers_read_stopped_mid_page_when_resumed_then_every_subscriber_once_plus_the_overlap(
    emulator: EmulatorServer, admin: ListmonkClient
) -> None:
    emulator.seed(3000)
    cfg = config(emulator, page_size=250)
    first = interrupted(cfg, "subscribers", stop_after_states=4, extra_records=37)
    # Rows written while the sync was down are picked up too.
    new = admin.create_subscriber(email="late@example.com")

    second = read(cfg, catalog("subscribers"), first.final_state())
    seen = Counter(row["id"] for row in first.records["subscribers"] + second.records["subscribers"])
    assert set(seen) == set(range(1, 3003)) | {new.id}
    assert sum(seen.values()) - len(seen) == 37  # only the records read after the last checkpoint repeat

    # The resumed read kept the first attempt's high-water mark, so what changed after it comes again.
    third = read(cfg, catalog("subscribers"), second.final_state())
    assert [row["id"] for row in third.records["subscribers"]] == [new.id]
    assert read(cfg, catalog("subscribers"), third.final_state()).records == {}


def test_given_subscriptions_read_stopped_when_resumed_then_no_subscription_is_lost_and_digests_hold(
    emulator: EmulatorServer, admin: ListmonkClient
) -> None:
    emulator.seed(12_000, list_ids=(1,))
    cfg = config(emulator, page_size=1000)
    first = interrupted(cfg, "subscriptions", stop_after_states=1, extra_records=5)
    state = first.stream_state("subscriptions")
    assert state["pending_high_water"] is not None and state["last_id"] > 0

    second = read(cfg, catalog("subscriptions"), first.final_state())
    keys = list(subscription_keys(first.records["subscriptions"])) + list(subscription_keys(second.records["subscriptions"]))
    assert set(keys) == {(1, 1), (2, 2)} | {(i, 1) for i in range(3, 12_003)}
    assert len(keys) - len(set(keys)) == 5

    admin.change_subscriptions([11_000], "add", [1], status="confirmed")  # already confirmed: nothing to emit
    admin.change_subscriptions([5], "unsubscribe", [1])
    third = read(cfg, catalog("subscriptions"), second.final_state())
    assert subscription_keys(third.records["subscriptions"]) == {(5, 1): "unsubscribed"}
