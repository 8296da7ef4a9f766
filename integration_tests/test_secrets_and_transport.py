"""The token never leaves the connectors except in the header to the configured listmonk: not in any command's
output (tracebacks included), not in audit files, not to another host a redirect points at."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from integration_tests.cli import Cli, input_lines, secrets_of
from integration_tests.destination.harness import config
from listmonk_client.client import ListmonkClient
from listmonk_client.retry import RetryPolicy

SOURCE_CATALOG = {"streams": [{
    "stream": {"name": "lists", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
    "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}


def source_config(listmonk: Any, **overrides: Any) -> dict[str, Any]:
    return {"url": listmonk.url, "username": listmonk.user, "token": listmonk.token, **overrides}


def test_given_every_command_succeeding_or_failing_then_the_token_is_in_no_output_and_no_audit_file(
    listmonk: Any, cli: Cli, domain: str
) -> None:
    auth_method = "token"
    audit = cli.directory / "audit" / "trail.jsonl"
    good = config(listmonk, auth_method=auth_method, audit_file=str(audit))
    records = [{"email": f"s{i}@{domain}", "name": f"S {i}", "api_token_echo": "x"} for i in range(30)]
    records.append({"email": "broken", "name": "rejected"})
    config_file = str(cli.config_file(good))
    unreachable = str(cli.config_file({**good, "url": "http://127.0.0.1:9"}, "unreachable.json"))
    wrong_type = str(cli.config_file({**good, "advanced": {"batch_size": "many"}}, "invalid.json"))
    source = str(cli.config_file(source_config(listmonk, auth_method=auth_method), "source.json"))
    source_catalog = cli.directory / "source_catalog.json"
    source_catalog.write_text(json.dumps(SOURCE_CATALOG))

    assert cli.run("destination-listmonk", ["spec"]).returncode == 0
    assert cli.run("destination-listmonk", ["check", "--config", config_file]).returncode == 0
    assert cli.write(good, input_lines(records, 10)).returncode == 0
    assert audit.is_file()
    for failing in (unreachable, wrong_type):  # tracebacks and TRACE messages
        cli.run("destination-listmonk", ["check", "--config", failing])
        failed = cli.run("destination-listmonk", ["write", "--config", failing, "--catalog", str(cli.catalog_file())],
                         input_lines(records, 10))
        assert failed.returncode != 0
    assert cli.run("source-listmonk", ["spec"]).returncode == 0
    for command in (["check"], ["discover"], ["read", "--catalog", str(source_catalog)]):
        assert cli.run("source-listmonk", [*command, "--config", source]).returncode == 0
    cli.run("source-listmonk", ["read", "--config", unreachable, "--catalog", str(source_catalog)])
    assert len(cli.outputs.texts) == 2 * 12  # stdout and stderr of every run  # the `outputs` fixture scans them all, and the audit file


class _Recorder(BaseHTTPRequestHandler):
    """Answers anything with 200 and records the request line and headers."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body.decode(errors='replace')}")
        payload = json.dumps({"data": {"version": "v6.2.0", "results": [], "total": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def other_host() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    with _serve(_Recorder) as server:
        yield server


def _redirecting_to(target: str) -> type[BaseHTTPRequestHandler]:
    class Redirect(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(307 if self.command != "GET" else 302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    return Redirect


@pytest.mark.parametrize("auth_method", ["token", "basic"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-ip-other-port", "other-host-name"])
def test_given_listmonk_redirects_to_another_host_then_the_credentials_do_not_follow(
    other_host: ThreadingHTTPServer, auth_method: str, host: str
) -> None:
    token = "redirect-secret-7f3a9c"
    with _serve(_redirecting_to(f"http://{host}:{other_host.server_address[1]}")) as redirector, \
            ListmonkClient(f"http://127.0.0.1:{redirector.server_address[1]}", "api", token, auth_method=auth_method,
                           retry=RetryPolicy(max_attempts=1)) as client:
        for call in (lambda: client.request("GET", "/api/lists"),
                     lambda: client.request("POST", "/api/subscribers", json={"email": "a@example.com"})):
            try:
                call()
            except Exception:
                pass  # what the other host answers does not matter here, only what it was sent
    assert _Recorder.seen, "the redirect was not followed at all"
    leaked = [seen for seen in _Recorder.seen for secret in secrets_of("api", token) if secret in seen]
    assert leaked == [] and not any("Authorization" in seen for seen in _Recorder.seen)


@pytest.mark.parametrize("command", [("destination-listmonk", "check"), ("source-listmonk", "check")])
def test_given_verify_tls_off_then_each_connector_warns(listmonk: Any, cli: Cli, command: tuple[str, str]) -> None:
    settings = source_config(listmonk, verify_tls=False)
    run = cli.run(command[0], [command[1], "--config", str(cli.config_file(settings))])
    warnings = [m["log"]["message"] for m in run.messages if m.get("type") == "LOG" and m["log"]["level"] == "WARN"]
    assert any("verify_tls is off" in w for w in warnings), run.stdout[-2000:]
    quiet = cli.run(command[0], [command[1], "--config", str(cli.config_file(source_config(listmonk), "tls-on.json"))])
    assert "verify_tls is off" not in quiet.stdout
