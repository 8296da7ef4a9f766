"""Both images, run as Airbyte runs them: each answers with its own connector, `check` reaches listmonk on the host
network, the destination image writes a few thousand records and the source image reads every stream back."""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import psycopg
import yaml

from destination_listmonk.destination import DestinationListmonk
from integration_tests.conftest import Listmonk
from integration_tests.images import podman
from listmonk_client.client import ListmonkClient
from source_listmonk.source import SourceListmonk

LOGGER = logging.getLogger("airbyte")
CONTACTS = 3000
STATE_EVERY = 500


def settings(listmonk: Listmonk, **extra: Any) -> dict[str, Any]:
    return {"url": listmonk.url, "username": listmonk.user, "token": listmonk.token, **extra}


def test_each_image_starts_its_own_connector_as_a_non_root_user() -> None:
    for kind, image in podman.IMAGES.items():
        config = podman.inspect(image)
        metadata = yaml.safe_load((podman.ROOT / f"{kind}_listmonk" / "metadata.yaml").read_text())["data"]
        assert config["Entrypoint"] == [f"{kind}-listmonk"]
        assert f"AIRBYTE_ENTRYPOINT={kind}-listmonk" in config["Env"]
        assert config["User"] not in ("", "0", "root")
        assert config["Labels"]["io.airbyte.name"] == metadata["dockerRepository"]
        assert config["Labels"]["io.airbyte.version"] == metadata["dockerImageTag"]


def test_spec_of_each_image_is_the_spec_of_the_code_it_was_built_from() -> None:
    expected = {
        "destination": DestinationListmonk().spec(LOGGER).connectionSpecification,
        "source": SourceListmonk().spec(LOGGER).connectionSpecification,
    }
    for kind in podman.IMAGES:
        out = podman.run(kind, "spec")
        assert out.returncode == 0, out.stderr
        (spec,) = out.of("SPEC")
        assert spec["spec"]["connectionSpecification"] == expected[kind], f"{kind} image is stale: `make images`"


def test_check_of_each_image_reaches_listmonk_and_reports_a_bad_token(listmonk: Listmonk) -> None:
    for kind in podman.IMAGES:
        good = podman.run(kind, "check", "--config", "/secrets/config.json", files={"config.json": settings(listmonk)})
        (status,) = good.of("CONNECTION_STATUS")
        assert status["connectionStatus"]["status"] == "SUCCEEDED", status

        wrong = settings(listmonk, token="not-the-token-" + listmonk.token[::-1])
        bad = podman.run(kind, "check", "--config", "/secrets/config.json", files={"config.json": wrong})
        (status,) = bad.of("CONNECTION_STATUS")
        assert status["connectionStatus"]["status"] == "FAILED"
        assert wrong["token"] not in json.dumps(bad.messages) + bad.stderr


def catalog(streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Every stream, incrementally where it can be (as Airbyte would configure it)."""
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "incremental" if "incremental" in stream["supported_sync_modes"] else "full_refresh",
                "destination_sync_mode": "append_dedup",
            }
            for stream in streams
        ]
    }


def contacts_stream() -> dict[str, Any]:
    return {"name": "contacts", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}


def messages(domain: str) -> Iterator[str]:
    for i in range(CONTACTS):
        data = {"email": f"img{i}@{domain}", "first_name": f"First{i}", "last_name": f"Last{i}", "tier": i % 3}
        yield json.dumps({"type": "RECORD", "record": {"stream": "contacts", "data": data, "emitted_at": 0}})
        if (i + 1) % STATE_EVERY == 0:
            state = {"stream_descriptor": {"name": "contacts"}, "stream_state": {"at": i + 1}}
            yield json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": state}})


def add_bounce(listmonk: Listmonk, subscriber_id: int) -> bool:
    """A bounce for the source to read; only the local server can be given one without a mail round trip."""
    if listmonk.emulator is None:
        return False
    with psycopg.connect(listmonk.emulator.dsn) as conn:  # type: ignore[attr-defined]
        conn.execute("INSERT INTO bounces (subscriber_id, type, source) VALUES (%s, 'hard', 'api')", (subscriber_id,))
    return True


def test_destination_image_writes_and_source_image_reads_every_stream_back(
    listmonk: Listmonk, client: ListmonkClient, domain: str
) -> None:
    newsletter = client.create_list(f"images-{domain}")
    destination = settings(
        listmonk,
        target_lists=[newsletter.name],
        new_subscription_status="confirmed",
        mapping={"name_template": "{first_name} {last_name}"},
    )
    written = podman.run(
        "destination",
        "write", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json",
        files={"config.json": destination, "catalog.json": catalog([contacts_stream()])},
        stdin=messages(domain),
    )
    assert written.returncode == 0, written.stderr
    states = written.of("STATE")
    assert [s["state"]["stream"]["stream_state"]["at"] for s in states] == list(range(STATE_EVERY, CONTACTS + 1, STATE_EVERY))
    assert [s["state"]["destinationStats"]["recordCount"] for s in states] == [STATE_EVERY] * len(states)

    subscriber = next(iter(client.iter_subscribers(list_ids=[newsletter.id], per_page=10)))
    has_bounce = add_bounce(listmonk, subscriber.id)

    source = settings(listmonk)
    discovered = podman.run("source", "discover", "--config", "/secrets/config.json", files={"config.json": source})
    (found,) = discovered.of("CATALOG")
    streams = found["catalog"]["streams"]
    assert {s["name"] for s in streams} == {"subscribers", "subscriptions", "lists", "campaigns", "bounces"}

    read = podman.run(
        "source",
        "read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json",
        files={"config.json": source, "catalog.json": catalog(streams)},
    )
    assert read.returncode == 0, read.stderr
    records: dict[str, list[dict[str, Any]]] = {s["name"]: [] for s in streams}
    for message in read.of("RECORD"):
        records[message["record"]["stream"]].append(message["record"]["data"])

    ours = {r["email"]: r for r in records["subscribers"] if r["email"].endswith("@" + domain)}
    assert len(ours) == CONTACTS
    assert ours[f"img7@{domain}"]["name"] == "First7 Last7"
    assert ours[f"img7@{domain}"]["attribs"] == {"tier": 1}
    on_list = [r for r in records["subscriptions"] if r["list_id"] == newsletter.id]
    assert len(on_list) == CONTACTS and {r["subscription_status"] for r in on_list} == {"confirmed"}
    assert newsletter.id in {r["id"] for r in records["lists"]}
    assert {r["id"] for r in records["campaigns"]} == {c.id for c in client.iter_campaigns()}
    assert {r["id"] for r in records["bounces"]} == {b.id for b in client.iter_bounces()}
    if has_bounce:
        assert subscriber.id in {r["subscriber_id"] for r in records["bounces"]}
    incremental = {s["name"] for s in streams if "incremental" in s["supported_sync_modes"]}
    assert incremental >= {"subscribers", "subscriptions"}
    assert {m["state"]["stream"]["stream_descriptor"]["name"] for m in read.of("STATE")} >= incremental


def test_destination_image_answers_discover_with_a_destination_catalog_as_its_metadata_declares(
    listmonk: Listmonk, client: ListmonkClient, domain: str
) -> None:
    metadata = yaml.safe_load((podman.ROOT / "destination_listmonk" / "metadata.yaml").read_text())["data"]
    assert metadata["supportsDataActivation"] is True
    client.create_subscriber(email=f"discover@{domain}", name="Disco", attribs={f"plan_{domain.split('.')[0]}": "gold"})

    out = podman.run("destination", "discover", "--config", "/secrets/config.json", files={"config.json": settings(listmonk)})

    assert out.returncode == 0, out.stderr
    (message,) = out.of("DESTINATION_CATALOG")
    (subscribers,) = [op for op in message["destination_catalog"]["operations"] if op["sync_mode"] == "append_dedup"]
    assert subscribers["object_name"] == "subscribers" and ["email"] in subscribers["matching_keys"]
    assert f"attribs.plan_{domain.split('.')[0]}" in subscribers["json_schema"]["properties"]
