"""The story a CRM team lives: profiles follow the CRM, consent recorded in listmonk survives every sync."""

from __future__ import annotations

from typing import Any

from integration_tests.destination.harness import (
    change_in_listmonk,
    config,
    subscribers_of,
    subscriptions,
    with_states,
    write,
)
from listmonk_client.client import ListmonkClient

CONTACTS = 1000


def crm_contact(i: int, domain: str, **changes: Any) -> dict[str, Any]:
    contact = {
        "email": f"Contact{i:04d}@{domain}",  # mixed case on purpose: listmonk stores emails lowercased
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "plan": "free" if i % 2 else "pro",
        "country": "NZ",
        "status": "enabled",
        "_ab_cdc_updated_at": "2026-11-27T00:00:00Z",
    }
    contact.update(changes)
    return contact


def test_profiles_only_resync_follows_the_crm_and_keeps_consent(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    news = client.create_list(f"news-{domain}")
    offers = client.create_list(f"offers-{domain}")
    settings = config(
        listmonk,
        target_lists=[str(news.id), offers.name],
        new_subscription_status="confirmed",
        mapping={"name_template": "{first_name} {last_name}", "status_field": "status"},
    )

    # 1. Initial sync: 1,000 CRM contacts into two lists.
    crm = [crm_contact(i, domain) for i in range(CONTACTS)]
    first = write(settings, with_states(crm, every=250))
    assert first.states == [250, 500, 750, 1000, 1000]
    assert first.summary["created"] == CONTACTS and first.summary["rejected"] == 0
    held = subscribers_of(client, domain)
    assert len(held) == CONTACTS
    sample = held[f"contact0007@{domain}"]
    assert (sample.name, sample.attribs, sample.status) == ("First7 Last7", {"plan": "free", "country": "NZ"}, "enabled")
    assert subscriptions(sample) == {news.id: "confirmed", offers.id: "confirmed"}

    # 2. Inside listmonk: people change their minds.
    ids = [held[f"contact{i:04d}@{domain}"].id for i in range(CONTACTS)]
    unsubscribed, blocklisted, disabled, scored = ids[0:50], ids[50:70], ids[70:80], ids[80:110]
    client.change_subscriptions(unsubscribed, "unsubscribe", [news.id])
    client.blocklist_subscribers(blocklisted)
    for subscriber_id in disabled:
        change_in_listmonk(client, subscriber_id, {"status": "disabled"})
    for subscriber_id in scored:
        change_in_listmonk(client, subscriber_id, {"attribs": {"engagement": 42}})

    # 3. In the CRM: 200 renamed (some of them among the people above), 100 change plan, everyone is sent
    #    with status "enabled", 100 new contacts.
    renamed, replanned = range(0, 200), range(300, 400)
    crm = [
        crm_contact(
            i, domain,
            **({"last_name": f"Renamed{i}"} if i in renamed else {}),
            **({"plan": "enterprise"} if i in replanned else {}),
        )
        for i in range(CONTACTS + 100)
    ]
    second = write({**settings, "audit_file": None}, with_states(crm, every=300))
    summary = second.summary
    assert summary["created"] == 100
    assert summary["updated"] == 300
    assert summary["unchanged"] == CONTACTS - 300
    assert summary["rejected"] == 0

    held = subscribers_of(client, domain)
    assert len(held) == CONTACTS + 100
    by_id = {s.id: s for s in held.values()}
    for i in range(CONTACTS + 100):
        subscriber = held[f"contact{i:04d}@{domain}"]
        expected_name = f"First{i} Renamed{i}" if i in renamed else f"First{i} Last{i}"
        assert subscriber.name == expected_name
        assert subscriber.attribs.get("plan") == ("enterprise" if i in replanned else ("free" if i % 2 else "pro"))
    for subscriber_id in unsubscribed:
        assert subscriptions(by_id[subscriber_id])[news.id] == "unsubscribed"
        assert subscriptions(by_id[subscriber_id])[offers.id] == "confirmed"
    for subscriber_id in blocklisted:
        assert by_id[subscriber_id].status == "blocklisted"
        assert set(subscriptions(by_id[subscriber_id]).values()) == {"unsubscribed"}
    for subscriber_id in disabled:
        assert by_id[subscriber_id].status == "disabled"
    for subscriber_id in scored:
        assert by_id[subscriber_id].attribs["engagement"] == 42
    newcomer = held[f"contact{CONTACTS + 5:04d}@{domain}"]
    assert subscriptions(newcomer) == {news.id: "confirmed", offers.id: "confirmed"}

    # The audit names every change it refused: the CRM's "enabled" for the 20 blocklisted and 10 disabled.
    skipped = second.events("skipped_change")
    assert sorted((e["subscriber_id"], e["field"], e["incoming"], e["kept"]) for e in skipped) == sorted(
        [(sid, "status", "enabled", "blocklisted") for sid in blocklisted]
        + [(sid, "status", "enabled", "disabled") for sid in disabled]
    )
    assert {e["rule"] for e in skipped} == {"strategy:profiles_only"}
    assert summary["skipped_changes"] == 30

    # 4. The same CRM data again: nothing to write, and listmonk's updated_at proves nothing was written.
    before = {s.id: s.updated_at for s in held.values()}
    third = write(settings, with_states(crm, every=300))
    assert third.summary["unchanged"] == CONTACTS + 100
    assert third.summary["created"] == third.summary["updated"] == 0
    after = {s.id: s.updated_at for s in subscribers_of(client, domain).values()}
    assert after == before
