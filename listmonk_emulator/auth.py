"""API-user authentication (token header or HTTP Basic) and listmonk's permission names."""
from __future__ import annotations

import base64
import hmac
import threading
from dataclasses import dataclass
from typing import Optional

from psycopg_pool import ConnectionPool
from werkzeug.wrappers import Request

from listmonk_emulator.db import fetch_all
from listmonk_emulator.web import ApiError

# listmonk v6.2's permission catalogue (POST /api/roles/users rejects anything else).
PERMISSIONS: tuple[str, ...] = (
    "bounces:get", "bounces:manage",
    "campaigns:get", "campaigns:get_all", "campaigns:get_analytics", "campaigns:manage",
    "campaigns:manage_all", "campaigns:send",
    "lists:get_all", "lists:manage_all",
    "media:get", "media:manage",
    "roles:get", "roles:manage",
    "settings:get", "settings:maintain", "settings:manage",
    "subscribers:get", "subscribers:get_all", "subscribers:import", "subscribers:manage",
    "subscribers:sql_query",
    "templates:get", "templates:manage",
    "tx:send",
    "users:get", "users:manage",
    "webhooks:post_bounce",
)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    permissions: frozenset[str]

    def require(self, permission: str) -> None:
        """The route-level check, answered with listmonk's lowercase message."""
        if permission not in self.permissions:
            raise ApiError(403, f"permission denied: {permission}")


def _credentials(header: str) -> Optional[tuple[str, str]]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "token":
        pair = value.strip()
    elif scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    else:
        return None
    user, sep, token = pair.partition(":")
    return (user, token) if sep and user and token else None


class ApiUsers:
    """Enabled API users with their tokens, held in memory as listmonk holds them (cmd/users.go `cacheUsers`
    feeding internal/auth `CacheAPIUsers`): loaded at install and reloaded after each user created or deleted
    (roles can only be created here, which changes no user), so authenticating a request costs no query."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._users: dict[str, tuple[User, str]] = {}

    def reload(self) -> None:
        # Serialised, so the last reload to run starts after the last change's commit and the cache ends current.
        with self._lock, self._pool.connection() as conn:
            rows = fetch_all(
                conn,
                """SELECT u.id, u.username, u.password, r.permissions FROM users u
                   JOIN roles r ON r.id = u.user_role_id
                   WHERE u.type = 'api' AND u.status = 'enabled' AND COALESCE(u.password, '') != ''""",
            )
            self._users = {
                row["username"]: (User(id=row["id"], username=row["username"],
                                       permissions=frozenset(row["permissions"])), str(row["password"]))
                for row in rows
            }

    def get(self, username: str) -> Optional[tuple[User, str]]:
        """The user and its token."""
        return self._users.get(username)


def authenticate(users: ApiUsers, request: Request) -> User:
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(403, "invalid session")
    creds = _credentials(header)
    if creds is None:
        raise ApiError(403, "invalid API credentials")
    username, token = creds
    found = users.get(username)
    if found is None or not hmac.compare_digest(found[1], token):
        raise ApiError(403, "invalid API credentials")
    return found[0]
