"""Discovery, settings, profile, roles and API users."""
from __future__ import annotations

import platform
import secrets
from typing import Any

import psycopg
from werkzeug.wrappers import Response

from listmonk_emulator.auth import PERMISSIONS
from listmonk_emulator.context import Ctx
from listmonk_emulator.db import fetch_all, fetch_one
from listmonk_emulator.web import ApiError, db_error, json_response, ok, parse_id, read_json, ts

ROOT_URL = "http://localhost:9000"

# The settings a connector may look at plus enough of the rest to look like listmonk's ~70 keys.
SETTINGS: dict[str, Any] = {
    "app.site_name": "Mailing list",
    "app.root_url": ROOT_URL,
    "app.logo_url": f"{ROOT_URL}/public/static/logo.png",
    "app.favicon_url": "",
    "app.from_email": "listmonk <noreply@listmonk.yoursite.com>",
    "app.notify_emails": [],
    "app.enable_public_subscription_page": True,
    "app.enable_public_archive": False,
    "app.enable_public_archive_rss_content": False,
    "app.send_optin_confirmation": True,
    "app.check_updates": True,
    "app.lang": "en",
    "app.batch_size": 1000,
    "app.concurrency": 10,
    "app.max_send_errors": 1000,
    "app.message_rate": 10,
    "app.cache_slow_queries": False,
    "app.cache_slow_queries_interval": "0 3 * * *",
    "app.message_sliding_window": False,
    "app.message_sliding_window_duration": "1h",
    "app.message_sliding_window_rate": 10000,
    "privacy.individual_tracking": False,
    "privacy.unsubscribe_header": True,
    "privacy.allow_blocklist": True,
    "privacy.allow_export": True,
    "privacy.allow_wipe": True,
    "privacy.allow_preferences": True,
    "privacy.exportable": ["profile", "subscriptions", "campaign_views", "link_clicks"],
    "privacy.domain_blocklist": [],
    "privacy.domain_allowlist": [],
    "privacy.record_optin_ip": False,
    "security.enable_captcha": False,
    "security.captcha_key": "",
    "security.captcha_secret": "",
    "upload.provider": "filesystem",
    "upload.extensions": ["jpg", "jpeg", "png", "gif", "svg", "*"],
    "upload.filesystem.upload_path": "uploads",
    "upload.filesystem.upload_uri": "/uploads",
    "bounce.enabled": False,
    "bounce.webhooks_enabled": False,
    "bounce.actions": {"soft": {"count": 2, "action": "none"}, "hard": {"count": 1, "action": "blocklist"},
                       "complaint": {"count": 1, "action": "blocklist"}},
    "smtp": [],
    "messengers": [],
    "appearance.admin.custom_css": "",
    "appearance.admin.custom_js": "",
    "appearance.public.custom_css": "",
    "appearance.public.custom_js": "",
}


def health(ctx: Ctx) -> Response:
    return ok(True)


def about(ctx: Ctx) -> Response:
    version = ctx.state.version
    # Not wrapped in `data`, unlike every other route.
    return json_response({
        "version": version,
        "build": f"{version} (local)",
        "go_version": "go1.24.0",
        "go_arch": platform.machine(),
        "database": {"version": "emulated", "size_mb": 0},
        "system": {"num_cpu": 1, "memory_alloc_mb": 0, "memory_from_os_mb": 0},
        "host": {"os": platform.system().lower(), "arch": platform.machine(), "hostname": "listmonk-emulator"},
    })


def config(ctx: Ctx) -> Response:
    return ok({
        "root_url": ROOT_URL,
        "from_email": SETTINGS["app.from_email"],
        "public_subscription": True,
        "messengers": ["email"],
        "media_provider": "filesystem",
        "needs_restart": False,
        "has_legacy_user": False,
        "update": None,
        "langs": [{"code": "en", "name": "English (en)"}],
        "lang": "en",
        "permissions": sorted(PERMISSIONS),
        "privacy": {"individual_tracking": False, "allow_preferences": True},
        "version": ctx.state.version,
    })


def settings(ctx: Ctx) -> Response:
    return ok(SETTINGS)


def _role_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "created_at": ts(row["created_at"]), "updated_at": ts(row["updated_at"]),
            "type": row["type"], "name": row["name"], "permissions": sorted(row["permissions"]),
            "lists": None}


def _user_json(row: dict[str, Any], password: Any = None) -> dict[str, Any]:
    return {
        "id": row["id"], "created_at": ts(row["created_at"]), "updated_at": ts(row["updated_at"]),
        "username": row["username"], "password": password, "password_login": row["password_login"],
        "email": row["email"], "name": row["name"], "type": row["type"], "status": row["status"],
        "avatar": row["avatar"], "twofa_type": row["twofa_type"], "loggedin_at": ts(row["loggedin_at"]),
        "user_role": {"id": row["role_id"], "name": row["role_name"], "permissions": sorted(row["role_perms"])},
        "list_role": None,
    }


_USER_SQL = """SELECT u.*, r.id AS role_id, r.name AS role_name, r.permissions AS role_perms
               FROM users u JOIN roles r ON r.id = u.user_role_id"""


def profile(ctx: Ctx) -> Response:
    with ctx.state.db.pool.connection() as conn:
        row = fetch_one(conn, _USER_SQL + " WHERE u.id = %s", (ctx.user.id,))
    if row is None:
        raise ApiError(403, "invalid session")
    return ok(_user_json(row))


def get_roles(ctx: Ctx) -> Response:
    with ctx.state.db.pool.connection() as conn:
        rows = fetch_all(conn, "SELECT * FROM roles WHERE type = 'user' ORDER BY id")
    return ok([_role_json(r) for r in rows])


def create_role(ctx: Ctx) -> Response:
    body = read_json(ctx.request, {"name": "string", "permissions": "[]string"})
    name = (body.get("name") or "").strip()
    if not name:
        raise ApiError(400, "Invalid fields: name")
    perms = [p for p in body.get("permissions") or [] if isinstance(p, str)]
    for perm in perms:
        if perm not in PERMISSIONS:
            raise ApiError(400, f"Invalid fields: permission: {perm}")
    with ctx.state.db.pool.connection() as conn:
        try:
            row = fetch_one(conn, "INSERT INTO roles (type, name, permissions) VALUES ('user', %s, %s) RETURNING *",
                            (name, sorted(set(perms))))
            conn.commit()
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error creating Role", err) from None
    assert row is not None
    return ok(_role_json(row))


def get_users(ctx: Ctx) -> Response:
    with ctx.state.db.pool.connection() as conn:
        rows = fetch_all(conn, _USER_SQL + " ORDER BY u.id")
    return ok([_user_json(r) for r in rows])


def create_user(ctx: Ctx) -> Response:
    """Only API users matter here: the response's `password` carries the new token."""
    body = read_json(ctx.request, {"username": "string", "name": "string", "type": "string",
                                   "status": "string", "user_role_id": "int", "email": "string",
                                   "password": "string", "password_login": "bool"})
    username = (body.get("username") or "").strip()
    if not username:
        raise ApiError(400, "Invalid fields: username")
    user_type = body.get("type") or "user"
    token = secrets.token_hex(16) if user_type == "api" else None
    with ctx.state.db.pool.connection() as conn:
        try:
            row = fetch_one(
                conn,
                """INSERT INTO users (username, password_login, password, email, name, type, user_role_id, status)
                   VALUES (%s, true, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (username, token if token else body.get("password"), body.get("email") or None,
                 (body.get("name") or username).strip(), user_type, body.get("user_role_id") or 0,
                 body.get("status") or "enabled"),
            )
            conn.commit()
        except psycopg.errors.UniqueViolation:
            conn.rollback()
            raise ApiError(409, "User already exists.") from None
        except psycopg.Error as err:
            conn.rollback()
            raise db_error("Error creating User", err) from None
        assert row is not None
        created = fetch_one(conn, _USER_SQL + " WHERE u.id = %s", (row["id"],))
    assert created is not None
    ctx.state.api_users.reload()
    return ok(_user_json(created, password=token))


def delete_user(ctx: Ctx) -> Response:
    user_id = parse_id(ctx.path["id"])
    with ctx.state.db.pool.connection() as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        conn.commit()
    ctx.state.api_users.reload()
    return ok(True)
