"""What listmonk holds after a sync through each fault listmonk or the network can throw at it: nothing lost,
nothing duplicated, no consent change. Syncs run as Airbyte runs them (the console script), and everything
they print is checked for the token (the `cli` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from integration_tests import figures
from integration_tests.cli import Cli, CliRun, Outputs, input_lines
from integration_tests.destination.harness import config, subscribers_of, subscriptions, with_states, write
from listmonk_client.client import ListmonkClient



@dataclass
class Scenario:
    """Records for a domain where some subscribers already exist, some of them unsubscribed or blocklisted."""

    domain: str
    news: int
    records: list[dict[str, Any]]
    unsubscribed: set[str]
    blocklisted: set[str]
    settings: dict[str, Any]

    def input(self, every: int = 100, start: int = 0) -> str:
        return input_lines(self.records, every, start)


def scenario(listmonk: Any, client: ListmonkClient, domain: str, count: int = 400, **overrides: Any) -> Scenario:
    news = client.create_list(f"news-{domain}")
    existing = [{"email": f"m{i}@{domain}", "name": f"Old {i}", "plan": "old"} for i in range(0, count, 4)]
    write(config(listmonk, target_lists=[str(news.id)], new_subscription_status="confirmed",
                 advanced={"batch_size": 500}), with_states(existing, every=500))
    held = subscribers_of(client, domain)
    unsubscribed = {f"m{i}@{domain}" for i in range(0, count, 12)}
    blocklisted = {f"m{i}@{domain}" for i in range(4, count, 20)}
    client.change_subscriptions([held[e].id for e in unsubscribed], "unsubscribe", [news.id])
    client.blocklist_subscribers([held[e].id for e in blocklisted])
    records = [{"email": f"m{i}@{domain}", "name": f"Member {i}", "plan": f"p{i % 3}"} for i in range(count)]
    advanced = {"batch_size": 100, "concurrency": 4, "snapshot_lookup": "never", **overrides.pop("advanced", {})}
    settings = config(listmonk, target_lists=[str(news.id)], advanced=advanced, **overrides)
    return Scenario(domain, news.id, records, unsubscribed, blocklisted, settings)


def assert_listmonk_holds_every_record_with_consent_intact(client: ListmonkClient, case: Scenario) -> None:
    held = subscribers_of(client, case.domain)
    assert sorted(held) == sorted(r["email"] for r in case.records)  # nothing lost, nobody twice
    wrong = [r["email"] for r in case.records
             if (held[r["email"]].name, held[r["email"]].attribs.get("plan")) != (r["name"], r["plan"])]
    assert wrong == []
    for email, subscriber in held.items():
        if email in case.blocklisted:
            assert subscriber.status == "blocklisted" and subscriptions(subscriber) == {case.news: "unsubscribed"}
        elif email in case.unsubscribed:
            assert subscriber.status == "enabled" and subscriptions(subscriber) == {case.news: "unsubscribed"}
        else:
            assert subscriber.status == "enabled" and subscriptions(subscriber)[case.news] in ("confirmed", "unconfirmed")


def injected(emulator: Any, kind: str, spec: dict[str, Any], key: str) -> None:
    """Counts how many of the faults `spec` asked for were served (what is left of the count is not)."""
    figures.count(f"faults injected: {kind}", int(spec[key]) - int(emulator.faults()[key]))


def sync(cli: Cli, case: Scenario, **settings: Any) -> CliRun:
    run = cli.write({**case.settings, **settings}, case.input())
    assert run.returncode == 0, run.stdout[-3000:]
    return run


def test_given_a_429_storm_with_retry_after_then_the_sync_waits_as_told_and_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    case = scenario(listmonk, client, domain, advanced={"batch_size": 600})
    # Five in a row: one call may meet them all, and its sixth attempt is the last (listmonk_client.retry), even
    # where Retry-After leaves the time budget room.
    spec = {"status": 429, "count": 5, "retry_after": 1, "path_prefix": "/api/subscribers"}
    emulator.set_faults(**spec)
    run = sync(cli, case)
    injected(emulator, "429 with Retry-After", spec, "count")
    assert emulator.faults()["count"] == 0
    assert "retrying in 1.00s" in run.stdout + run.stderr
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_given_a_burst_of_gateway_errors_then_the_sync_backs_off_and_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str, status: int
) -> None:
    case = scenario(listmonk, client, domain)
    spec = {"status": status, "count": 5}  # every route, the first calls of the sync included
    emulator.set_faults(**spec)
    sync(cli, case)
    injected(emulator, f"{status}", spec, "count")
    assert emulator.faults()["count"] == 0
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


def test_given_connection_resets_then_the_sync_reconnects_and_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    case = scenario(listmonk, client, domain)
    spec = {"resets": 5}
    emulator.set_faults(**spec)
    sync(cli, case)
    injected(emulator, "connection reset", spec, "resets")
    assert emulator.faults()["resets"] == 0
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


@pytest.mark.parametrize("method,prefix", [("GET", "/api/subscribers"), ("PATCH", "/api/subscribers/"),
                                           ("POST", "/api/import/subscribers")])
def test_given_answers_slower_than_the_read_timeout_then_calls_are_retried_and_the_sync_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, outputs: Outputs, domain: str, method: str, prefix: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # The work is done on listmonk, only its answer is late: a retried PATCH or import must do no harm. In
    # process, to shorten the client's 60 s read timeout.
    case = scenario(listmonk, client, domain, protected_fields=["attribs.owner"])
    monkeypatch.setitem(ListmonkClient.__init__.__kwdefaults__, "read_timeout", 1.0)
    spec = {"slow_ms": 2500, "slow_count": 2, "method": method, "path_prefix": prefix}
    emulator.set_faults(**spec)
    run = write(case.settings, with_states(case.records, every=100))
    injected(emulator, "answer past the read timeout", spec, "slow_count")
    outputs.add("in-process write", "\n".join(map(repr, run.messages)) + caplog.text)
    assert emulator.faults()["slow_count"] == 0
    assert "no response within 1s" in caplog.text
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


def test_given_every_write_failing_with_500_then_the_sync_stops_with_state_only_for_committed_records_and_a_rerun_completes(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    # A full disk: listmonk answers every write with 500 from some point on, reads still work.
    case = scenario(listmonk, client, domain, protected_fields=["attribs.owner"])
    spec = {"fail_after_writes": 40, "fail_status": 500}
    emulator.set_faults(**spec)
    failed = cli.write(case.settings, case.input())
    figures.count("faults injected: 500 on every write", emulator.faults()["writes_seen"] - 40)
    emulator.clear_faults()
    assert failed.returncode != 0 and failed.traces
    committed = failed.states[-1] if failed.states else 0
    assert committed < len(case.records)
    held = subscribers_of(client, case.domain)
    assert [r["email"] for r in case.records[:committed] if held[r["email"]].name != r["name"]] == []
    rerun = cli.write(case.settings, case.input(start=committed))
    assert rerun.returncode == 0 and rerun.states[-1] == len(case.records)
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


def test_given_two_syncs_writing_the_same_and_overlapping_records_at_once_then_nothing_is_lost_or_doubled(
    listmonk: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    case = scenario(listmonk, client, domain, count=600)
    first = cli.start("destination-listmonk", cli.write_args(case.settings), input_lines(case.records[:400], 100))
    second = cli.start("destination-listmonk", cli.write_args(case.settings), input_lines(case.records, 100, 200))
    same = cli.start("destination-listmonk", cli.write_args(case.settings), input_lines(case.records[:400], 100))
    for running in (first, second, same):
        assert running.finish().returncode == 0
    assert_listmonk_holds_every_record_with_consent_intact(client, case)


RACES = {
    # name: (settings overrides, listmonk version, what the sync writes to the raced subscriber)
    "profile by PATCH": ({"protected_fields": ["attribs.owner"]}, "v6.2.0"),
    "profile by import": ({"advanced": {"batch_size": 100, "snapshot_lookup": "never", "bulk_import": True}}, "v6.2.0"),
    "profile by PUT (v5)": ({}, "v5.1.0"),
    "confirming subscriptions": ({"strategy": {"mode": "full_sync"}, "new_subscription_status": "confirmed",
                                 "mapping": {"lists_field": "lists"}}, "v6.2.0"),
}


@pytest.mark.parametrize("action", ["blocklist", "unsubscribe"])
@pytest.mark.parametrize("race", RACES)
def test_given_a_consent_change_between_our_lookup_and_our_write_then_it_survives(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str, race: str, action: str
) -> None:
    overrides, version = RACES[race]
    case = scenario(listmonk, client, domain, count=200, **overrides)
    if "lists_field" in str(overrides):
        # listmonk holds their subscription unconfirmed; the records ask for confirmed, so the sync writes it.
        held = subscribers_of(client, domain)
        client.change_subscriptions([s.id for e, s in held.items() if e not in case.unsubscribed | case.blocklisted],
                                    "add", [case.news], "unconfirmed")
        case.records = [{**r, "lists": [{"id": case.news, "subscription_status": "confirmed"}]} for r in case.records]
    raced = [f"m{i}@{domain}" for i in range(8, 200, 16)]  # existing, enabled and subscribed before the sync
    emulator.set_version(version)
    emulator.set_faults(method="GET", path_prefix="/api/subscribers", consent_change={
        "after": 1, "action": action, "emails": raced, "list_ids": [case.news]})
    run = sync(cli, case, advanced={**case.settings["advanced"], "batch_size": 200})
    figures.count("faults injected: consent change between lookup and write", len(raced))
    if action == "blocklist":
        case.blocklisted |= set(raced)
    else:
        case.unsubscribed |= set(raced)
    assert_listmonk_holds_every_record_with_consent_intact(client, case)
    if race == "confirming subscriptions":
        # Seen by the re-check right before the confirming `add`: refused, and said so in the audit trail.
        refused = {e["subscriber"] for e in run.events("skipped_change")
                   if e["field"] == f"lists.{case.news}" and e["rule"] == "consent_floor"}
        assert set(raced) <= refused


def test_given_a_full_sync_confirming_subscriptions_then_the_recheck_costs_one_lookup_call_per_150_and_none_without(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    people = [{"email": f"c{i}@{domain}", "name": f"Person {i}"} for i in range(200)]
    write(config(listmonk, target_lists=[str(news.id)]), with_states(people, every=200))  # held unconfirmed
    settings = config(listmonk, strategy={"mode": "full_sync"}, new_subscription_status="confirmed",
                      mapping={"lists_field": "lists"}, advanced={"batch_size": 500, "snapshot_lookup": "never"})
    confirming = [{**p, "lists": [{"id": news.id, "subscription_status": "confirmed"}]} for p in people]

    first = write(settings, with_states(confirming, every=200))
    again = write(settings, with_states(confirming, every=200))

    assert first.summary["updated"] == 200 and again.summary["unchanged"] == 200
    assert {subscriptions(s)[news.id] for s in subscribers_of(client, domain).values()} == {"confirmed"}
    # 200 keys at 150 a call: 2 lookup calls to plan, 2 more to re-check the 200 confirmations; none when none.
    assert first.events("timings")[0]["calls"]["lookup"] == 4
    assert again.events("timings")[0]["calls"]["lookup"] == 2



def test_given_a_blocklist_between_our_lookup_and_a_status_write_then_it_survives(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    """`full_sync` with a status field writes the subscriber's status, and a PATCH with a status overwrites a
    blocklist: the subscribers whose status is about to be written are looked up again right before."""
    case = scenario(listmonk, client, domain, count=200, strategy={"mode": "full_sync"},
                    mapping={"name_field": "name", "status_field": "status"})
    raced = [f"m{i}@{domain}" for i in range(8, 200, 16)]  # existing, enabled and subscribed before the sync
    case.records = [{**r, "status": "disabled" if r["email"] in raced else "enabled"} for r in case.records]
    emulator.set_version("v6.2.0")
    emulator.set_faults(method="GET", path_prefix="/api/subscribers", consent_change={
        "after": 1, "action": "blocklist", "emails": raced, "list_ids": [case.news]})
    run = sync(cli, case, advanced={**case.settings["advanced"], "batch_size": 200})
    figures.count("faults injected: consent change between lookup and write", len(raced))

    held = subscribers_of(client, domain)
    assert [e for e in raced if held[e].status != "blocklisted"] == []
    assert [e for e in case.blocklisted if held[e].status != "blocklisted"] == []
    assert [r["email"] for r in case.records if held[r["email"]].name != r["name"]] == []
    refused = {e["subscriber"] for e in run.events("skipped_change") if e["field"] == "status"}
    assert set(raced) <= refused
