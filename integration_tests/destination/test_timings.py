"""The `timings` event says where a sync's wall time went, so that a slow sync explains itself."""

from __future__ import annotations

from typing import Any

from integration_tests.destination.harness import (
    config, skip_without_profile_imports, subscribers_of, with_states, write,
)
from listmonk_client.client import ListmonkClient


def test_given_a_resync_with_changed_profiles_then_the_timings_event_accounts_for_its_lookups_imports_and_wall_time(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    skip_without_profile_imports(client)
    news = client.create_list(f"news-{domain}")
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 500, "lookup_keys_per_call": 50})
    people = [{"email": f"t{i}@{domain}", "name": f"Timed {i}", "plan": "basic"} for i in range(120)]
    write(settings, with_states(people, every=500))

    run = write(settings, with_states([{**p, "plan": "pro"} for p in people], every=120))

    (timings,) = run.events("timings")
    assert run.summary["updated"] == 120
    assert timings["calls"]["lookup"] == 3  # 120 keys, 50 a call
    assert timings["calls"]["import_upload"] == timings["calls"]["import_wait"] == 1
    assert timings["calls"]["profile_calls"] == 0
    phases = sum(timings["seconds"].values())
    assert phases + timings["read_and_map_seconds"] >= timings["wall_seconds"] - 0.002
    assert phases <= timings["wall_seconds"] and timings["seconds"]["lookup"] > 0
    # Both STATEs came while the import had not been waited for: each was held, then passed on.
    assert timings["states_held"] == 2 and len(run.states) == 2


def test_given_changed_profiles_looked_up_over_many_rounds_then_each_call_is_counted_once_within_the_wall_time(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    # Calls of 10 keys, 2 at a time, in chunks of 4 such rounds: each chunk is looked up, then planned.
    settings = config(listmonk, advanced={"batch_size": 500, "lookup_keys_per_call": 10, "concurrency": 2})
    people = [{"email": f"r{i}@{domain}", "name": f"Round {i}", "plan": "basic"} for i in range(150)]
    write(settings, with_states(people, every=500))

    run = write(settings, with_states([{**p, "plan": "pro" if i % 3 else "basic"} for i, p in enumerate(people)],
                                      every=150))

    (timings,) = run.events("timings")
    assert (run.summary["updated"], run.summary["unchanged"]) == (100, 50)
    assert timings["calls"]["lookup"] == 15
    phases = sum(timings["seconds"].values())
    assert phases + timings["read_and_map_seconds"] >= timings["wall_seconds"] - 0.002
    assert phases <= timings["wall_seconds"] and timings["seconds"]["lookup"] > 0
    held = {email: s.attribs.get("plan") for email, s in subscribers_of(client, domain).items()}
    assert held == {p["email"]: ("pro" if i % 3 else "basic") for i, p in enumerate(people)}
