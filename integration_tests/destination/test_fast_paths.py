"""The fast paths (export snapshot, lookups overlapping a running import) change how many calls a sync makes,
never what listmonk holds afterwards."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from airbyte_cdk.models import SyncMode, Type

from destination_listmonk.destination import DestinationListmonk
from destination_listmonk.snapshot import EXPORT_FIELDS, BackgroundExport, Snapshot
from integration_tests.contract.api import call
from integration_tests.destination.harness import (
    catalog,
    config,
    skip_without_profile_imports,
    subscribers_of,
    subscriptions,
    with_states,
    write,
)
from listmonk_client.client import ListmonkClient
from listmonk_client.sql import email_in


def contacts(domain: str, count: int) -> list[dict[str, Any]]:
    return [{"email": f"f{i}@{domain}", "name": f"Fast {i}", "plan": "basic"} for i in range(count)]


def test_given_auto_snapshot_when_an_incremental_sync_reaches_an_11th_of_listmonk_then_it_reads_the_export_and_ends_the_same(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    incremental = catalog(sync_mode=SyncMode.incremental)  # it says nothing of how much of listmonk it covers
    news = client.create_list(f"news-{domain}")
    if client.count_subscribers() < 2500:  # others already held, so the sync starts with lookups
        emulator.seed(2500, email_prefix="other", domain=f"others-{domain}")
    held_before = client.count_subscribers()
    # 100 records a batch; the export costs as much as looking up an 11th as many records as listmonk holds.
    start_batch, switch_batch = math.ceil(held_before / 2200), math.ceil(held_before / 1100)
    # As many records again after the switch, and one batch more: the sync reads on while the export streams, and
    # where the input ends first, the records left must cost more in lookups than all of the export, so that it is
    # waited for however long it takes (a server holding more subscribers than the sync takes time).
    people = contacts(domain, 100 * (2 * switch_batch + 1))
    # Imported by the batch before the export starts, still importing while it streams, changed at the end: the
    # export may or may not show it, so it must be looked up.
    again_at = 100 * (start_batch - 2) + 3
    people[-1] = {**people[again_at], "name": "Changed after the switch"}
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 100, "snapshot_lookup": "auto"})
    emulator.set_faults(import_delay_ms=400)  # longer than the export takes
    emulator.reset_stats()

    run = write(settings, with_states(people, every=len(people)), incremental)  # a STATE would wait for each import

    (loaded,) = run.events("export snapshot loaded")
    # The export starts once the lookups would cost half of it, and is used once in, or waited for when they would
    # cost all of it: records read on while it finishes streaming are not looked up.
    assert loaded["started_after_records"] == 100 * start_batch
    assert loaded["started_after_records"] <= loaded["after_records"]
    looked_up_batches = min(loaded["after_records"], 100 * switch_batch) // 100 - 1
    routes = emulator.stats()["by_route"]
    assert routes["GET /api/subscribers/export"] == 1
    # One count, one lookup per batch looked up, and one for the record the sync had already written.
    assert routes["GET /api/subscribers"] == 1 + looked_up_batches + 1
    held = subscribers_of(client, domain)
    assert len(held) == len(people) - 1 and run.summary["created"] == len(people) - 1
    assert held[f"f{again_at}@{domain}"].name == "Changed after the switch"
    assert all(subscriptions(s) == {news.id: "confirmed"} for s in held.values())

    client.change_subscriptions([held[f"f5@{domain}"].id], "unsubscribe", [news.id])
    as_held = people[:-1]
    as_held[again_at] = people[-1]
    emulator.reset_stats()
    again = write(settings, with_states(as_held, every=100), incremental)
    assert emulator.stats()["writes"] == 0 and again.summary["unchanged"] == len(people) - 1
    assert subscriptions(subscribers_of(client, domain)[f"f5@{domain}"]) == {news.id: "unsubscribed"}


def test_given_a_full_refresh_of_fewer_than_1000_records_then_it_never_reads_the_export(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 5000, "snapshot_lookup": "auto"})
    people = contacts(domain, 999)
    write(settings, with_states(people, every=999))
    emulator.reset_stats()
    run = write(settings, with_states(people, every=999))  # the harness's catalog reads the stream in full refresh
    assert "GET /api/subscribers/export" not in emulator.stats()["by_route"] and run.summary["unchanged"] == 999


def test_given_a_full_refresh_re_sync_when_auto_then_the_export_is_read_after_the_first_batch_and_nothing_else_looked_up(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    if client.count_subscribers() < 5000:  # the cost rule alone would look 5 batches up before the export
        emulator.seed(5000, email_prefix="other", domain=f"others-{domain}")
    # Enough records that all but the first batch would cost more in lookups than the export of everyone listmonk
    # holds once they are in: it is waited for, whenever the input ends.
    people = contacts(domain, max(1000, math.ceil((client.count_subscribers() + 2000) / 1000) * 100))
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 100, "snapshot_lookup": "never"})
    write(settings, with_states(people, every=len(people)))
    client.change_subscriptions([subscribers_of(client, domain)[f"f3@{domain}"].id], "unsubscribe", [news.id])
    people[4] = {**people[4], "plan": "pro"}  # in the first batch, which is probed
    emulator.reset_stats()

    auto = {**settings, "advanced": {**settings["advanced"], "snapshot_lookup": "auto"}}
    run = write(auto, with_states(people, every=100))  # the harness's catalog reads the stream in full refresh

    (loaded,) = run.events("export snapshot loaded")
    assert loaded["started_after_records"] == 100
    routes = emulator.stats()["by_route"]
    # One count, one lookup call probing the first batch, which found all of it in listmonk: a re-sync, so every
    # record waits for the export and is judged from it; then one lookup of the one changed record.
    assert routes["GET /api/subscribers/export"] == 1 and routes["GET /api/subscribers"] == 3
    assert (run.summary["updated"], run.summary["unchanged"]) == (1, len(people) - 1)
    held = subscribers_of(client, domain)
    assert held[f"f4@{domain}"].attribs["plan"] == "pro"
    assert subscriptions(held[f"f3@{domain}"]) == {news.id: "unsubscribed"}
    assert run.states == [*range(100, len(people) + 1, 100), len(people)]  # every STATE, in order


def test_given_a_full_refresh_re_sync_when_auto_then_one_lookup_call_probes_the_first_batch_and_the_export_judges_all(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    if client.count_subscribers() < 6000:  # so that the cost rule alone would look the first batch up
        emulator.seed(6000, email_prefix="other", domain=f"others-{domain}")
    # Enough records that, once they are all in, the records left would cost more in lookups than the export of
    # everyone listmonk holds, themselves included (11 x people >= held + people): it is waited for, whenever the
    # input ends.
    people = contacts(domain, max(1500, math.ceil((client.count_subscribers() + 2000) / 5000) * 500))
    settings = config(listmonk, advanced={"batch_size": 500, "lookup_keys_per_call": 50, "snapshot_lookup": "never"})
    write(settings, with_states(people, every=500))
    people[700] = {**people[700], "name": "Changed"}
    emulator.reset_stats()

    auto = {**settings, "advanced": {**settings["advanced"], "snapshot_lookup": "auto"}}
    run = write(auto, with_states(people, every=500))

    routes = emulator.stats()["by_route"]
    # The count, one call for the first 50 records (all held: a re-sync) instead of ten for the first batch, and
    # one for the record the export shows changed.
    assert routes["GET /api/subscribers"] == 3 and routes["GET /api/subscribers/export"] == 1
    assert (run.summary["updated"], run.summary["unchanged"]) == (1, len(people) - 1)
    assert subscribers_of(client, domain)[f"f700@{domain}"].name == "Changed"
    assert run.states == [*range(500, len(people) + 1, 500), len(people)]


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


def test_given_the_export_fails_when_a_snapshot_is_wanted_then_every_record_is_looked_up_and_ends_the_same(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100, "snapshot_lookup": "always"})
    people = contacts(domain, 250)
    write(settings, with_states(people, every=250))
    client.change_subscriptions([subscribers_of(client, domain)[f"f3@{domain}"].id], "unsubscribe", [news.id])
    people[4] = {**people[4], "plan": "pro"}
    emulator.set_faults(status=500, count=1, method="GET", path_prefix="/api/subscribers/export")
    emulator.reset_stats()

    run = write(settings, with_states(people, every=250))

    (unusable,) = run.events("export snapshot unusable, every record is looked up")
    assert "500" in unusable["reason"] and not run.events("export snapshot loaded")
    assert emulator.stats()["by_route"]["GET /api/subscribers/export"] == 1  # given up for the rest of the sync
    assert (run.summary["updated"], run.summary["unchanged"], run.summary["rejected"]) == (1, 249, 0)
    held = subscribers_of(client, domain)
    assert held[f"f4@{domain}"].attribs["plan"] == "pro"
    assert subscriptions(held[f"f3@{domain}"]) == {news.id: "unsubscribed"}


def test_given_a_state_while_an_import_runs_then_it_is_passed_on_once_listmonk_holds_every_record_before_it(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100})
    emulator.set_faults(import_delay_ms=300)  # each batch's import is still running when its STATE comes
    messages = list(with_states(contacts(domain, 400), every=100))
    markers = []
    for message in DestinationListmonk().write(settings, catalog(), messages):
        if message.type == Type.STATE and message.state is not None:
            marker = message.state.stream.stream_state.marker
            held = subscribers_of(client, domain)
            assert [i for i in range(marker) if f"f{i}@{domain}" not in held] == []
            markers.append(marker)
    assert markers == [m.state.stream.stream_state.marker for m in messages if m.state is not None]


def test_given_records_read_ahead_while_the_export_is_awaited_then_each_state_follows_its_records_into_listmonk(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    if client.count_subscribers() < 5000:
        emulator.seed(5000, email_prefix="other", domain=f"others-{domain}")
    people = contacts(domain, max(1000, math.ceil((client.count_subscribers() + 2000) / 1000) * 100))
    settings = config(listmonk, advanced={"batch_size": 100, "snapshot_lookup": "auto"})
    write(settings, with_states(people, every=len(people)))
    changed = [{**p, "name": f"Changed {i}"} if i % 10 == 0 else p for i, p in enumerate(people)]
    # The export answers late: the records after the first batch are read and held while it is awaited.
    emulator.set_faults(slow_ms=1500, slow_count=1, method="GET", path_prefix="/api/subscribers/export")

    markers, messages, checked = [], list(with_states(changed, every=100)), 0
    for message in DestinationListmonk().write(settings, catalog(), messages):
        if message.type == Type.STATE and message.state is not None:
            marker = message.state.stream.stream_state.marker
            # The records since the previous STATE (those before it were checked then; all are again at the end):
            # reading every subscriber of the domain at each STATE took minutes on a server holding many.
            emails = [changed[i]["email"] for i in range(checked, marker)]
            held = {s.email: s.name for s in client.iter_subscribers(query=email_in(emails), per_page=1000)}
            assert (marker, [i for i in range(checked, marker) if held.get(changed[i]["email"]) != changed[i]["name"]]
                    ) == (marker, [])
            markers.append(marker)
            checked = marker
        elif message.type == Type.LOG and message.log is not None and "export snapshot loaded" in message.log.message:
            assert json.loads(message.log.message)["after_records"] > 200  # read ahead while awaited
    assert markers == [m.state.stream.stream_state.marker for m in messages if m.state is not None]
    held_at_end = subscribers_of(client, domain)
    assert [i for i, p in enumerate(changed) if held_at_end[p["email"]].name != p["name"]] == []
    assert len([i for i, p in enumerate(changed) if p is not people[i]]) == len(people) // 10


def test_given_an_import_that_listmonk_cuts_short_then_the_sync_fails_before_the_state_and_a_rerun_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news, spare = client.create_list(f"news-{domain}"), client.create_list(f"spare-{domain}")
    people = contacts(domain, 200)
    settings = config(listmonk, target_lists=[str(news.id), str(spare.id)], advanced={"batch_size": 100})
    emulator.set_faults(import_delay_ms=300)

    def input_deleting_a_list_while_the_first_import_waits() -> Iterator[Any]:
        for position, message in enumerate(with_states(people, every=200)):
            if position == 100:  # batch 1 has been flushed: its import is held by the fault
                assert call(emulator, "DELETE", f"/api/lists/{spare.id}").status_code == 200
            yield message

    emitted: list[Any] = []
    with pytest.raises(Exception, match="stopped after 0 of 100 rows"):
        for message in DestinationListmonk().write(settings, catalog(), input_deleting_a_list_while_the_first_import_waits()):
            emitted.append(message)
    assert not [m for m in emitted if m.type == Type.STATE] and subscribers_of(client, domain) == {}

    emulator.clear_faults()
    again = write(config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100}), with_states(people, every=200))
    assert again.summary["created"] == 200 and len(subscribers_of(client, domain)) == 200


def test_given_an_integer_beyond_64_bits_when_bulk_importing_then_every_new_subscriber_is_created(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    people = [{**person, "score": 2**70 if i == 7 else i} for i, person in enumerate(contacts(domain, 60))]
    run = write(config(listmonk, target_lists=[str(news.id)]), with_states(people, every=60))
    held = subscribers_of(client, domain)
    assert run.summary["created"] == len(held) == 60
    assert held[f"f8@{domain}"].attribs["score"] == 8 and float(held[f"f7@{domain}"].attribs["score"]) == 2.0**70


def test_given_profile_changes_by_the_batchful_then_an_import_rewrites_them_and_no_status_or_subscription_moves(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news, other = client.create_list(f"news-{domain}"), client.create_list(f"other-{domain}")
    people = contacts(domain, 120)
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 500})
    assert write(settings, with_states(people, every=500)).summary["created"] == 120
    held = subscribers_of(client, domain)
    ids = {i: held[f"f{i}@{domain}"].id for i in range(120)}
    # Consent and status recorded in listmonk since, which a profile sync must leave as they are.
    client.change_subscriptions([ids[1]], "unsubscribe", [news.id])
    client.blocklist_subscribers([ids[2]])
    client.patch_subscriber(ids[3], {"status": "disabled"})
    client.change_subscriptions([ids[4]], "add", [other.id])
    client.patch_subscriber(ids[5], {"attribs": {"listmonk_only": 1}})
    before = subscribers_of(client, domain)

    changed = [{**person, "name": f"{person['name']} B", "plan": "pro"} for person in people]
    emulator.reset_stats()
    run = write(settings, with_states(changed, every=500))
    routes = emulator.stats()["by_route"]
    assert run.summary["updated"] == 120
    assert routes.get("POST /api/import/subscribers") == 1 and not any(r.startswith("PATCH") for r in routes)
    after = subscribers_of(client, domain)
    assert {e: (s.name, s.attribs) for e, s in after.items()} == {
        f"f{i}@{domain}": (f"Fast {i} B", {"plan": "pro", **({"listmonk_only": 1} if i == 5 else {})})
        for i in range(120)
    }
    assert {e: (s.status, subscriptions(s)) for e, s in after.items()} == {
        e: (s.status, subscriptions(s)) for e, s in before.items()
    }
    assert subscriptions(after[f"f1@{domain}"]) == {news.id: "unsubscribed"}
    assert after[f"f2@{domain}"].status == "blocklisted" and after[f"f3@{domain}"].status == "disabled"
    assert write(settings, with_states(changed, every=500)).summary["unchanged"] == 120


def test_given_a_protected_attribute_then_profile_changes_go_by_patch_and_it_survives(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    people = contacts(domain, 60)
    settings = config(listmonk, target_lists=[str(news.id)], protected_fields=["attribs.vip"])
    write(settings, with_states(people, every=500))
    emulator.reset_stats()
    run = write(settings, with_states([{**p, "plan": "pro", "vip": True} for p in people], every=500))
    routes = emulator.stats()["by_route"]
    assert run.summary["updated"] == 60 and "POST /api/import/subscribers" not in routes
    assert {s.attribs.get("vip", "absent") for s in subscribers_of(client, domain).values()} == {"absent"}


def test_given_profile_changes_in_consecutive_batches_then_one_import_carries_them_and_each_state_follows_its_records(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    skip_without_profile_imports(client)
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 50})
    people = contacts(domain, 150)
    write(settings, with_states(people, every=50))
    ids = {e: s.id for e, s in subscribers_of(client, domain).items()}
    client.change_subscriptions([ids[f"f1@{domain}"]], "unsubscribe", [news.id])
    client.blocklist_subscribers([ids[f"f2@{domain}"]])
    changed = [{**person, "name": f"{person['name']} B", "plan": "pro"} for person in people]

    markers, emitted = [], []
    for message in DestinationListmonk().write(settings, catalog(), with_states(changed, every=50)):
        emitted.append(message)
        if message.type == Type.STATE and message.state is not None:
            marker = message.state.stream.stream_state.marker
            held = subscribers_of(client, domain)
            assert [i for i in range(marker) if held[f"f{i}@{domain}"].attribs.get("plan") != "pro"] == []
            markers.append(marker)

    (timings,) = [json.loads(m.log.message) for m in emitted if m.log is not None and '"timings"' in m.log.message]
    assert timings["calls"]["import_upload"] == 1 and timings["calls"]["profile_calls"] == 0  # three batches, one import
    assert markers == [50, 100, 150, 150]
    held = subscribers_of(client, domain)
    assert {e: (s.name, s.attribs["plan"]) for e, s in held.items()} == {
        f"f{i}@{domain}": (f"Fast {i} B", "pro") for i in range(150)
    }
    assert subscriptions(held[f"f1@{domain}"]) == {news.id: "unsubscribed"}
    assert held[f"f2@{domain}"].status == "blocklisted"
    assert all(subscriptions(s) == {news.id: "confirmed"} for e, s in held.items() if e[:3] not in ("f1@", "f2@"))


def test_given_a_later_batch_repeating_a_gathered_profile_change_then_it_is_planned_on_top_of_it(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 60})
    people = contacts(domain, 60)
    write(settings, with_states(people, every=60))
    # Batch 1 changes everyone's plan (gathered for an import); batch 2 adds a tier to f7 and says nothing of its
    # plan: merged on top of what batch 1 wrote, f7 keeps "pro".
    changes = [{**person, "plan": "pro"} for person in people] + [{"email": f"f7@{domain}", "tier": "gold"}]
    run = write(settings, with_states(changes, every=60))

    held = subscribers_of(client, domain)
    assert run.summary["updated"] == 61 and run.summary["rejected"] == 0
    assert held[f"f7@{domain}"].attribs == {"plan": "pro", "tier": "gold"}
    assert {s.attribs["plan"] for s in held.values()} == {"pro"}


class StreamingExport(BackgroundExport):
    """An export of which the first rows are in (all of listmonk as it was, judged as a partial snapshot that
    never says "new"), and the rest once `finished` is set."""

    def __init__(self, client: ListmonkClient, compare_name: bool, compare_status: bool) -> None:
        super().__init__()
        whole = Snapshot.from_export(client.export_subscribers(EXPORT_FIELDS), compare_name, compare_status, self.written)
        self.partial = Snapshot(whole._table, compare_name, compare_status, self.written, complete=False)
        self._whole = whole
        self.finished = False

    @property
    def rows_read(self) -> int:
        return len(self._whole)

    def done(self) -> bool:
        return self.finished

    def result(self) -> Snapshot:
        self.partial = None
        return self._whole

    def cancel(self) -> None:
        self.finished = True


def test_given_an_export_still_streaming_then_records_its_first_rows_show_unchanged_pass_with_their_states(
    listmonk: Any, client: ListmonkClient, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = contacts(domain, 600)
    settings = config(listmonk, advanced={"batch_size": 100, "snapshot_lookup": "auto"})
    write(settings, with_states(people, every=600))
    records = [{**p, "name": f"Changed {i}"} if i >= 400 and i % 10 == 0 else p for i, p in enumerate(people)]
    # One key twice: changed first, then as listmonk holds it. The later record wins, so nothing is written.
    records[450] = {**people[455], "name": "Superseded"}

    exports: list[StreamingExport] = []

    def streaming_export(export_client: ListmonkClient, compare_name: bool, compare_status: bool, expected: int = 0) -> StreamingExport:
        exports.append(StreamingExport(export_client, compare_name, compare_status))
        return exports[-1]

    monkeypatch.setattr("destination_listmonk.sync.start_export", streaming_export)
    ended = False

    def messages() -> Iterator[Any]:
        nonlocal ended
        yield from with_states(records, every=100)
        ended = exports[-1].finished = True  # the export is in once the whole input has been read

    early, markers = [], []
    for message in DestinationListmonk().write(settings, catalog(), messages()):
        if message.type == Type.STATE and message.state is not None:
            marker = message.state.stream.stream_state.marker
            held = subscribers_of(client, domain)
            latest = {r["email"]: r["name"] for r in records[:marker]}
            assert (marker, {e: n for e, n in latest.items() if held[e].name != n}) == (marker, {})
            markers.append(marker)
            if not ended:
                early.append(marker)
    assert markers == [*range(100, 601, 100), 600]
    # The STATEs whose records the export's first rows showed unchanged passed while it streamed; those after a
    # changed record waited for it to be written.
    assert early == [100, 200, 300, 400]
    assert subscribers_of(client, domain)[f"f455@{domain}"].name == people[455]["name"]


def test_given_a_batch_larger_than_a_few_lookup_rounds_then_each_part_is_planned_from_its_own_lookup(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    # 2 keys a call, 1 call at a time: a batch of 40 is looked up and planned 8 records at a time.
    settings = config(listmonk, target_lists=[str(news.id)],
                      advanced={"snapshot_lookup": "never", "lookup_keys_per_call": 2, "concurrency": 1})
    people = contacts(domain, 40)
    write(settings, with_states(people[::2], every=500))  # every other one exists before the batch
    changed = [{**p, "plan": "pro"} if i % 4 == 0 else p for i, p in enumerate(people)]

    run = write(settings, with_states(changed, every=500))

    assert (run.summary["created"], run.summary["updated"], run.summary["unchanged"]) == (20, 10, 10)
    held = subscribers_of(client, domain)
    assert {e: (s.name, s.attribs["plan"]) for e, s in held.items()} == {
        p["email"]: (p["name"], p["plan"]) for p in changed
    }
