"""Plain-words descriptions of network failures (no tracebacks, no credentials)."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator

import requests


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: requests and urllib3 nest the real socket error deeply."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        stack.extend(item for item in linked if isinstance(item, BaseException))


def describe(exc: BaseException, read_timeout: float) -> str:
    """What went wrong, e.g. "connection refused", for a user to act on."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no response within {read_timeout:g}s"
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verification failed: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return "host name could not be resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, (ConnectionResetError, http.client.RemoteDisconnected)):
            return "connection closed by the server"
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return "connection timed out"
    return f"network error ({type(causes[-1]).__name__})"
