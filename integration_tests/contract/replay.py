"""Replays a recorded listmonk scenario over HTTP and compares every response with the recording.

Comparison rules come from the fixtures' README: `<ts>`, `<uuid>`, `<token>` and `<tmpfile>`
stand for any value of that kind, role permission arrays are compared sorted, TRIMMED steps
compare only the keys the recording kept, a list's `subscriber_count` is only checked where the recording
agrees with itself (see `_stale_count`), and `derived` values are recomputed from the raw timestamps and
ids of this response and the ones before it.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import requests

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "data" / "listmonk-fixtures"

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LOG_TS = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}")
_TMP_PATH = re.compile(r"'/[^']*'")
_IMPORT_DONE_TIMEOUT = 120.0


def scenario_files() -> list[Path]:
    return sorted(FIXTURES_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Actual:
    status: int
    body: Any


@dataclass
class Replayer:
    base_url: str
    api_user: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)
    user_tokens: dict[str, str] = field(default_factory=dict)
    last_subscriber: Optional[dict[str, Any]] = None
    list_stamps: dict[int, list[str]] = field(default_factory=dict)

    def _auth(self, spec: Optional[str]) -> Optional[tuple[str, str]]:
        if spec is None:
            return (self.api_user, self.token)
        if spec == "none":
            return None
        if spec == "wrong_token":
            return (self.api_user, "wrong-" + self.token)
        if spec.startswith("user:"):
            name = spec.split(":", 1)[1]
            return (name, self.user_tokens[name])
        raise ValueError(f"unknown auth spec {spec!r}")

    def send(self, request: dict[str, Any]) -> Actual:
        headers: dict[str, str] = {}
        creds = self._auth(request.get("auth"))
        if creds:
            headers["Authorization"] = f"token {creds[0]}:{creds[1]}"
        kwargs: dict[str, Any] = {"params": request.get("query"), "headers": headers, "timeout": 120}
        if "json" in request:
            kwargs["json"] = request["json"]
        elif "body" in request:
            kwargs["data"] = request["body"].encode()
            headers["Content-Type"] = request.get("content_type", "application/json")
        elif "multipart" in request:
            kwargs["files"] = _multipart(request["multipart"])
        response = self.session.request(request["method"], self.base_url + request["path"], **kwargs)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Actual(response.status_code, body)

    def run_step(self, step: dict[str, Any]) -> Actual:
        request = step["request"]
        actual = self.send(request)
        if _is_import_status(request) and _expects_final(step):
            deadline = time.monotonic() + _IMPORT_DONE_TIMEOUT
            while _still_importing(actual) and time.monotonic() < deadline:
                time.sleep(0.05)
                actual = self.send(request)
        if request["method"] == "POST" and request["path"] == "/api/users" and actual.status == 200:
            data = actual.body["data"]
            self.user_tokens[data["username"]] = data["password"]
        return actual

    def derived(self, step: dict[str, Any], actual: Actual) -> dict[str, Any]:
        """The recorder's `derived` values, recomputed from raw timestamps (the kind the step recorded)."""
        wanted = step.get("derived", {})
        if "newest_id" in wanted:
            return {"returned_id": _result_ids(actual)[0], "newest_id": self._newest_list_id()}
        if "ids_in_order" in wanted:
            return {"ids_in_order": _result_ids(actual)}
        if "list_updated_at_moved" in wanted:
            return self._list_moved_by_import(actual)
        return self._subscriber_timestamps(actual)

    def remember(self, request: dict[str, Any], actual: Actual) -> None:
        """Keep the GETs of single subscribers and lists that a later derived step compares against."""
        if request["method"] != "GET" or actual.status != 200 or not isinstance(actual.body, dict):
            return
        if re.fullmatch(r"/api/subscribers/\d+", request["path"]):
            self._subscriber_timestamps(actual)
        elif re.fullmatch(r"/api/lists/\d+", request["path"]):
            data = actual.body["data"]
            self.list_stamps.setdefault(int(data["id"]), []).append(data["updated_at"])

    def _subscriber_timestamps(self, actual: Actual) -> dict[str, Any]:
        """timestamps.json: did this GET of a subscriber move its timestamps since the previous one?"""
        current = actual.body["data"]
        previous, self.last_subscriber = self.last_subscriber, current
        if previous is None:
            return {}
        before = {str(item["id"]): item["subscription_updated_at"] for item in previous["lists"]}
        return {
            "subscriber_updated_at_changed": current["updated_at"] != previous["updated_at"],
            "subscription_updated_at_changed": {
                str(item["id"]): item["subscription_updated_at"] != before.get(str(item["id"]))
                for item in current["lists"]
            },
        }

    def _newest_list_id(self) -> int:
        everything = self.send({"method": "GET", "path": "/api/lists", "query": {"per_page": "all"}})
        newest = max(everything.body["data"]["results"], key=lambda row: _moment(row["updated_at"]))
        return int(newest["id"])

    def _list_moved_by_import(self, actual: Actual) -> dict[str, Any]:
        """lists_order_paging.json: the subscriber's list, GET before and after the import, against the subscriber."""
        subscriber = actual.body["data"]["results"][0]
        stamps = self.list_stamps.get(int(subscriber["lists"][0]["id"]), [])
        if len(stamps) < 2:
            return {"error": "the list was not fetched before and after the import"}
        return {
            "list_updated_at_moved": stamps[-1] != stamps[-2],
            "list_updated_at_after_subscriber_updated_at": _moment(stamps[-1]) > _moment(subscriber["updated_at"]),
        }


def _result_ids(actual: Actual) -> list[int]:
    return [int(row["id"]) for row in actual.body["data"]["results"]]


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _multipart(spec: dict[str, Any]) -> list[tuple[str, tuple[Optional[str], Any, Optional[str]]]]:
    params = spec.get("params")
    parts: list[tuple[str, tuple[Optional[str], Any, Optional[str]]]] = []
    if params is not None:
        parts.append(("params", (None, params if isinstance(params, str) else json.dumps(params), None)))
    if "file_name" in spec:
        text = spec.get("file_text")
        if text is None:
            gen = spec["file_text_generated"]
            start = gen.get("i_from", 0)
            rows = (gen["row"].format(i=i) for i in range(start, start + gen["rows"]))
            text = gen["header"] + "\n" + "\n".join(rows) + "\n"
        parts.append(("file", (spec["file_name"], text.encode(), "text/csv")))
    return parts


def _is_import_status(request: dict[str, Any]) -> bool:
    return request["method"] == "GET" and request["path"] == "/api/import/subscribers"


def _expects_final(step: dict[str, Any]) -> bool:
    body = step["response"].get("json") or {}
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and data.get("status") in ("finished", "failed")


def _still_importing(actual: Actual) -> bool:
    data = actual.body.get("data") if isinstance(actual.body, dict) else None
    return isinstance(data, dict) and data.get("status") == "importing"


def _normalise_text(text: str) -> str:
    return _TMP_PATH.sub("'<tmpfile>'", _LOG_TS.sub("<ts>", text))


def compare(expected: Any, actual: Any, trimmed: bool, path: str = "$") -> list[str]:
    """Differences between a recorded value and the emulator's, as `path: expected != actual`."""
    if isinstance(expected, str):
        if expected == "<ts>":
            ok = isinstance(actual, str) and bool(_TS.match(actual))
        elif expected == "<uuid>":
            ok = isinstance(actual, str) and bool(_UUID.match(actual))
        elif expected == "<token>":
            ok = isinstance(actual, str) and bool(actual)
        elif isinstance(actual, str):
            ok = expected == actual or expected == _normalise_text(actual)
        else:
            ok = False
        return [] if ok else [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        diffs: list[str] = []
        if not trimmed:
            extra = sorted(set(actual) - set(expected))
            if extra:
                diffs.append(f"{path}: unexpected keys {extra}")
        for key, value in expected.items():
            if key not in actual:
                diffs.append(f"{path}.{key}: missing")
                continue
            got = actual[key]
            if key == "permissions" and isinstance(got, list):
                got = sorted(got)
            if key == "subscriber_count" and _stale_count(expected):
                if not (isinstance(got, int) and got >= 0):
                    diffs.append(f"{path}.{key}: expected a count, got {got!r}")
                continue
            diffs.extend(compare(value, got, trimmed, f"{path}.{key}"))
        return diffs
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list of {len(expected)}, got {actual!r}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}: {_ids(actual)}"]
        out: list[str] = []
        for i, (exp, got) in enumerate(zip(expected, actual)):
            out.extend(compare(exp, got, trimmed, f"{path}[{i}]"))
        return out
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def _stale_count(recorded: dict[str, Any]) -> bool:
    """A recorded list whose subscriber_count disagrees with its own subscriber_statuses.

    listmonk serves the count from a materialized view (mat_list_subscriber_stats) that it refreshes on its
    own schedule; right after an import the recording shows 2 against {"confirmed": 1}. No connector reads
    the count, so such a recording only asks for some count.
    """
    statuses = recorded.get("subscriber_statuses")
    return isinstance(statuses, dict) and recorded.get("subscriber_count") != sum(statuses.values())


def _ids(items: list[Any]) -> Any:
    return [i.get("id") for i in items] if all(isinstance(i, dict) for i in items) else items


def check_step(replayer: Replayer, index: int, step: dict[str, Any]) -> list[str]:
    """Run one step; an empty list means it matched the recording."""
    actual = replayer.run_step(step)
    expected = step["response"]
    label = f"step {index} [{step['note']}] {step['request']['method']} {step['request']['path']}"
    diffs: list[str] = []
    if actual.status != expected["status"]:
        diffs.append(f"status: expected {expected['status']}, got {actual.status} (body {actual.body!r:.300})")
    trimmed = "TRIMMED" in step["note"]
    if "json" in expected:
        diffs.extend(compare(expected["json"], actual.body, trimmed))
    elif "text" in expected:
        diffs.extend(compare(expected["text"], actual.body, trimmed))
    if "derived" in step:
        got = replayer.derived(step, actual)
        if got != step["derived"]:
            diffs.append(f"derived: expected {step['derived']}, got {got}")
    else:
        replayer.remember(step["request"], actual)
    return [f"{label}: {d}" for d in diffs]
