"""The configurations in docs/crm-examples.md, run as written against records shaped like each CRM source's
(from the sources' published stream schemas)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from integration_tests.destination.harness import catalog, config, record, state, subscribers_of, write

DOC = Path(__file__).resolve().parents[2] / "docs" / "crm-examples.md"


def documented(heading: str) -> dict[str, Any]:
    """The JSON configuration under a heading of docs/crm-examples.md."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert match, f"no configuration under {heading}"
    return json.loads(match.group(1))


def run(listmonk: Any, heading: str, list_name: str, stream: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A sync with the documented configuration, on this test's own listmonk and list."""
    settings = documented(heading)
    for connection in ("url", "username", "token"):
        settings.pop(connection)
    settings["target_lists"] = [list_name]
    messages = [record(data, stream) for data in records] + [state(len(records), stream)]
    return write(config(listmonk, **settings), messages, catalog(stream=stream)).summary


@pytest.fixture
def newsletter(client: Any, domain: str) -> str:
    name = f"newsletter-{domain}"
    client.create_list(name)
    return name


def hubspot_contact(contact_id: str, email: str, first: str, last: str, company: str) -> dict[str, Any]:
    properties = {"email": email, "firstname": first, "lastname": last, "company": company,
                  "lifecyclestage": "customer", "hs_object_id": contact_id, "hs_email_optout": None}
    return {"id": contact_id, "createdAt": "2026-01-05T10:00:00Z", "updatedAt": "2026-11-20T08:30:00Z",
            "archived": False, "companies": ["9001"], "properties": properties,
            **{f"properties_{name}": value for name, value in properties.items()}}


def test_hubspot_contacts(listmonk: Any, client: Any, domain: str, newsletter: str) -> None:
    summary = run(listmonk, "HubSpot `contacts`", newsletter, "contacts", [
        hubspot_contact("151", f"ann@{domain}", "Ann", "Lee", "Acme"),
        hubspot_contact("152", f"bo@{domain}", "Bo", None, "Initech"),  # type: ignore[arg-type]
    ])
    assert (summary["created"], summary["rejected"]) == (2, 0)
    held = subscribers_of(client, domain)
    ann, bo = held[f"ann@{domain}"], held[f"bo@{domain}"]
    assert (ann.name, ann.attribs) == ("Ann Lee", {"id": "151", "properties": {"company": "Acme", "lifecyclestage": "customer"}})
    assert bo.name == "Bo"
    assert [(s.name, s.subscription_status) for s in ann.lists] == [(newsletter, "unconfirmed")]


def salesforce_contact(contact_id: str, email: str) -> dict[str, Any]:
    return {"Id": contact_id, "Email": email, "FirstName": "Ann", "LastName": "Lee", "Name": "Ann Lee",
            "AccountId": "0015g00000XyZAAA", "Title": "CTO", "MailingCountry": "NL", "HasOptedOutOfEmail": False,
            "IsDeleted": False, "LastModifiedDate": "2026-11-20T08:30:00.000Z", "SystemModstamp": "2026-11-20T08:30:00.000Z"}


def test_salesforce_contact_follows_an_email_change_by_its_id(listmonk: Any, client: Any, domain: str,
                                                              newsletter: str) -> None:
    contact_id = f"0035g{domain[1:11]}"  # an ID of this run's own
    run(listmonk, "Salesforce `Contact`", newsletter, "Contact", [salesforce_contact(contact_id, f"ann@{domain}")])
    first = subscribers_of(client, domain)[f"ann@{domain}"]
    assert (first.name, first.attribs) == ("Ann Lee", {"Id": contact_id, "AccountId": "0015g00000XyZAAA",
                                                       "Title": "CTO", "MailingCountry": "NL"})

    summary = run(listmonk, "Salesforce `Contact`", newsletter, "Contact",
                  [salesforce_contact(contact_id, f"ann.lee@{domain}")])
    assert (summary["created"], summary["updated"]) == (0, 1)
    held = subscribers_of(client, domain)
    assert list(held) == [f"ann.lee@{domain}"] and held[f"ann.lee@{domain}"].id == first.id


def pipedrive_person(person_id: int, emails: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": person_id, "company_id": 77, "owner_id": 12, "org_id": 5, "name": "Ann Lee", "first_name": "Ann",
            "last_name": "Lee", "open_deals_count": 1, "active_flag": True,
            "phone": [{"label": "work", "value": "+31 20 123 4567", "primary": True}], "email": emails,
            "first_char": "a", "update_time": "2026-11-20 08:30:00", "add_time": "2026-01-05 10:00:00",
            "visible_to": "3", "org_name": "Acme", "owner_name": "Sam Seller", "cc_email": "acme@pipedrivemail.com"}


def test_pipedrive_persons_take_the_primary_email_from_the_array(listmonk: Any, client: Any, domain: str,
                                                                 newsletter: str) -> None:
    summary = run(listmonk, "Pipedrive `persons`", newsletter, "persons", [
        pipedrive_person(1, [{"label": "home", "value": f"ann.home@{domain}", "primary": False},
                             {"label": "work", "value": f"ann@{domain}", "primary": True}]),
        pipedrive_person(2, [{"label": "other", "value": f"nobody@{domain}", "primary": False}]),
    ])
    assert (summary["created"], summary["rejected"]) == (1, 1)
    held = subscribers_of(client, domain)
    assert list(held) == [f"ann@{domain}"]
    assert (held[f"ann@{domain}"].name, held[f"ann@{domain}"].attribs) == (
        "Ann Lee", {"id": 1, "org_name": "Acme", "owner_name": "Sam Seller"})
