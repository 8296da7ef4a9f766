"""`source-listmonk read | destination-listmonk write` copies one listmonk's subscribers into another, consent intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from listmonk_client.client import ListmonkClient
from listmonk_client.models import Subscriber
from listmonk_client.sql import SqlExpr, quote_literal
from listmonk_emulator import EmulatorServer

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def origin() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


def snapshot(client: ListmonkClient, domain: str) -> dict[str, tuple[Any, ...]]:
    expr = SqlExpr(f"subscribers.email LIKE {quote_literal('%@' + domain)}")
    return {s.email: _shape(s) for s in client.iter_subscribers(query=expr)}


def _shape(s: Subscriber) -> tuple[Any, ...]:
    return s.name, s.attribs, s.status, sorted((x.name, x.subscription_status) for x in s.lists)


def test_pipe_copies_subscribers_with_consent_intact(origin: EmulatorServer, listmonk: Any, domain: str, tmp_path: Path) -> None:
    with ListmonkClient(origin.url, origin.api_user, origin.token) as source, listmonk.client() as target:
        names = [f"news-{domain}", f"offers-{domain}"]
        origin_lists = [source.create_list(n) for n in names]
        for name in names:
            target.create_list(name)
        people = [
            source.create_subscriber(email=f"u{i}@{domain}", name=f"User {i}", attribs={"crm_id": i, "plan": {"tier": "gold"}},
                                     lists=[ml.id for ml in origin_lists], preconfirm=True)
            for i in range(12)
        ]
        source.change_subscriptions([people[0].id, people[1].id], "unsubscribe", [origin_lists[0].id])
        source.blocklist_subscribers([people[2].id])
        source.patch_subscriber(people[3].id, {"status": "disabled"})
        expected = snapshot(source, domain)

        (tmp_path / "source.json").write_text(json.dumps(
            {"url": origin.url, "username": origin.api_user, "token": origin.token, "lookback_seconds": 0}))
        (tmp_path / "destination.json").write_text(json.dumps({
            "url": listmonk.url, "username": listmonk.user, "token": listmonk.token,
            "strategy": {"mode": "full_sync"},
            "mapping": {"attributes": "object", "status_field": "status", "lists_field": "lists"},
        }))
        schema = {"type": "object"}
        (tmp_path / "source_catalog.json").write_text(json.dumps({"streams": [{
            "stream": {"name": "subscribers", "json_schema": schema, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}]}))
        (tmp_path / "destination_catalog.json").write_text(json.dumps({"streams": [{
            "stream": {"name": "subscribers", "json_schema": schema, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}]}))
        command = (
            f"{BIN / 'source-listmonk'} read --config {tmp_path / 'source.json'} --catalog {tmp_path / 'source_catalog.json'}"
            f" | {BIN / 'destination-listmonk'} write --config {tmp_path / 'destination.json'}"
            f" --catalog {tmp_path / 'destination_catalog.json'}"
        )
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        copied = snapshot(target, domain)
        assert copied == expected
        assert copied[f"u0@{domain}"][3] == [(names[0], "unsubscribed"), (names[1], "confirmed")]
        assert copied[f"u2@{domain}"][2] == "blocklisted"
