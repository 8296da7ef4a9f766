"""What listmonk holds after syncs that hit listmonk's sharp edges: failures, bad records, old servers,
consent-breaking routes, attribute keys, hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import DestinationSyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_listmonk.destination import DestinationListmonk
from integration_tests.destination.harness import (
    catalog,
    change_in_listmonk,
    config,
    key_of,
    record,
    state,
    subscribers_of,
    subscriptions,
    with_states,
    write,
)
from listmonk_client.client import ListmonkClient


def contacts(domain: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"email": f"p{i}@{domain}", "name": f"Person {i}", "tier": "t1", **extra} for i in range(count)]


def test_given_failure_mid_sync_then_state_only_for_committed_records_and_rerun_loses_nothing(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    records = contacts(domain, 100)
    # 503 for good: the sync waits out its retry budget, then fails.
    settings = config(listmonk, advanced={"batch_size": 10, "concurrency": 1, "retry_budget_seconds": 2})
    emulator.set_faults(fail_after_writes=35, fail_status=503)
    emitted: list[Any] = []
    with pytest.raises(Exception):
        for message in DestinationListmonk().write(settings, catalog(), with_states(records, every=10)):
            emitted.append(message)
    states = [m.state.stream.stream_state.marker for m in emitted if m.state is not None]
    assert states == [10, 20, 30]
    held = subscribers_of(client, domain)
    assert all(f"p{i}@{domain}" in held for i in range(30))  # everything before the last state is committed
    emulator.clear_faults()
    rerun = write(settings, with_states(records[30:], every=10))  # Airbyte resumes after the last state
    assert rerun.states[-1] == 70
    assert len(subscribers_of(client, domain)) == 100


def test_given_listmonk_pushes_back_then_sync_retries_slows_down_and_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    emulator.set_faults(status=429, count=3, retry_after=0, method="POST")
    settings = config(listmonk, advanced={"batch_size": 20, "concurrency": 4, "bulk_import": False})
    run = write(settings, with_states(contacts(domain, 40), every=20))
    assert run.summary["created"] == 40
    assert len(subscribers_of(client, domain)) == 40
    assert [e["concurrency"] for e in run.events("write concurrency changed")][:1] == [2]


def test_given_dry_run_then_changes_are_planned_and_nothing_is_written(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    run = write(config(listmonk, dry_run=True), with_states(contacts(domain, 5), every=5))
    assert run.summary["created"] == 5
    assert len(run.events("dry_run_planned")) == 5
    assert subscribers_of(client, domain) == {}


def test_given_bad_records_then_each_is_rejected_with_a_reason_and_the_rest_synced(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    records = contacts(domain, 5) + [
        {"email": "not-an-email", "name": "X"},
        {"name": "no email"},
        {"email": f"ok-but-bad-status@{domain}", "status": "sleeping"},
        {"email": f"Gina G <gina@{domain}>"},
    ]
    run = write(config(listmonk, mapping={"status_field": "status"}), with_states(records, every=100))
    reasons = sorted(e["reason"] for e in run.events("rejected_record"))
    assert len(reasons) == 4
    assert any("not a valid email" in r for r in reasons) and any("status 'sleeping'" in r for r in reasons)
    assert any("no email" in r for r in reasons)
    assert run.summary["created"] == 5 and len(subscribers_of(client, domain)) == 5


def test_given_fail_policy_then_first_bad_record_stops_the_sync(listmonk: Any, domain: str) -> None:
    settings = config(listmonk, rejected_records={"policy": "fail"})
    with pytest.raises(AirbyteTracedException, match="rejected"):
        write(settings, [record({"email": "broken"}), state(1)])


def test_given_duplicate_keys_in_a_sync_then_last_record_wins_and_is_reported(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    messages = [record({"email": f"dup@{domain}", "name": "First"}), record({"email": f"DUP@{domain} ", "name": "Last"}), state(1)]
    run = write(config(listmonk), messages)
    assert subscribers_of(client, domain)[f"dup@{domain}"].name == "Last"
    assert len(run.events("duplicate_key")) == 1


def test_given_attribute_matching_when_email_changes_upstream_then_same_subscriber_updated(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    settings = config(listmonk, match_key="attribs.crm_id")
    crm_id = key_of(domain, "C-1")
    write(settings, [record({"email": f"old@{domain}", "name": "Kim", "crm_id": crm_id}), state(1)])
    (before,) = subscribers_of(client, domain).values()
    write(settings, [record({"email": f"new@{domain}", "name": "Kim", "crm_id": crm_id}), state(2)])
    (after,) = subscribers_of(client, domain).values()
    assert (after.id, after.email) == (before.id, f"new@{domain}")


def test_given_hostile_quotes_in_keys_then_lookup_is_safe_and_exact(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    settings = config(listmonk, match_key="attribs.crm_id")
    hostile = [f"o'brien{domain}", f"{domain}x'); DELETE FROM subscribers; --", f"') OR (1=1 {domain}", f"back\\slash{domain}"]
    records = [{"email": f"h{i}@{domain}", "crm_id": key} for i, key in enumerate(hostile)]
    write(settings, with_states(records, every=10))
    second = write(settings, with_states(records, every=10))
    assert second.summary["unchanged"] == len(hostile)
    held = subscribers_of(client, domain)
    assert sorted(s.attribs["crm_id"] for s in held.values()) == sorted(hostile)
    quoted = [{"email": f"o'brien.{i}@{domain}", "name": "Quote"} for i in range(2)]
    write(config(listmonk), with_states(quoted, every=10))
    assert write(config(listmonk), with_states(quoted, every=10)).summary["unchanged"] == 2


def full_sync_of(listmonk: Any, client: ListmonkClient, domain: str, count: int) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    news = client.create_list(f"news-{domain}")
    settings = config(
        listmonk, strategy={"mode": "full_sync"}, target_lists=[str(news.id)], new_subscription_status="confirmed",
        mapping={"status_field": "status", "lists_field": "lists"},
    )
    people = [{"email": f"c{i}@{domain}", "status": "enabled", "lists": [{"id": news.id, "subscription_status": "confirmed"}]}
              for i in range(count)]
    write(settings, with_states(people, every=10))
    return news, settings, people


def test_given_full_sync_then_consent_breaking_routes_are_never_used_to_resubscribe(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news, settings, people = full_sync_of(listmonk, client, domain, 2)
    held = subscribers_of(client, domain)
    left, blocked = (held[f"c{i}@{domain}"] for i in range(2))
    client.change_subscriptions([left.id], "unsubscribe", [news.id])
    client.blocklist_subscribers([blocked.id])
    run = write(settings, with_states(people, every=10))
    held = subscribers_of(client, domain)
    assert subscriptions(held[left.email]) == {news.id: "unsubscribed"}
    assert held[blocked.email].status == "blocklisted" and subscriptions(held[blocked.email]) == {news.id: "unsubscribed"}
    assert {(e["subscriber_id"], e["field"], e["rule"]) for e in run.events("skipped_change")} == {
        (left.id, f"lists.{news.id}", "consent_floor"),
        (blocked.id, "status", "consent_floor"),
        (blocked.id, f"lists.{news.id}", "consent_floor"),
    }


def test_given_blocklisted_by_patch_with_subscriptions_left_confirmed_then_full_sync_keeps_it_blocklisted(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    if not client.server_info().supports_patch:
        pytest.skip("the quirk needs PATCH (listmonk v6.1+)")
    news, settings, people = full_sync_of(listmonk, client, domain, 1)
    (quirk,) = subscribers_of(client, domain).values()
    # listmonk's PATCH to blocklisted without lists leaves subscriptions confirmed: still a blocklisted person.
    client.patch_subscriber(quirk.id, {"status": "blocklisted"})
    run = write(settings, with_states(people, every=10))
    (held,) = subscribers_of(client, domain).values()
    assert held.status == "blocklisted" and subscriptions(held) == {news.id: "confirmed"}
    assert {(e["subscriber_id"], e["field"], e["rule"]) for e in run.events("skipped_change")} == {
        (quirk.id, "status", "consent_floor"),
    }


def test_given_protected_fields_then_listmonk_values_survive_whatever_the_input(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    settings = config(listmonk, protected_fields=["name", "attribs.vip"], strategy={"mode": "full_sync"},
                      mapping={"status_field": "status"})
    write(settings, [record({"email": f"v@{domain}", "name": "Val", "vip": True, "plan": "a"}), state(1)])
    (created,) = subscribers_of(client, domain).values()
    change_in_listmonk(client, created.id, {"name": "Valentina", "attribs": {"vip": "gold"}})
    run = write(settings, [record({"email": f"v@{domain}", "name": "VAL", "vip": False, "plan": "b"}), state(2)])
    (after,) = subscribers_of(client, domain).values()
    assert (after.name, after.attribs["vip"], after.attribs["plan"]) == ("Valentina", "gold", "b")
    assert {e["field"] for e in run.events("skipped_change")} == {"name", "attribs.vip"}


@pytest.mark.parametrize("mode,expect", [("unsubscribe", "unsubscribed"), ("blocklist", "blocklisted"), ("delete", None)])
def test_given_cdc_deleted_records_then_deletion_mode_applies(
    listmonk: Any, client: ListmonkClient, domain: str, mode: str, expect: Any
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], deletions=mode)
    write(settings, [record({"email": f"d@{domain}"}), state(1)])
    write(settings, [record({"email": f"d@{domain}", "_ab_cdc_deleted_at": "2026-11-27T00:00:00Z"}), state(2)])
    held = subscribers_of(client, domain)
    if expect is None:
        assert held == {}
    elif expect == "blocklisted":
        assert held[f"d@{domain}"].status == "blocklisted"
    else:
        assert subscriptions(held[f"d@{domain}"]) == {news.id: "unsubscribed"}


def test_given_soft_delete_stream_and_default_settings_then_nothing_is_deleted(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    write(config(listmonk), [record({"email": f"s@{domain}"}), state(1)])
    write(config(listmonk), [record({"email": f"s@{domain}"}), state(2)], catalog(DestinationSyncMode.soft_delete))
    assert f"s@{domain}" in subscribers_of(client, domain)


def test_given_listmonk_v5_without_patch_then_updates_keep_lists_and_attributes(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed")
    write(settings, [record({"email": f"v5@{domain}", "name": "Old", "plan": "a"}), state(1)])
    (held,) = subscribers_of(client, domain).values()
    client.patch_subscriber(held.id, {"attribs": {"listmonk_only": 1}})
    client.change_subscriptions([held.id], "unsubscribe", [news.id])
    emulator.set_version("v5.1.0")
    run = write(settings, [record({"email": f"v5@{domain}", "name": "New", "plan": "b"}), state(2)])
    assert run.events("sync started")[0]["update_call"] == "PUT with the full record"
    (after,) = subscribers_of(client, domain).values()
    assert after.name == "New"
    assert after.attribs == {"plan": "b", "listmonk_only": 1}
    assert subscriptions(after) == {news.id: "unsubscribed"}


def test_given_unchanged_resync_then_emulator_sees_zero_writes(listmonk: Any, emulator: Any, domain: str) -> None:
    records = contacts(domain, 50)
    write(config(listmonk), with_states(records, every=25))
    emulator.reset_stats()
    write(config(listmonk), with_states(records, every=25))
    assert emulator.stats()["writes"] == 0


def test_console_script_writes_and_emits_state(listmonk: Any, client: ListmonkClient, domain: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config(listmonk)))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [{
        "stream": {"name": "contacts", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
    lines = [
        {"type": "RECORD", "record": {"stream": "contacts", "data": {"email": f"cli@{domain}", "name": "Cli"}, "emitted_at": 0}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "contacts"}, "stream_state": {"n": 1}}}},
    ]
    out = subprocess.run(
        [str(Path(sys.executable).with_name("destination-listmonk")), "write", "--config", str(tmp_path / "config.json"),
         "--catalog", str(tmp_path / "catalog.json")],
        input="\n".join(json.dumps(line) for line in lines), capture_output=True, text=True, timeout=120, check=True,
    )
    messages = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"] == [{"n": 1}]
    assert listmonk.token not in out.stdout + out.stderr
    assert subscribers_of(client, domain)[f"cli@{domain}"].name == "Cli"


def test_given_bulk_import_then_new_subscribers_match_what_posts_create_and_consent_holds(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                      advanced={"batch_size": 500, "concurrency": 4, "bulk_import": True})
    records = contacts(domain, 120) + [{"email": f"bad row@{domain}", "name": "Bad"}]
    # Someone already in listmonk and unsubscribed: an import must not touch them (the lookup plans an update).
    existing = client.create_subscriber(email=f"p0@{domain}", name="Kept", lists=[news.id], preconfirm=True)
    client.change_subscriptions([existing.id], "unsubscribe", [news.id])
    run = write(settings, with_states(records, every=500))
    held = subscribers_of(client, domain)
    assert len(held) == 120
    assert run.summary["created"] == 119
    assert subscriptions(held[f"p0@{domain}"]) == {news.id: "unsubscribed"}
    sample = held[f"p7@{domain}"]
    assert (sample.name, sample.attribs, subscriptions(sample)) == ("Person 7", {"tier": "t1"}, {news.id: "confirmed"})
    assert any("not a valid email" in e["reason"] for e in run.events("rejected_record"))
    assert write(settings, with_states(records[:120], every=500)).summary["unchanged"] == 120


def test_given_snapshot_lookup_then_new_and_unchanged_records_skip_lookups_and_listmonk_ends_the_same(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], mapping={"status_field": "status"},
                      advanced={"batch_size": 100, "concurrency": 4, "snapshot_lookup": "always"})
    people = contacts(domain, 300, status="enabled")
    people[250] = {**people[10], "name": "Renamed later in the same sync"}  # a key seen again two batches on
    emulator.reset_stats()
    first = write(settings, with_states(people, every=100))
    assert first.summary["created"] == 299
    assert emulator.stats()["by_route"].get("GET /api/subscribers", 0) == 1  # only the duplicate was looked up
    held = subscribers_of(client, domain)
    assert held[f"p10@{domain}"].name == "Renamed later in the same sync"

    client.blocklist_subscribers([held[f"p20@{domain}"].id])
    client.patch_subscriber(held[f"p30@{domain}"].id, {"attribs": {"listmonk_only": 1}})
    people[40] = {**people[40], "name": "New name"}
    emulator.reset_stats()
    second = write(settings, with_states(people, every=100))
    # p10 is written twice (its two records disagree), p40 once; everything else is judged from the export.
    assert (second.summary["updated"], second.summary["unchanged"], second.summary["created"]) == (3, 297, 0)
    assert emulator.stats()["writes"] == 3
    after = subscribers_of(client, domain)
    assert after[f"p10@{domain}"].name == "Renamed later in the same sync"
    assert after[f"p40@{domain}"].name == "New name"
    assert after[f"p30@{domain}"].attribs["listmonk_only"] == 1
    assert after[f"p20@{domain}"].status == "blocklisted"
    assert [(e["subscriber_id"], e["field"]) for e in second.events("skipped_change")] == [(held[f"p20@{domain}"].id, "status")]


def test_given_bulk_imports_overlapping_the_next_batch_when_an_import_fails_then_state_stops_at_the_last_commit(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100, "bulk_import": True})
    records = contacts(domain, 400)
    emulator.set_faults(fail_after_writes=2, fail_status=500, method="POST")  # the third import is refused
    emitted: list[Any] = []
    with pytest.raises(Exception):
        for message in DestinationListmonk().write(settings, catalog(), with_states(records, every=200)):
            emitted.append(message)
    assert [m.state.stream.stream_state.marker for m in emitted if m.state is not None] == [200]
    assert len(subscribers_of(client, domain)) == 200
    emulator.clear_faults()
    write(settings, with_states(records[200:], every=200))
    held = subscribers_of(client, domain)
    assert len(held) == 400 and all(subscriptions(s) == {news.id: "unconfirmed"} for s in held.values())


def slow_imports_of_batches_of_100(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str, **faults: Any
) -> tuple[Any, dict[str, Any]]:
    """A list to load new subscribers onto, batches of 100 by import, and imports far slower than a batch's plan."""
    news = client.create_list(f"news-{domain}")
    emulator.set_faults(import_delay_ms=1000, **faults)
    return news, config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100, "bulk_import": True})


def assert_all_subscribed(client: ListmonkClient, domain: str, list_id: int, count: int) -> None:
    held = subscribers_of(client, domain)
    assert len(held) == count and all(subscriptions(s) == {list_id: "unconfirmed"} for s in held.values())


def test_given_new_subscribers_planned_while_an_import_runs_then_they_join_the_next_import_and_states_follow_commits(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news, settings = slow_imports_of_batches_of_100(listmonk, emulator, client, domain)
    emulator.reset_stats()
    held_at_states = []
    for message in DestinationListmonk().write(settings, catalog(), with_states(contacts(domain, 600), every=100)):
        if message.state is not None:
            held_at_states.append((message.state.stream.stream_state.marker, len(subscribers_of(client, domain))))
    # The first batch goes at once; the second waits for it (no pace to go by yet); the other four join one import.
    assert emulator.stats()["by_route"]["POST /api/import/subscribers"] == 3
    assert [marker for marker, _ in held_at_states] == [100, 200, 300, 400, 500, 600, 600]
    assert all(held >= marker for marker, held in held_at_states)
    assert_all_subscribed(client, domain, news.id, 600)


def test_given_batches_gathered_for_the_next_import_when_it_fails_then_the_states_committed_before_still_come(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    # The third import (the four last batches, gathered while the second ran) is refused.
    news, settings = slow_imports_of_batches_of_100(
        listmonk, emulator, client, domain, fail_after_writes=2, fail_status=500, method="POST")
    records = contacts(domain, 600)
    emitted: list[Any] = []
    with pytest.raises(Exception):
        for message in DestinationListmonk().write(settings, catalog(), with_states(records, every=100)):
            emitted.append(message)
    assert [m.state.stream.stream_state.marker for m in emitted if m.state is not None] == [100, 200]
    assert len(subscribers_of(client, domain)) == 200
    emulator.clear_faults()
    write(settings, with_states(records[200:], every=100))
    assert_all_subscribed(client, domain, news.id, 600)


def test_given_profile_changes_planned_while_an_import_runs_then_the_sync_reads_on_and_states_follow_commits(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 100, "bulk_import": True})
    write(settings, with_states(contacts(domain, 400), every=400))
    emulator.set_faults(import_delay_ms=1000)
    # 200 new subscribers (two imports, the second with a known pace), then 400 changed profiles.
    records = [{"email": f"p{i}@{domain}", "name": f"Person {i}", "tier": "t1"} for i in range(400, 600)]
    records += [{"email": f"p{i}@{domain}", "name": f"Person {i}", "tier": "t2"} for i in range(400)]
    import_at_last_record: list[str] = []

    def messages() -> Any:
        for message in with_states(records, every=100):
            if message.record is not None and message.record.data is records[-1]:
                import_at_last_record.append(client.import_status().status)
            yield message

    committed_at_states = []
    for message in DestinationListmonk().write(settings, catalog(), messages()):
        if message.state is not None:
            held = subscribers_of(client, domain)
            marker = message.state.stream.stream_state.marker
            committed_at_states.append((marker, sum(
                1 for r in records[:marker] if r["email"] in held and held[r["email"]].attribs["tier"] == r["tier"])))
    # The changed profiles' batches wait for a later import, so they are read and planned while the second runs.
    assert import_at_last_record == ["importing"]
    assert [marker for marker, _ in committed_at_states] == [100, 200, 300, 400, 500, 600, 600]
    assert all(committed == marker for marker, committed in committed_at_states)
    held = subscribers_of(client, domain)
    assert {s.attribs["tier"] for s in held.values()} == {"t1", "t2"} and len(held) == 600
    assert all(held[r["email"]].attribs["tier"] == r["tier"] for r in records)
    assert all(subscriptions(s) == {news.id: "unconfirmed"} for s in held.values())


def test_given_two_keys_claiming_one_email_then_second_is_rejected_with_the_owner_named(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    settings = config(listmonk, match_key="attribs.crm_id")
    a, b = key_of(domain, "A"), key_of(domain, "B")
    messages = [record({"email": f"shared@{domain}", "crm_id": a}), record({"email": f"shared@{domain}", "crm_id": b}), state(1)]
    run = write(settings, messages)
    (held,) = subscribers_of(client, domain).values()
    assert held.attribs["crm_id"] == a
    (rejection,) = run.events("rejected_record")
    assert rejection["key"] == b and f"also claimed by record 1 (attribs.crm_id '{a}')" in rejection["reason"]
    assert (run.summary["created"], run.summary["rejected"]) == (1, 1)
    # In a later sync the email's owner is found by the lookup, and B is refused naming it.
    again = write(settings, [record({"email": f"shared@{domain}", "crm_id": b}), state(2)])
    (rejection,) = again.events("rejected_record")
    assert f"crm_id is '{a}'" in rejection["reason"]


def test_given_create_answered_409_then_record_is_planned_again_against_listmonk_and_synced(
    listmonk: Any, emulator: Any, client: ListmonkClient, domain: str
) -> None:
    # As if someone created the subscriber between the lookup and the POST: the plan is redone, not guessed.
    emulator.set_faults(status=409, count=1, method="POST", path_prefix="/api/subscribers")
    run = write(config(listmonk, advanced={"bulk_import": False}), [record({"email": f"late@{domain}", "name": "Late"}), state(1)])
    assert (run.summary["created"], run.summary["rejected"]) == (1, 0)
    assert subscribers_of(client, domain)[f"late@{domain}"].name == "Late"
