"""Errors raised by the listmonk client: one class per thing a caller can do something about."""

from __future__ import annotations

import re

# listmonk writes "permission denied: subscribers:manage" on most routes but
# "Permission denied: subscribers:sql_query" on the query routes.
_PERMISSION_DENIED = re.compile(r"^\s*permission denied\s*:?\s*(?P<perm>\S*)", re.IGNORECASE)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# A PostgreSQL error about the server rather than the input (disk full, out of memory, a database restarting).
_SERVER_SIDE_PQ = re.compile(
    r"no space left|out of memory|too many clients|could not (extend|write)|database system is|"
    r"terminating connection|bad connection|connection (refused|reset)",
    re.IGNORECASE,
)


class ListmonkError(Exception):
    """A failed call to listmonk; never carries the token or the auth header."""

    def __init__(self, *, method: str, path: str, status: int | None, message: str) -> None:
        super().__init__(method, path, status, message)
        self.method = method
        self.path = path
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.method} {self.path} failed ({self.status}): {self.message}"


class ConnectionFailed(ListmonkError):
    """The server could not be reached (refused, unresolvable, reset, timed out)."""


class TLSFailed(ConnectionFailed):
    """The server's TLS certificate was rejected; retrying cannot fix that."""


class AuthFailed(ListmonkError):
    """listmonk rejected the API user / token (`invalid session`, `invalid API credentials`)."""


class PermissionDenied(ListmonkError):
    """The API user's role lacks a permission; `permission` names it when listmonk said which."""

    def __init__(self, *, method: str, path: str, status: int | None, message: str) -> None:
        super().__init__(method=method, path=path, status=status, message=message)
        match = _PERMISSION_DENIED.match(message)
        self.permission: str | None = (match.group("perm") or None) if match else None


class EndpointNotFound(ListmonkError):
    """404: the route does not exist on this listmonk (e.g. PATCH before v6.1)."""


class RequestRejected(ListmonkError):
    """listmonk refused the input: 4xx, or a 500 carrying a PostgreSQL (`pq: ...`) error."""


class ServerFailed(ListmonkError):
    """A 500 that is not about the input (no `pq:` error, or one such as a full disk): the same call fails for
    every record, so a sync must stop rather than reject records one by one."""


class Conflict(RequestRejected):
    """409, e.g. `E-mail already exists.` on create."""


class RetriesExhausted(ListmonkError):
    """A transient failure (429/502/503/504 or network) outlasted the retry budget; `status` is the last one."""


class ConnectionRetriesExhausted(ConnectionFailed, RetriesExhausted):
    """Network errors on every attempt: both "unreachable" and "transient, gave up"."""


class ImportTimedOut(ListmonkError):
    """A subscriber import was still running when the caller's wait ran out."""


def is_permission_message(message: str) -> bool:
    return _PERMISSION_DENIED.match(message) is not None


def error_for_status(*, method: str, path: str, status: int, message: str) -> ListmonkError:
    """The error class for a final (non-retried or out-of-budget) HTTP failure."""
    fields = {"method": method, "path": path, "status": status, "message": message}
    if status in (401, 403):
        # One status covers both bad credentials and missing permissions; only the text tells them apart.
        if is_permission_message(message):
            return PermissionDenied(**fields)
        return AuthFailed(**fields)
    if status == 404:
        return EndpointNotFound(**fields)
    if status == 409:
        return Conflict(**fields)
    if status in RETRYABLE_STATUSES:
        return RetriesExhausted(**fields)
    if status >= 500 and ("pq: " not in message or _SERVER_SIDE_PQ.search(message)):
        return ServerFailed(**fields)
    return RequestRejected(**fields)
