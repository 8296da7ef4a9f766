"""listmonk's HTTP conventions: the `{"data"}`/`{"message"}` envelope, errors and body decoding."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Optional, Union

import orjson
import psycopg
from werkzeug.wrappers import Request, Response

from listmonk_emulator import gojson


class ApiError(Exception):
    """An error answered as `{"message": ...}` with the given status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def pq_text(err: psycopg.Error, with_detail: bool = False) -> str:
    """lib/pq's rendering of a PostgreSQL error: `pq: <primary message>`."""
    primary = err.diag.message_primary or str(err).splitlines()[0]
    text = f"pq: {primary}"
    if with_detail and err.diag.message_detail:
        text += f". {err.diag.message_detail}"
    return text


def db_error(prefix: str, err: psycopg.Error, status: int = 500, with_detail: bool = False) -> ApiError:
    return ApiError(status, f"{prefix}: {pq_text(err, with_detail)}")


def json_response(body: Any, status: int = 200) -> Response:
    # Compact, as Go writes it. orjson, as writing a listing of subscribers with the json module took a tenth of
    # answering it; it refuses what json writes as listmonk would: integers beyond 64 bits, keys that are not text.
    try:
        text: Union[bytes, str] = orjson.dumps(body)
    except TypeError:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def ok(data: Any) -> Response:
    return json_response({"data": data})


def error_response(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


def ts(value: Optional[datetime]) -> Optional[str]:
    """Go's time.Time JSON form as listmonk prints it: UTC, microseconds, `Z`."""
    if value is None:
        return None
    return _utc_text(value, value.fold)[:-6] + "Z"


def ts_pg(value: Optional[datetime]) -> Optional[str]:
    """PostgreSQL's to_json form of a timestamptz (used inside a subscriber's `lists`)."""
    if value is None:
        return None
    return _utc_text(value, value.fold)


# Listing subscribers formats six timestamps a subscriber, most of them shared (a list's, an import's): formatting
# was a sixth of the emulator's time answering a lookup. Keyed by `fold` too: a datetime in a repeated hour
# equals, and hashes as, its other fold.
@lru_cache(maxsize=1 << 16)
def _utc_text(value: datetime, fold: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffff+00:00` in UTC; isoformat is a third cheaper than strftime."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def read_json(request: Request, field_types: dict[str, str]) -> dict[str, Any]:
    """Decode a request body the way echo's Bind does, with Go's error texts."""
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        value, fields = gojson.decode_object(raw)
    except gojson.GoSyntaxError as err:
        raise ApiError(400, gojson.stream_error_text(err)) from None
    if not isinstance(value, dict):
        raise ApiError(400, f"Unmarshal type error: expected=map, got={_kind(value)}, field=, offset=1")
    message = gojson.type_error(fields, field_types)
    if message:
        raise ApiError(400, message)
    return value


def _kind(value: Any) -> str:
    return "array" if isinstance(value, list) else type(value).__name__


def parse_id(raw: str) -> int:
    """A path id; listmonk answers 400 `invalid ID` for anything not a positive integer."""
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid ID") from None
    if value < 1:
        raise ApiError(400, "invalid ID")
    return value


def paging(request: Request, default_per_page: int = 20) -> tuple[int, int, int]:
    """listmonk's getPagination: (page, per_page as reported, SQL offset); per_page 0 means all."""
    raw_per_page = request.args.get("per_page", "")
    if raw_per_page in ("all", "-1"):
        per_page = 0
    else:
        try:
            per_page = int(raw_per_page)
        except ValueError:
            per_page = default_per_page
        if per_page < 1:
            per_page = default_per_page
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    page = max(page, 1)
    return page, per_page, (page - 1) * per_page
