"""The fast paths (export snapshot, lookups overlapping a running import) change how many calls a sync makes,
never what listmonk holds afterwards."""

from __future__ import annotations

import math
from typing import Any

from integration_tests.destination.harness import config, subscribers_of, subscriptions, with_states, write
from listmonk_client.client import ListmonkClient


def contacts(domain: str, count: int) -> list[dict[str, Any]]:
    return [{"email": f"f{i}@{domain}", "name": f"Fast {i}", "plan": "basic"} for i in range(count)]


def test_given_auto_snapshot_when_a_sync_reaches_a_tenth_of_listmonk_then_it_reads_the_export_and_ends_the_same(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    if client.count_subscribers() < 2500:  # others already held, so the sync starts with lookups
        emulator.seed(2500, email_prefix="other", domain=f"others-{domain}")
    held_before = client.count_subscribers()
    switch_batch = max(1, math.ceil(held_before / 1000))  # 100 records a batch, export worth 10 lookups a row
    people = contacts(domain, 100 * (switch_batch + 2))
    # Imported by the batch just before the switch, changed after it: the export must already show that import.
    again_at = 100 * max(switch_batch - 2, 0) + 3
    people[-1] = {**people[again_at], "name": "Changed after the switch"}
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 100, "snapshot_lookup": "auto"})
    emulator.set_faults(import_delay_ms=200)  # the import before the switch is still running when it comes
    emulator.reset_stats()

    run = write(settings, with_states(people, every=len(people)))  # a STATE would wait for each import

    (loaded,) = run.events("export snapshot loaded")
    assert loaded["after_records"] == 100 * switch_batch
    routes = emulator.stats()["by_route"]
    assert routes["GET /api/subscribers/export"] == 1
    # One count, one lookup per batch before the switch, and one for the record the sync had already written.
    assert routes["GET /api/subscribers"] == 1 + (switch_batch - 1) + 1
    held = subscribers_of(client, domain)
    assert len(held) == len(people) - 1 and run.summary["created"] == len(people) - 1
    assert held[f"f{again_at}@{domain}"].name == "Changed after the switch"
    assert all(subscriptions(s) == {news.id: "confirmed"} for s in held.values())

    client.change_subscriptions([held[f"f5@{domain}"].id], "unsubscribe", [news.id])
    as_held = people[:-1]
    as_held[again_at] = people[-1]
    emulator.reset_stats()
    again = write(settings, with_states(as_held, every=100))
    assert emulator.stats()["writes"] == 0 and again.summary["unchanged"] == len(people) - 1
    assert subscriptions(subscribers_of(client, domain)[f"f5@{domain}"]) == {news.id: "unsubscribed"}


def test_given_auto_snapshot_when_the_sync_is_smaller_than_a_batch_then_no_export_and_no_count(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    settings = config(listmonk, advanced={"batch_size": 100, "snapshot_lookup": "auto"})
    emulator.reset_stats()
    run = write(settings, with_states(contacts(domain, 60), every=60))
    assert run.summary["created"] == 60 and not run.events("export snapshot loaded")
    assert emulator.stats()["by_route"] == {**emulator.stats()["by_route"], "GET /api/subscribers": 1}
    assert "GET /api/subscribers/export" not in emulator.stats()["by_route"]


def test_given_a_slow_import_when_the_next_batch_repeats_its_records_then_they_wait_for_it_and_the_last_wins(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100})
    people = contacts(domain, 300)
    # Batch 2 changes two people batch 1 imports; batch 3 is all new. Each import takes 0.4 s on the server,
    # so batch 2 is looked up while batch 1's import still runs.
    people[150] = {**people[7], "plan": "pro"}
    people[160] = {**people[8], "email": people[8]["email"].upper(), "name": "Upper-case twin"}
    emulator.set_faults(import_delay_ms=400)
    emulator.reset_stats()

    run = write(settings, with_states(people, every=300))  # a STATE would wait for each import

    lookups = emulator.stats()["by_route"]["GET /api/subscribers"]
    held = subscribers_of(client, domain)
    assert len(held) == 298 and (run.summary["created"], run.summary["updated"]) == (298, 2)
    assert held[f"f7@{domain}"].attribs["plan"] == "pro"
    assert held[f"f8@{domain}"].name == "Upper-case twin"
    # Everything else in batches 2 and 3 was planned without waiting: one lookup per batch plus one for the two.
    assert lookups == 3 + 1
