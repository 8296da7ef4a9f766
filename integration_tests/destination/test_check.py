"""`check` answers with one precise message for each thing a user can get wrong."""

from __future__ import annotations

import logging
import socket
from typing import Any

from airbyte_cdk.models import Status

from destination_listmonk.destination import DestinationListmonk
from integration_tests.destination.harness import config
from listmonk_client.client import ListmonkClient

LOGGER = logging.getLogger("test")


def check(settings: dict[str, Any]) -> tuple[Status, str]:
    status = DestinationListmonk().check(LOGGER, settings)
    return status.status, status.message or ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_given_good_settings_then_check_succeeds(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    news = client.create_list(f"news-{domain}")
    assert check(config(listmonk, target_lists=[str(news.id), news.name])) == (Status.SUCCEEDED, "")


def test_given_unreachable_url_then_check_names_the_host(listmonk: Any) -> None:
    port = free_port()
    status, message = check(config(listmonk, url=f"http://127.0.0.1:{port}"))
    assert status == Status.FAILED and f"127.0.0.1:{port}" in message


def test_given_wrong_token_then_check_says_credentials_rejected_without_echoing_them(listmonk: Any) -> None:
    status, message = check(config(listmonk, token="wrong-token-value"))
    assert status == Status.FAILED and "rejected" in message.lower() and "wrong-token-value" not in message


def test_given_missing_permission_then_check_names_it(listmonk: Any, emulator: Any) -> None:
    token = emulator.create_api_user("readonly-bot", ["subscribers:get_all", "lists:get_all"])
    status, message = check(config(listmonk, username="readonly-bot", token=token))
    assert status == Status.FAILED
    assert "subscribers:sql_query" in message and "subscribers:manage" in message


def test_given_unknown_and_ambiguous_lists_then_check_names_each(listmonk: Any, client: ListmonkClient, domain: str) -> None:
    client.create_list(f"twin-{domain}")
    client.create_list(f"twin-{domain}")
    status, message = check(config(listmonk, target_lists=["987654", f"twin-{domain}", f"missing-{domain}"]))
    assert status == Status.FAILED
    assert "987654" in message and f"missing-{domain}" in message and f"twin-{domain}" in message
    assert len(message.splitlines()) == 3


def test_given_invalid_config_then_check_explains_the_field(listmonk: Any) -> None:
    status, message = check(config(listmonk, url="lists.example.com", protected_fields=["phone"]))
    assert status == Status.FAILED and "url" in message and "phone" in message
