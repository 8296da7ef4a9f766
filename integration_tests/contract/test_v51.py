"""The emulator answering as listmonk v5.1.0 (doc §16): no PATCH, import knows only `overwrite`."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from listmonk_emulator import EmulatorServer

from .api import call, import_csv, list_statuses, subscriber

CSV = "email,name,attributes\nunsub@example.com,Unsub New,\"{\"\"crm_id\"\":\"\"u2\"\"}\"\n"


@pytest.fixture()
def v51(fresh: EmulatorServer) -> Iterator[EmulatorServer]:
    fresh.set_version("v5.1.0")
    yield fresh


def _unsubscribed_subscriber(emu: EmulatorServer) -> int:
    created = call(emu, "POST", "/api/subscribers", json={
        "email": "unsub@example.com", "name": "Unsub Orig", "lists": [1], "attribs": {"crm_id": "u"},
        "preconfirm_subscriptions": True}).json()["data"]
    call(emu, "PUT", "/api/subscribers/lists", json={"ids": [created["id"]], "action": "unsubscribe",
                                                     "target_list_ids": [1]})
    return int(created["id"])


def test_given_v51_when_reading_version_then_about_and_config_say_v510(v51: EmulatorServer) -> None:
    assert call(v51, "GET", "/api/about").json()["version"] == "v5.1.0"
    assert call(v51, "GET", "/api/config").json()["data"]["version"] == "v5.1.0"


@pytest.mark.parametrize("body", [None, {"name": "x"}])
def test_given_v51_when_patching_then_404_unknown_endpoint(v51: EmulatorServer, body: object) -> None:
    response = call(v51, "PATCH", "/api/subscribers/1", json=body)
    assert response.status_code == 404
    assert response.json() == {"message": "404 unknown endpoint"}


def test_given_v51_when_put_with_email_and_name_only_then_attribs_and_lists_cleared(v51: EmulatorServer) -> None:
    response = call(v51, "PUT", "/api/subscribers/1", json={"email": "john@example.com", "name": "John"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["attribs"], data["lists"], data["status"]) == ({}, [], "enabled")


def test_given_v51_when_import_with_split_flags_then_they_are_ignored(v51: EmulatorServer) -> None:
    sub_id = _unsubscribed_subscriber(v51)
    status = import_csv(v51, {"mode": "subscribe", "delim": ",", "lists": [1], "subscription_status": "confirmed",
                              "overwrite_userinfo": True, "overwrite_subscription_status": True}, CSV)
    assert status["status"] == "finished"
    sub = subscriber(v51, sub_id)
    assert (sub["name"], sub["attribs"], list_statuses(sub)) == ("Unsub Orig", {"crm_id": "u"}, {1: "unsubscribed"})


def test_given_v51_when_import_with_overwrite_then_profile_and_statuses_rewritten(v51: EmulatorServer) -> None:
    sub_id = _unsubscribed_subscriber(v51)
    import_csv(v51, {"mode": "subscribe", "delim": ",", "lists": [1], "subscription_status": "confirmed",
                     "overwrite": True}, CSV)
    sub = subscriber(v51, sub_id)
    assert (sub["name"], sub["attribs"], list_statuses(sub)) == ("Unsub New", {"crm_id": "u2"}, {1: "confirmed"})


def test_given_v62_when_import_with_userinfo_only_then_unsubscribed_kept(fresh: EmulatorServer) -> None:
    sub_id = _unsubscribed_subscriber(fresh)
    import_csv(fresh, {"mode": "subscribe", "delim": ",", "lists": [1], "subscription_status": "confirmed",
                       "overwrite_userinfo": True}, CSV)
    sub = subscriber(fresh, sub_id)
    assert (sub["name"], list_statuses(sub)) == ("Unsub New", {1: "unsubscribed"})


def test_given_v51_when_basic_auth_with_api_token_then_accepted(v51: EmulatorServer) -> None:
    response = requests.get(v51.url + "/api/health", auth=(v51.api_user, v51.token), timeout=30)
    assert response.json() == {"data": True}
