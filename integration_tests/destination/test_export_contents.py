"""The export snapshot reads whatever listmonk holds: attributes of megabytes, quotes and line breaks inside fields,
any script. A subscriber anybody can create never breaks later syncs."""

from __future__ import annotations

from typing import Any

from integration_tests.destination.harness import config, subscribers_of, subscriptions, with_states, write
from listmonk_client.client import ListmonkClient

# About 2 MB of JSON once encoded: 16 times csv's default field limit.
HUGE = {"history": [{"note": f"visit {i} \u05d1\u05d9\u05e7\u05d5\u05e8 \U0001f600", "id": i} for i in range(40_000)]}
MULTILINE_NAME = 'Line one\r\nline "two", and\nthree'
RTL_NAME = " \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \U0001f469\u200d\U0001f4bb"


def test_given_huge_multiline_and_rtl_subscribers_when_a_sync_reads_the_export_then_it_uses_it_and_writes_right(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    news = client.create_list(f"news-{domain}")
    odd = {
        f"huge@{domain}": ("Huge", {"crm": "h", **HUGE}),
        f"multi@{domain}": (MULTILINE_NAME, {"crm": "m", "quote": 'say "hi",\nthen\r\nleave', "dot": "\\."}),
        f"rtl@{domain}": (RTL_NAME, {"crm": "r", "\u05e2\u05d9\u05e8": "\u0627\u0644\u0642\u062f\u0633"}),
    }
    for email, (name, attribs) in odd.items():
        client.create_subscriber(email=email, name=name, attribs=attribs, lists=[news.id], preconfirm=True)
    client.change_subscriptions([subscribers_of(client, domain)[f"multi@{domain}"].id], "unsubscribe", [news.id])
    people = [{"email": email, "name": name, **attribs} for email, (name, attribs) in odd.items()]
    people[2] = {**people[2], "name": "\u05d3\u05e0\u05d4 \U0001f680"}  # a change: written
    people += [{"email": f"new{i}@{domain}", "name": f"New \u05d7\u05d3\u05e9 {i}", "crm": str(i)} for i in range(60)]
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"batch_size": 50, "snapshot_lookup": "always"})

    run = write(settings, with_states(people, every=50))

    assert run.events("export snapshot loaded") and not run.events("export snapshot unusable, every record is looked up")
    assert (run.summary["created"], run.summary["updated"], run.summary["unchanged"]) == (60, 1, 2)
    held = subscribers_of(client, domain)
    assert len(held) == 63
    assert held[f"huge@{domain}"].attribs == {"crm": "h", **HUGE}
    assert (held[f"multi@{domain}"].name, subscriptions(held[f"multi@{domain}"])) == (MULTILINE_NAME, {news.id: "unsubscribed"})
    assert held[f"rtl@{domain}"].name == "\u05d3\u05e0\u05d4 \U0001f680"
    assert held[f"new7@{domain}"].name == "New \u05d7\u05d3\u05e9 7"
    # And again, with nothing to write: the export judges every record unchanged.
    again = write(settings, with_states(people, every=50))
    assert again.summary["unchanged"] == 63 and again.events("export snapshot loaded")
