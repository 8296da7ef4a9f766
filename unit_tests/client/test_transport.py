"""The client over real HTTP: retries, error mapping, auth headers, secrecy, counters."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesParser
from email.policy import default as email_policy
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from listmonk_client import (
    AuthFailed,
    Conflict,
    ConnectionFailed,
    EndpointNotFound,
    ListmonkClient,
    ListmonkError,
    PermissionDenied,
    RequestRejected,
    ServerFailed,
    RetriesExhausted,
    email_in,
)

from .conftest import TOKEN, USER, RecordingSleep, fast_policy
from .fake_server import FakeListmonk, Reply, data, error

HEALTH = "/api/health"


@pytest.mark.parametrize(
    ("failure", "error_class", "retried"),
    [
        (error(400, "Invalid email."), RequestRejected, False),
        (error(403, "invalid API credentials"), AuthFailed, False),
        (error(403, "permission denied: subscribers:manage"), PermissionDenied, False),
        (error(404, "404 unknown endpoint"), EndpointNotFound, False),
        (error(409, "E-mail already exists."), Conflict, False),
        (error(429, "slow down"), RetriesExhausted, True),
        (error(500, "Error creating Subscriber: pq: invalid input value"), RequestRejected, False),
        (error(500, "Internal Server Error"), ServerFailed, False),
        (error(500, 'Error updating Subscriber: pq: could not extend file "base/16384/16397": No space left on device'),
         ServerFailed, False),
        (Reply(status=502, text="<html>Bad Gateway</html>"), RetriesExhausted, True),
        (error(503, "unavailable"), RetriesExhausted, True),
        (Reply(status=504, text="gateway timeout"), RetriesExhausted, True),
        (Reply(reset=True), ConnectionFailed, True),
        (Reply(delay=0.5), ConnectionFailed, True),  # slower than the client's read timeout
    ],
    ids=["400", "403-credentials", "403-permission", "404", "409", "429", "500", "500-no-pq", "500-disk-full", "502", "503", "504", "reset", "timeout"],
)
def test_given_a_failing_server_then_each_failure_is_retried_or_fatal(
    server: FakeListmonk,
    make_client: Callable[..., ListmonkClient],
    failure: Reply,
    error_class: type[ListmonkError],
    retried: bool,
) -> None:
    server.script("GET", HEALTH, failure)
    client = make_client(retry=fast_policy(max_attempts=3), read_timeout=0.2)

    with pytest.raises(error_class):
        client.health()

    assert len(server.requests_to("GET", HEALTH)) == (3 if retried else 1)


def test_given_transient_failures_then_the_call_succeeds_once_the_server_recovers(
    server: FakeListmonk, client: ListmonkClient, sleep: RecordingSleep
) -> None:
    server.script("GET", HEALTH, error(503, "busy"), Reply(reset=True), Reply(status=502, text="bad gateway"), data(True))

    assert client.health() is True
    assert len(server.requests_to("GET", HEALTH)) == 4
    assert sleep.delays == [0.01, 0.02, 0.04]
    assert client.stats.retries == 3


def test_given_429_with_retry_after_seconds_then_the_client_waits_that_long(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], sleep: RecordingSleep
) -> None:
    server.script("GET", HEALTH, error(429, "rate limited", **{"Retry-After": "7"}), data(True))
    client = make_client(retry=fast_policy(max_delay=30.0))

    assert client.health() is True
    assert sleep.delays == [7.0]


def test_given_429_with_retry_after_date_then_the_client_waits_until_then(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], sleep: RecordingSleep
) -> None:
    in_ten_seconds = formatdate(time.time() + 10, usegmt=True)
    server.script("GET", HEALTH, error(429, "rate limited", **{"Retry-After": in_ten_seconds}), data(True))
    client = make_client(retry=fast_policy(max_delay=30.0))

    assert client.health() is True
    assert len(sleep.delays) == 1
    assert 8.5 <= sleep.delays[0] <= 10.0


def test_given_a_server_that_never_recovers_then_attempts_are_bounded(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], sleep: RecordingSleep
) -> None:
    server.script("GET", HEALTH, error(503, "maintenance"))
    client = make_client(retry=fast_policy(max_attempts=5))

    with pytest.raises(RetriesExhausted) as raised:
        client.health()

    assert raised.value.status == 503
    assert "maintenance" in str(raised.value)
    assert len(server.requests_to("GET", HEALTH)) == 5
    assert len(sleep.delays) == 4


def test_given_long_retry_after_then_the_elapsed_budget_stops_retrying_early(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], sleep: RecordingSleep
) -> None:
    server.script("GET", HEALTH, error(429, "rate limited", **{"Retry-After": "20"}))
    client = make_client(retry=fast_policy(max_attempts=10, max_delay=60.0, max_elapsed=50.0))

    with pytest.raises(RetriesExhausted) as raised:
        client.health()

    # 20 + 20 fits in 50 seconds; a third wait would not.
    assert sleep.delays == [20.0, 20.0]
    assert raised.value.status == 429


def test_given_a_500_then_it_is_not_retried_and_listmonks_message_is_surfaced(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    message = 'Error updating Subscriber: pq: duplicate key value violates unique constraint "subscribers_email_key"'
    server.script("PUT", "/api/subscribers/7", error(500, message))

    with pytest.raises(RequestRejected) as raised:
        client.put_subscriber(7, {"email": "taken@example.com"})

    assert raised.value.status == 500
    assert raised.value.message == message
    assert str(raised.value) == f"PUT /api/subscribers/7 failed (500): {message}"
    assert len(server.requests_to("PUT", "/api/subscribers/7")) == 1


def test_given_permission_denied_in_either_case_then_the_permission_is_named(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    server.script("GET", "/api/subscribers", error(403, "Permission denied: subscribers:sql_query"))
    server.script("POST", "/api/subscribers", error(403, "permission denied: subscribers:manage"))

    with pytest.raises(PermissionDenied) as query_denied:
        client.find_subscribers(email_in(["a@example.com"]))
    with pytest.raises(PermissionDenied) as create_denied:
        client.create_subscriber(email="a@example.com")

    assert query_denied.value.permission == "subscribers:sql_query"
    assert create_denied.value.permission == "subscribers:manage"


def test_given_a_non_json_error_page_then_its_text_is_in_the_error(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", "/api/lists/1", Reply(status=400, text="<h1>\n  Bad   request from proxy </h1>"))

    with pytest.raises(RequestRejected, match="Bad request from proxy"):
        client.get_list(1)


def test_given_a_200_that_is_not_json_then_the_error_hints_at_the_base_url(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    server.script("GET", HEALTH, Reply(text="<html>listmonk admin</html>"))

    with pytest.raises(ListmonkError, match="expected JSON"):
        client.health()


def test_the_token_never_appears_in_errors_or_logs(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], caplog: pytest.LogCaptureFixture
) -> None:
    # A proxy that echoes the Authorization header back is the worst case.
    server.script("GET", HEALTH, error(503, f"echo: token {USER}:{TOKEN}"))
    server.script("GET", "/api/profile", error(403, "invalid API credentials"))
    client = make_client(retry=fast_policy(max_attempts=3))
    refused = make_client(base_url="http://127.0.0.1:9", retry=fast_policy(max_attempts=2))

    raised: list[ListmonkError] = []
    with caplog.at_level(logging.DEBUG, logger="listmonk_client"):
        for call in (client.health, client.profile, refused.health):
            with pytest.raises(ListmonkError) as info:
                call()
            raised.append(info.value)

    assert caplog.records, "retries should have been logged"
    assert all(record.levelno == logging.WARNING for record in caplog.records)
    texts = [str(e) for e in raised] + [repr(e) for e in raised] + [r.getMessage() for r in caplog.records]
    assert not [text for text in texts if TOKEN in text]


def test_token_auth_sends_listmonks_token_header(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", HEALTH, data(True))

    client.health()

    (sent,) = server.requests_to("GET", HEALTH)
    assert sent.headers["authorization"] == f"token {USER}:{TOKEN}"
    assert "airbyte-listmonk" in sent.headers["user-agent"]


def test_given_a_netrc_entry_for_the_host_then_the_token_header_is_still_sent(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would otherwise replace the Authorization header with ~/.netrc's login for the host.
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {urlsplit(server.url).hostname} login someone password elses\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.script("GET", HEALTH, data(True))

    make_client().health()

    (sent,) = server.requests_to("GET", HEALTH)
    assert sent.headers["authorization"] == f"token {USER}:{TOKEN}"


@pytest.mark.parametrize("bypassed", [False, True], ids=["proxied", "no_proxy"])
def test_proxy_settings_in_the_environment_are_honoured(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient], monkeypatch: pytest.MonkeyPatch, bypassed: bool
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", (urlsplit(server.url).hostname or "") if bypassed else "")
    server.script("GET", HEALTH, data(True))
    client = make_client(retry=fast_policy(max_attempts=1))

    if bypassed:
        client.health()
    else:
        with pytest.raises(ConnectionFailed):
            client.health()
    assert len(server.requests_to("GET", HEALTH)) == int(bypassed)


def test_basic_auth_sends_the_same_pair_as_http_basic(
    server: FakeListmonk, make_client: Callable[..., ListmonkClient]
) -> None:
    server.script("GET", HEALTH, data(True))

    make_client(auth_method="basic").health()

    (sent,) = server.requests_to("GET", HEALTH)
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


def test_stats_count_attempts_writes_and_retries(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("GET", HEALTH, data(True))
    server.script("DELETE", "/api/subscribers", error(503, "busy"), data(True))

    client.health()
    client.delete_subscribers([1, 2])

    assert client.stats.requests == 3
    assert client.stats.writes == 2
    assert client.stats.retries == 1
    assert client.stats.by_method == {"GET": 1, "DELETE": 2}


def test_given_a_retried_import_then_the_multipart_body_is_sent_whole_again(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    accepted = {"name": "subs.csv", "total": 0, "imported": 0, "status": "importing"}
    server.script("POST", "/api/import/subscribers", Reply(reset=True), error(502, "bad gateway"), data(accepted))
    csv_text = "email,name,attributes\nzoë@example.com,Zoë,\"{\"\"crm_id\"\": \"\"42\"\"}\"\n"
    params = {"mode": "subscribe", "delim": ",", "lists": [1], "overwrite": False}

    status = client.start_import(params, csv_text, file_name="subs.csv")

    assert status.status == "importing"
    attempts = server.requests_to("POST", "/api/import/subscribers")
    assert len(attempts) == 3
    for sent in attempts:
        parts = _multipart_fields(sent.headers["content-type"], sent.body)
        assert parts["params"] == ("", '{"mode": "subscribe", "delim": ",", "lists": [1], "overwrite": false}')
        assert parts["file"] == ("subs.csv", csv_text)


def test_concurrent_writes_from_several_threads_are_all_counted(server: FakeListmonk, client: ListmonkClient) -> None:
    server.script("PATCH", "/api/subscribers/1", data({"id": 1, "email": "a@example.com"}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.patch_subscriber(1, {"name": "A"}), range(40)))

    assert all(result.id == 1 for result in results)
    assert client.stats.writes == 40
    assert client.stats.by_method == {"PATCH": 40}


def _multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str, str]]:
    message = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename() or "", part.get_payload(decode=True).decode("utf-8"))
    return fields
