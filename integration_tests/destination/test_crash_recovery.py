"""The destination's console script killed with SIGKILL at the worst moments, then replayed from the last STATE it
emitted, as Airbyte resumes a failed sync: listmonk ends exactly as after a clean run of the same input, consent
held by listmonk before the sync included."""

from __future__ import annotations

import time
from typing import Any

from destination_listmonk.snapshot import WHOLE_DATASET_START_RECORDS
from integration_tests import figures
from integration_tests.cli import Cli, CliRun, input_lines
from integration_tests.destination.harness import config, held_as_compared, subscribers_of, with_states, write
from listmonk_client.client import ListmonkClient

RECORDS = 20_000
BATCH = 2_000
# Not a multiple of the batch: a STATE then arrives with records not yet written, as from any Airbyte source.
STATE_EVERY = 3_000
EXISTING_EVERY = 50  # one record in 50 is a subscriber listmonk already holds, with another name (a PATCH)


def people(domain: str) -> list[dict[str, Any]]:
    return [{"email": f"c{i}@{domain}", "name": f"Person {i}", "plan": f"p{i % 5}", "seq": i, "owner": "crm"}
            for i in range(RECORDS)]


def prepare(client: ListmonkClient, listmonk: Any, domain: str) -> tuple[dict[str, Any], dict[int, str]]:
    """The domain's lists and its pre-existing subscribers, some unsubscribed or blocklisted; the sync's config."""
    news, other = client.create_list(f"news-{domain}"), client.create_list(f"other-{domain}")
    existing = [{"email": f"c{i}@{domain}", "name": f"Old {i}", "plan": "old", "owner": "listmonk"}
                for i in range(0, RECORDS, EXISTING_EVERY)]
    write(config(listmonk, target_lists=[str(news.id), str(other.id)], new_subscription_status="confirmed",
                 advanced={"batch_size": 1000}), with_states(existing, every=1000))
    held = subscribers_of(client, domain)
    unsubscribed = [held[f"c{i}@{domain}"].id for i in range(0, RECORDS, EXISTING_EVERY * 4)]
    client.change_subscriptions(unsubscribed, "unsubscribe", [news.id])
    client.blocklist_subscribers([held[f"c{i}@{domain}"].id for i in range(EXISTING_EVERY, RECORDS, EXISTING_EVERY * 7)])
    settings = config(listmonk, target_lists=[str(news.id)], protected_fields=["attribs.owner"],
                      advanced={"batch_size": BATCH, "concurrency": 4, "snapshot_lookup": "never"})
    return settings, {news.id: "news", other.id: "other"}


def kill_once_held(cli: Cli, emulator: Any, settings: dict[str, Any], records: list[dict[str, Any]], start: int,
                   **hold: Any) -> CliRun:
    """Replays records[start:] with answers held as `hold` says; kills the process once one is held."""
    emulator.set_faults(**hold)
    running = cli.start("destination-listmonk", cli.write_args(settings), input_lines(records, STATE_EVERY, start))
    deadline = time.monotonic() + 300
    while emulator.faults()["held"] == 0:
        assert running.process.poll() is None, f"the sync ended before reaching {hold}: {running.finish().stderr[-2000:]}"
        assert time.monotonic() < deadline, f"no answer held after 300 s under {hold}"
        time.sleep(0.02)
    killed = running.kill()
    emulator.clear_faults()  # the held answers go out to a dead process; what they did stays done
    assert killed.returncode == -9
    return killed


def test_given_sigkill_during_lookups_an_import_and_between_a_write_and_its_state_then_replays_end_as_a_clean_run(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    clean_domain, crash_domain = f"clean.{domain}", f"crash.{domain}"
    clean_settings, clean_lists = prepare(client, listmonk, clean_domain)
    crash_settings, crash_lists = prepare(client, listmonk, crash_domain)
    consent_before = held_as_compared(client, crash_domain, crash_lists)

    clean = cli.write(clean_settings, input_lines(people(clean_domain), STATE_EVERY))
    assert clean.returncode == 0 and clean.states[-1] == RECORDS

    records = people(crash_domain)
    resumed_at = [0]
    kill_points = [
        # The 41st lookup is in the fourth batch (records 5,001-6,000), while the third's import may still run; the
        # STATE at 3,000 is out (passed on at the latest once the third batch was looked up).
        {"hold_after": 40, "method": "GET", "path_prefix": "/api/subscribers"},
        # The replay's second import has started on listmonk; its answer never reaches the process.
        {"hold_after": 1, "method": "POST", "path_prefix": "/api/import/subscribers"},
        # The replay's second batch: listmonk has applied the PATCH, the process dies before its STATE.
        {"hold_after": 45, "method": "PATCH", "path_prefix": "/api/subscribers/"},
    ]
    for hold in kill_points:
        killed = kill_once_held(cli, emulator, crash_settings, records, resumed_at[-1], **hold)
        figures.count("faults injected: SIGKILL of the sync", 1)
        resumed_at.append(killed.states[-1] if killed.states else resumed_at[-1])
    assert resumed_at[1] > 0 and resumed_at[-1] < RECORDS  # each kill came after some STATEs and before the end
    last = cli.write(crash_settings, input_lines(records, STATE_EVERY, resumed_at[-1]))
    assert last.returncode == 0 and last.states[-1] == RECORDS

    after = held_as_compared(client, crash_domain, crash_lists)
    assert after == held_as_compared(client, clean_domain, clean_lists)
    assert len(after) == RECORDS
    for local, (_, _, status, lists) in consent_before.items():
        assert after[local][2] == status
        assert {k: v for k, v in after[local][3].items() if v == "unsubscribed"} == {
            k: v for k, v in lists.items() if v == "unsubscribed"}


def test_given_sigkill_while_a_resync_awaits_the_export_and_during_its_patches_then_replays_end_as_a_clean_run(
    listmonk: Any, emulator: Any, client: ListmonkClient, cli: Cli, domain: str
) -> None:
    """The export path: a full-refresh re-sync with `auto` reads listmonk's export and, while awaiting it, reads
    records ahead with STATEs among them; one record in ten has a new name (a PATCH: `attribs.owner` is protected)."""
    runs = {}
    for role in ("clean", "crash"):
        run_domain = f"{role}.{domain}"
        settings, lists = prepare(client, listmonk, run_domain)
        assert cli.write(settings, input_lines(people(run_domain), STATE_EVERY)).returncode == 0
        changed = [{**p, "name": f"Renamed {i}"} if i % 10 == 3 else p for i, p in enumerate(people(run_domain))]
        runs[role] = ({**settings, "advanced": {**settings["advanced"], "snapshot_lookup": "auto"}}, lists, changed)
    consent_before = held_as_compared(client, f"crash.{domain}", runs["crash"][1])

    clean_settings, clean_lists, clean_records = runs["clean"]
    clean = cli.write(clean_settings, input_lines(clean_records, STATE_EVERY))
    assert clean.returncode == 0 and clean.states[-1] == RECORDS
    assert [e["started_after_records"] for e in clean.events("export snapshot loaded")] == [
        min(BATCH, WHOLE_DATASET_START_RECORDS)]

    crash_settings, crash_lists, records = runs["crash"]
    resumed_at = [0]
    for hold in ({"hold_after": 0, "method": "GET", "path_prefix": "/api/subscribers/export"},
                 {"hold_after": 300, "method": "PATCH", "path_prefix": "/api/subscribers/"}):
        killed = kill_once_held(cli, emulator, crash_settings, records, resumed_at[-1], **hold)
        figures.count("faults injected: SIGKILL of the sync", 1)
        resumed_at.append(killed.states[-1] if killed.states else resumed_at[-1])
    assert resumed_at[-1] < RECORDS
    last = cli.write(crash_settings, input_lines(records, STATE_EVERY, resumed_at[-1]))
    assert last.returncode == 0 and last.states[-1] == RECORDS

    after = held_as_compared(client, f"crash.{domain}", crash_lists)
    assert after == held_as_compared(client, f"clean.{domain}", clean_lists) and len(after) == RECORDS
    for local, (_, _, status, lists) in consent_before.items():
        assert after[local][2] == status
        assert {k: v for k, v in after[local][3].items() if v == "unsubscribed"} == {
            k: v for k, v in lists.items() if v == "unsubscribed"}
