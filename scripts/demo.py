"""Demo: sync a small CRM into a local listmonk-compatible server twice, with consent changes in between,
and show what the protection rules kept. Run with `make demo`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airbyte_cdk.models import AirbyteMessage, Type  # noqa: E402

from destination_listmonk.destination import DestinationListmonk  # noqa: E402
from integration_tests.destination.harness import catalog, record, state  # noqa: E402
from listmonk_client.client import ListmonkClient  # noqa: E402
from listmonk_emulator import EmulatorServer  # noqa: E402

CRM = [
    {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace", "plan": "pro", "country": "UK", "status": "enabled"},
    {"email": "alan@example.org", "first_name": "Alan", "last_name": "Turing", "plan": "free", "country": "UK", "status": "enabled"},
    {"email": "grace@example.org", "first_name": "Grace", "last_name": "Hopper", "plan": "pro", "country": "US", "status": "enabled"},
    {"email": "linus@example.org", "first_name": "Linus", "last_name": "T", "plan": "free", "country": "FI", "status": "enabled"},
]


def messages(rows: list[dict[str, Any]]) -> Iterator[AirbyteMessage]:
    for row in rows:
        yield record(row)
    yield state(len(rows))


def sync(settings: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    for message in DestinationListmonk().write(settings, catalog(), messages(rows)):
        if message.type == Type.LOG and message.log is not None:
            events.append(json.loads(message.log.message))
    return events


def show(client: ListmonkClient, title: str) -> None:
    print(f"\n== {title}")
    print(f"{'email':<22} {'name':<18} {'status':<12} {'plan':<11} {'listmonk-only attribs':<32} subscriptions")
    for sub in sorted(client.iter_subscribers(), key=lambda s: s.email):
        if not sub.email.endswith("@example.org"):
            continue
        extra = {k: v for k, v in sub.attribs.items() if k not in ("plan", "country")}
        lists = ", ".join(f"{s.name}={s.subscription_status}" for s in sub.lists)
        print(f"{sub.email:<22} {sub.name:<18} {sub.status:<12} {sub.attribs.get('plan', ''):<11} {json.dumps(extra):<32} {lists}")


def main() -> None:
    print("Starting the local listmonk-compatible server (PostgreSQL in a temporary directory)...")
    with EmulatorServer() as server, ListmonkClient(server.url, server.api_user, server.token) as client:
        print(f"listmonk at {server.url} (API user {server.api_user})")
        newsletter = client.create_list("Newsletter")
        product = client.create_list("Product updates")
        audit_file = Path(tempfile.mkdtemp()) / "audit.jsonl"
        settings = {
            "url": server.url, "username": server.api_user, "token": server.token,
            "strategy": {"mode": "profiles_only"},
            "target_lists": [newsletter.name, product.name],
            "new_subscription_status": "confirmed",
            "protected_fields": ["attribs.vip"],
            "mapping": {"name_template": "{first_name} {last_name}", "status_field": "status"},
            "audit_file": str(audit_file),
        }

        sync(settings, CRM)
        show(client, "1. After the first sync from the CRM")

        subs = {s.email: s for s in client.iter_subscribers()}
        client.change_subscriptions([subs["ada@example.org"].id], "unsubscribe", [newsletter.id])
        client.blocklist_subscribers([subs["alan@example.org"].id])
        client.patch_subscriber(subs["grace@example.org"].id, {"attribs": {"vip": True, "engagement": 97}})
        show(client, "2. Inside listmonk: Ada unsubscribes from Newsletter, Alan is blocklisted, Grace marked VIP")

        crm = [dict(row) for row in CRM]
        crm[0]["last_name"] = "King"          # Ada renamed in the CRM
        crm[2]["plan"] = "enterprise"         # Grace upgraded
        crm[2]["vip"] = False                 # the CRM disagrees about a protected attribute
        crm.append({"email": "katherine@example.org", "first_name": "Katherine", "last_name": "Johnson",
                    "plan": "pro", "country": "US", "status": "enabled"})
        events = sync(settings, crm)          # the CRM still says status "enabled" for everyone
        show(client, "3. After the re-sync (profiles only): profiles follow the CRM, consent stays")

        print("\n== What the connector refused to write (audit trail)")
        for event in events:
            if event.get("audit") == "skipped_change":
                print(f"  {event['subscriber']:<20} {event['field']:<14} incoming={json.dumps(event['incoming']):<10} "
                      f"kept={json.dumps(event['kept']):<14} rule={event['rule']}")
        summary = next(e for e in events if e.get("event") == "summary")
        print("\n== Summary:", {k: summary[k] for k in ("created", "updated", "unchanged", "skipped_changes", "rejected")})

        server.reset_stats()
        again = sync(settings, crm)
        print("== A third, identical sync:", next(e for e in again if e.get("event") == "summary")["unchanged"],
              "unchanged,", server.stats()["writes"], "writes issued")
        print(f"\nFull audit trail (JSON Lines): {audit_file}")


if __name__ == "__main__":
    main()
