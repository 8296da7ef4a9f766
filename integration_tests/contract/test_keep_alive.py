"""HTTP keep-alive as Go's net/http does it: many requests on one connection, closed only when asked."""
from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

import pytest

from listmonk_emulator import EmulatorServer

TIMEOUT = 10  # a server that stops answering on the connection fails the test instead of hanging it


def _address(emu: EmulatorServer) -> tuple[str, int]:
    url = urlsplit(emu.url)
    return str(url.hostname), int(url.port or 80)


@pytest.fixture()
def conn(fresh: EmulatorServer) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection(*_address(fresh), timeout=TIMEOUT)
    yield connection
    connection.close()


def _auth(emu: EmulatorServer, token: Optional[str] = None) -> dict[str, str]:
    return {"Authorization": f"token {emu.api_user}:{token or emu.token}"}


def _send(conn: http.client.HTTPConnection, emu: EmulatorServer, method: str, path: str,
          body: Any = None, token: Optional[str] = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    headers = _auth(emu, token)
    raw = None
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=raw, headers=headers)
    response = conn.getresponse()
    return response.status, response.headers, response.read()


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_given_one_connection_when_sending_many_api_calls_then_each_is_answered_on_it(
        fresh: EmulatorServer, conn: http.client.HTTPConnection) -> None:
    status, _, body = _send(conn, fresh, "POST", "/api/lists", {"name": "Kept alive"})
    assert status == 200
    list_id = json.loads(body)["data"]["id"]
    sock = conn.sock
    calls = [("GET", "/api/lists", None, 200), ("GET", f"/api/lists/{list_id}", None, 200),
             ("PUT", f"/api/lists/{list_id}", {"name": "Renamed"}, 200),
             ("GET", "/api/subscribers/export", None, 200),  # a streamed, chunked answer
             ("GET", "/api/subscribers?per_page=1", None, 200), ("GET", "/api/nowhere", None, 404),
             ("POST", "/api/subscribers", {"email": "not an email"}, 400),
             ("DELETE", f"/api/lists/{list_id}", None, 200), ("GET", f"/api/lists/{list_id}", None, 400)]
    for method, path, payload, expected in calls:
        status, headers, body = _send(conn, fresh, method, path, payload)
        assert status == expected, (method, path, body)
        assert headers.get("Connection") is None
        assert conn.sock is sock, f"{method} {path} closed the connection"


@pytest.mark.parametrize(("method", "path", "token", "status"), [
    ("POST", "/api/subscribers", "wrong-token", 403),  # refused before the route reads its body
    ("GET", "/api/lists", None, 200),  # a route that never reads a body
    ("POST", "/api/nowhere", None, 404),
])
def test_given_a_body_the_server_never_reads_when_the_next_call_follows_then_it_is_answered(
        fresh: EmulatorServer, conn: http.client.HTTPConnection, method: str, path: str,
        token: Optional[str], status: int) -> None:
    body = {"email": "unread@example.com", "name": "x" * 100_000}
    assert _send(conn, fresh, method, path, body, token=token)[0] == status
    sock = conn.sock
    status, _, answer = _send(conn, fresh, "GET", "/api/subscribers/1")
    assert (status, json.loads(answer)["data"]["id"]) == (200, 1)
    assert conn.sock is sock


def test_given_connection_close_from_the_client_when_answered_then_the_server_closes(
        fresh: EmulatorServer) -> None:
    auth = _auth(fresh)["Authorization"]
    with socket.create_connection(_address(fresh), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: listmonk\r\nAuthorization: {auth}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        answer = _read_to_eof(sock)  # times out if the server keeps the connection open
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: close" in head  # Go says so on the answer it closes after
    assert json.loads(body) == {"data": True}


@pytest.mark.parametrize("length", ["-1", "abc", "+2"])
def test_given_a_bad_content_length_after_a_good_request_when_answered_then_400_and_closed(
        fresh: EmulatorServer, length: str) -> None:
    auth = _auth(fresh)["Authorization"]
    good = f"GET /api/health HTTP/1.1\r\nHost: listmonk\r\nAuthorization: {auth}\r\n\r\n"
    bad = f"POST /api/lists HTTP/1.1\r\nHost: listmonk\r\nAuthorization: {auth}\r\nContent-Length: {length}\r\n\r\n{{}}"
    with socket.create_connection(_address(fresh), timeout=TIMEOUT) as sock:
        sock.sendall((good + bad).encode())
        answer = _read_to_eof(sock)
    first, _, second = answer.partition(b"HTTP/1.1 400 ")
    assert first.startswith(b"HTTP/1.1 200 ") and b'{"data":true}' in first
    assert b"\r\nConnection: close" in second


def test_given_a_kept_alive_connection_when_a_reset_is_injected_then_it_is_dropped_and_a_new_one_works(
        fresh: EmulatorServer, conn: http.client.HTTPConnection) -> None:
    assert _send(conn, fresh, "GET", "/api/health")[0] == 200
    fresh.set_faults(resets=1)
    with pytest.raises(ConnectionResetError) as raised:
        _send(conn, fresh, "GET", "/api/health")
    assert not isinstance(raised.value, http.client.RemoteDisconnected), "an orderly close, not a TCP reset"
    conn.close()
    status, _, body = _send(conn, fresh, "GET", "/api/health")
    assert (status, json.loads(body)) == (200, {"data": True})
