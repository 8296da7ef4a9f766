"""Emulator-only control API under /__emulator/ (no auth): reset, version, faults, restart, stats, users, seed."""
from __future__ import annotations

import json
import secrets
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from listmonk_emulator import gojson
from listmonk_emulator.auth import PERMISSIONS
from listmonk_emulator.state import EmulatorState
from listmonk_emulator.web import ApiError, ok

AdminHandler = Callable[[EmulatorState, dict[str, Any]], Any]


def _reset(state: EmulatorState, body: dict[str, Any]) -> Any:
    state.reset()
    return True


def _version(state: EmulatorState, body: dict[str, Any]) -> Any:
    if "version" in body:
        try:
            state.set_version(str(body["version"]))
        except ValueError as err:
            raise ApiError(400, str(err)) from None
    return {"version": state.version}


def _faults(state: EmulatorState, body: dict[str, Any]) -> Any:
    try:
        return state.faults.set(body)
    except ValueError as err:
        raise ApiError(400, str(err)) from None


def _clear_faults(state: EmulatorState, body: dict[str, Any]) -> Any:
    state.faults.clear()
    return True


def _restart(state: EmulatorState, body: dict[str, Any]) -> Any:
    """Restart the HTTP side as listmonk restarting would look (connections refused for `down_seconds`, the
    running import forgotten); answered once it is down."""
    down = float(body.get("down_seconds", 2))
    if not 0 <= down <= 600:
        raise ApiError(400, "down_seconds must be between 0 and 600")
    state.restart(down)
    return {"down_seconds": down}


def _stats(state: EmulatorState, body: dict[str, Any]) -> Any:
    return state.stats.snapshot()


def _reset_stats(state: EmulatorState, body: dict[str, Any]) -> Any:
    state.stats.reset()
    return True


def _create_user(state: EmulatorState, body: dict[str, Any]) -> Any:
    """An API user on a fresh role holding exactly `permissions`."""
    username = str(body.get("username") or f"user-{secrets.token_hex(4)}")
    permissions = list(body.get("permissions") or [])
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        raise ApiError(400, f"unknown permissions: {unknown}")
    token = secrets.token_hex(16)
    with state.db.pool.connection() as conn:
        role = conn.execute(
            "INSERT INTO roles (type, name, permissions) VALUES ('user', %s, %s) RETURNING id",
            (f"{username}-role-{secrets.token_hex(3)}", sorted(set(permissions))),
        ).fetchone()
        user = conn.execute(
            """INSERT INTO users (username, password_login, password, name, type, user_role_id)
               VALUES (%s, true, %s, %s, 'api', %s) RETURNING id""",
            (username, token, username, role["id"]),  # type: ignore[index]
        ).fetchone()
        conn.commit()
    state.api_users.reload()
    return {"id": user["id"], "username": username, "token": token}  # type: ignore[index]


def _seed(state: EmulatorState, body: dict[str, Any]) -> Any:
    """Insert `count` synthetic subscribers in one statement (benchmarks); unknown list ids are ignored.

    Options: list_ids, subscription_status (default confirmed), email_prefix (default "seed"),
    domain (default example.com), attribs (JSON object copied to every row).
    """
    count = int(body.get("count", 0))
    list_ids = [int(i) for i in body.get("list_ids") or []]
    prefix = str(body.get("email_prefix") or "seed")
    domain = str(body.get("domain") or "example.com")
    with state.db.pool.connection() as conn:
        # Valid ids by construction (fresh subscribers, caller's list ids are checked below).
        conn.execute("SET LOCAL session_replication_role = replica")
        first = conn.execute(
            """WITH ins AS (
                   INSERT INTO subscribers (uuid, email, name, attribs)
                   SELECT md5(random()::TEXT || g::TEXT)::UUID, %(prefix)s || g || '@' || %(domain)s, 'Seed ' || g, %(attribs)s::JSONB
                   FROM generate_series(1, %(count)s) g RETURNING id
               ), subs AS (
                   INSERT INTO subscriber_lists (subscriber_id, list_id, status)
                   SELECT ins.id, l.id, %(status)s::subscription_status FROM ins, lists l
                   WHERE l.id = ANY(%(lists)s::INT[])
               )
               SELECT MIN(id) AS first_id, MAX(id) AS last_id FROM ins""",
            {"prefix": prefix, "domain": domain, "count": count, "lists": list_ids,
             "attribs": gojson.dumps(body.get("attribs") or {}),
             "status": body.get("subscription_status") or "confirmed"},
        ).fetchone()
        conn.commit()
        conn.execute("ANALYZE subscribers")
        conn.execute("ANALYZE subscriber_lists")
        conn.commit()
    return {"count": count, **(first or {})}


ROUTES: dict[tuple[str, str], AdminHandler] = {
    ("POST", "/__emulator/reset"): _reset,
    ("GET", "/__emulator/version"): _version,
    ("POST", "/__emulator/version"): _version,
    ("GET", "/__emulator/faults"): lambda state, body: state.faults.snapshot(),
    ("POST", "/__emulator/faults"): _faults,
    ("DELETE", "/__emulator/faults"): _clear_faults,
    ("POST", "/__emulator/restart"): _restart,
    ("GET", "/__emulator/stats"): _stats,
    ("DELETE", "/__emulator/stats"): _reset_stats,
    ("POST", "/__emulator/stats/reset"): _reset_stats,
    ("POST", "/__emulator/users"): _create_user,
    ("POST", "/__emulator/seed"): _seed,
}


def handle(state: EmulatorState, request: Request) -> Response:
    handler = ROUTES.get((request.method, request.path.rstrip("/")))
    if handler is None:
        raise ApiError(404, "unknown emulator endpoint")
    raw = request.get_data(as_text=True)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as err:
        raise ApiError(400, f"invalid JSON: {err}") from None
    return ok(handler(state, body if isinstance(body, dict) else {}))
