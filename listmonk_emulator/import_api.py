"""/api/import/subscribers routes: validation in listmonk's order, then hand-off to the Importer.

Order of checks (doc §14): already running -> params JSON -> lists permission -> mode ->
subscription_status -> delim -> file.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

from werkzeug.wrappers import Response

from listmonk_emulator import gojson
from listmonk_emulator.context import Ctx
from listmonk_emulator.importer import ImportParams
from listmonk_emulator.web import ApiError, ok

_SUB_STATUSES = ("unconfirmed", "confirmed", "unsubscribed")


def _params(raw: str, version_has_split_flags: bool) -> ImportParams:
    try:
        value = gojson.unmarshal(raw)
    except gojson.GoSyntaxError as err:
        raise ApiError(400, f"Invalid params: {err}") from None
    body: dict[str, Any] = value if isinstance(value, dict) else {}
    mode = body.get("mode") or ""
    lists = [v for v in body.get("lists") or [] if isinstance(v, int)]
    if mode == "subscribe" and not lists:
        raise ApiError(403, "Permission denied: lists")
    if mode not in ("subscribe", "blocklist"):
        raise ApiError(400, "Invalid mode")
    sub_status = body.get("subscription_status") or ""
    if sub_status and sub_status not in _SUB_STATUSES:
        raise ApiError(400, "Invalid subscription status")
    delim = body.get("delim") or ""
    if len(delim) != 1:
        raise ApiError(400, "Delimiter should be a single character.")
    overwrite = bool(body.get("overwrite"))
    # v5.x knows only `overwrite`, which covers both profile and subscription statuses.
    userinfo = overwrite or (version_has_split_flags and bool(body.get("overwrite_userinfo")))
    statuses = overwrite or (version_has_split_flags and bool(body.get("overwrite_subscription_status")))
    return ImportParams(mode=mode, delim=delim, lists=lists, subscription_status=sub_status,
                        overwrite_userinfo=userinfo, overwrite_subscription_status=statuses)


_BUSY = "An import is already running. Wait for it to finish or stop it before trying again."


def start_import(ctx: Ctx) -> Response:
    importer = ctx.state.importer
    if importer.running():
        raise ApiError(400, _BUSY)
    params = _params(ctx.request.form.get("params", ""), ctx.state.version_at_least(6, 1))
    upload = ctx.request.files.get("file")
    if upload is None:
        raise ApiError(400, "Invalid file: http: no such file")
    name = os.path.basename(upload.filename or "import.csv")
    handle, path = tempfile.mkstemp(prefix="listmonk", suffix=os.path.splitext(name)[1] or ".csv")
    with os.fdopen(handle, "wb") as out:
        upload.save(out)
    accepted = importer.start(name, path, params)
    if accepted is None:  # lost a race with a concurrent POST
        os.unlink(path)
        raise ApiError(400, _BUSY)
    return ok(accepted)


def import_status(ctx: Ctx) -> Response:
    return ok(ctx.state.importer.status())


def import_logs(ctx: Ctx) -> Response:
    return ok(ctx.state.importer.logs())


def stop_import(ctx: Ctx) -> Response:
    return ok(ctx.state.importer.stop_or_clear())
