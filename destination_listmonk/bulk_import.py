"""Sends batches of planned writes through listmonk's CSV importer instead of one call each.

Only planned operations are sent, unchanged: the importer is a transport, not a decision. Two kinds qualify,
each where an import is equivalent to the calls it replaces (doc §11):
- `CreateSubscriber`: subscribe mode on the planned lists with the planned subscription status, no subscriber
  status (imports create `enabled`), no follow-up changes, and all overwrite flags off, so a row that turns out
  to exist already keeps its name, attributes and every subscription status;
- `RewriteProfile`: subscribe mode with only `overwrite_userinfo`, naming a list every row is already on, so
  name and attributes are replaced and no status moves (`unsubscribed` for a subscription the row would create,
  which only a removal since the lookup leaves to create).
"""

from __future__ import annotations

import csv
import io
import json
import operator
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Set as AbstractSet
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Sequence, Union

import orjson

from destination_listmonk.operations import CreateSubscriber, Plan, RewriteProfile
from destination_listmonk.timings import Timings
from listmonk_client.client import ListmonkClient
from listmonk_client.errors import ListmonkError, RequestRejected

# Below this many rows in a batch an import's fixed cost (upload, polling, listmonk's notification) is not worth it.
MIN_ROWS = 50
# Profile rewrites are gathered across batches up to this many rows (listmonk commits an import 10,000 rows at a
# time), or for this long, before they go as one import: listmonk emails its admins after every import, and a
# re-sync with 1% changed would otherwise run one small import per batch.
IMPORT_ROWS = 10_000
GATHER_SECONDS = 10.0
# New subscribers go with the next import, which starts as soon as the running one ends. While an import runs, the
# batches planned meanwhile may wait to join that next one, as long as it stays within this many rows with one
# more batch: an initial load of 1,000,000 at the default batch size makes about 50 imports (and notices) rather
# than 100. A gathered row costs about 1.3 KB until its import ends.
NEW_IMPORT_ROWS = 20_000
_BUSY = "already running"
_SKIPPED_LINE = re.compile(r"skipping line (\d+): ([^:\[]+)")
BUSY_WAIT_SECONDS = 600.0
# What an import's log says when listmonk lost its database under it (PostgreSQL restarted), as opposed to
# refusing the data: lib/pq's and database/sql's texts for a dropped connection, PostgreSQL's for a shutdown.
_LOST_DATABASE = re.compile(
    r"bad connection|connection refused|connection reset|broken pipe|terminating connection|"
    r"server closed the connection|the database system is (?:shutting down|starting up|in recovery mode)",
    re.IGNORECASE,
)


def eligible(plan: Plan) -> bool:
    op = plan.ops[0] if len(plan.ops) == 1 else None
    if isinstance(op, RewriteProfile):
        return bool(op.list_ids)
    return (
        isinstance(op, CreateSubscriber)
        and bool(op.list_ids)
        and op.status in (None, "enabled")
        and not op.followups
    )


def _json_text(attribs: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(attribs if isinstance(attribs, dict) else dict(attribs)).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses
        return json.dumps(dict(attribs))


def _row_op(plan: Plan) -> Union[CreateSubscriber, RewriteProfile]:
    op = plan.ops[0]
    assert isinstance(op, (CreateSubscriber, RewriteProfile))
    return op


def _forget(counts: Counter[str], value: str) -> None:
    left = counts[value] - 1
    if left:
        counts[value] = left
    else:
        del counts[value]


_GroupKey = tuple[str, tuple[int, ...], bool]  # kind, lists, preconfirm


def _groups(plans: Sequence[Plan]) -> dict[_GroupKey, list[Plan]]:
    """Eligible plans by the import that can carry them. A profile rewrite goes with the list most of the batch's
    rewrites are on (the lowest id on a tie), so that a few imports carry them all."""
    groups: dict[_GroupKey, list[Plan]] = defaultdict(list)
    carried = [(plan, _row_op(plan)) for plan in plans if eligible(plan)]
    on_list = Counter(list_id for _, op in carried if isinstance(op, RewriteProfile) for list_id in op.list_ids)
    for plan, op in carried:
        if isinstance(op, CreateSubscriber):
            groups[("create", op.list_ids, op.preconfirm)].append(plan)
        else:
            list_id = max(op.list_ids, key=lambda i: (on_list[i], -i))
            groups[("rewrite", (list_id,), False)].append(plan)
    return groups


def _import_file(
    members: list[Plan], kind: str, list_ids: tuple[int, ...], preconfirm: bool
) -> tuple[dict[str, object], str]:
    """The import's parameters and CSV file for a group's rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "attributes"])
    for plan in members:
        op = _row_op(plan)
        writer.writerow([op.email, op.name or "", _json_text(op.attribs)])
    rewrite = kind == "rewrite"
    params: dict[str, object] = {
        "mode": "subscribe",
        "delim": ",",
        "lists": list(list_ids),
        "subscription_status": "unsubscribed" if rewrite else ("confirmed" if preconfirm else "unconfirmed"),
        "overwrite": False,
        "overwrite_userinfo": rewrite,
        "overwrite_subscription_status": False,
    }
    return params, buffer.getvalue()


class _ImportFile(NamedTuple):
    members: list[Plan]
    params: dict[str, object]
    csv_text: str


_Prepared = tuple[Optional[Sequence[Plan]], dict[_GroupKey, list[Plan]], dict[_GroupKey, _ImportFile]]
_NOTHING_PREPARED: _Prepared = (None, {}, {})


@dataclass
class _PendingImport:
    members: list[Plan]
    file_name: str
    kind: str
    started: float  # time.monotonic()


class BulkImporter:
    """Runs imports one at a time (as listmonk requires). Profile rewrites are gathered per list, across batches,
    until there are `IMPORT_ROWS` of them or the oldest has waited `GATHER_SECONDS`; new subscribers go with the
    next import. A batch whose writes all wait so need not wait for the running import (`gathers`). An import may
    still be running when `submit` returns, so the next batch's records are read, mapped, looked up and planned
    meanwhile (all but those `in_flight` names). `settle` sends what is gathered and waits until listmonk holds it
    all; the sync calls it before a STATE and before a lookup that must see those rows. `wait` only waits for the
    running import."""

    def __init__(
        self, client: ListmonkClient, timings: Optional[Timings] = None, import_rows: int = IMPORT_ROWS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self._client = client
        self._timings = timings or Timings()
        self._import_rows = import_rows
        self._gather_seconds = gather_seconds
        self._pending: Optional[_PendingImport] = None
        self._gathered: dict[_GroupKey, list[Plan]] = {}
        self._gathered_since: dict[_GroupKey, float] = {}
        self._interrupted: list[Plan] = []
        # How many of the rows gathered or in the running import have each key and email: kept as rows come and go,
        # since the sync asks once a batch, and counting them afresh cost 1-2 s of a re-sync of 1,000,000.
        self._keys_in_flight: Counter[str] = Counter()
        self._emails_in_flight: Counter[str] = Counter()
        # What `prepare` made for the next `submit`: the plans it was given, grouped, and import files by group.
        self._prepared: _Prepared = _NOTHING_PREPARED
        # The fastest pace (rows a second) of this sync's imports of at least MIN_ROWS, by kind: when to poll for
        # the next one's end. The fastest, as a poll that comes late leaves listmonk idle; one that comes early
        # only costs a few more polls.
        self._rates: dict[str, float] = {}

    def submit(self, plans: Sequence[Plan], gather: bool = False) -> tuple[set[int], list[tuple[Plan, str]]]:
        """Takes the eligible plans (sent now or later; with `gather`, as `gathers` said, all wait for a later
        import); returns the positions handed to the importer and the rows listmonk skipped in the
        imports that finished meanwhile."""
        prepared_for, grouped, files = self._prepared
        self._prepared = _NOTHING_PREPARED
        if plans is not prepared_for:
            grouped, files = _groups(plans), {}
        handled: set[int] = set()
        rejected: list[tuple[Plan, str]] = []
        for group, members in grouped.items():
            if len(members) < MIN_ROWS:
                continue
            self._gathered_since.setdefault(group, time.monotonic())
            self._gathered.setdefault(group, []).extend(members)
            handled.update(p.position for p in members)
            self._keys_in_flight.update(p.key for p in members)
            self._emails_in_flight.update(_row_op(p).email for p in members)
        if gather:  # nothing is sent: that would wait for the running import
            return handled, rejected
        overdue = time.monotonic() - self._gather_seconds
        for group in [g for g, members in self._gathered.items()
                      if g[0] == "create" or self._rewrites_due(g, len(members), overdue)]:
            rejected.extend(self._send(group, files.get(group)))
        return handled, rejected

    def gathers(self, plans: Sequence[Plan], lead_seconds: float) -> bool:
        """Whether `plans` had better join a later import than wait for the running one: the importer carries all
        their writes, none of them is due to be sent now (new subscribers fit in the next import with one more
        batch; profile rewrites leave their gathering short of `import_rows` rows and of `gather_seconds`), and the
        running import still has more than `lead_seconds` (how long the sync takes to plan a batch) to go at the
        fastest pace of its kind. Later batches can then join too, and listmonk still never waits for the sync."""
        pending = self._pending
        rate = self._rates.get(pending.kind) if pending is not None else None
        if pending is None or not rate:
            return False
        if pending.started + len(pending.members) / rate - time.monotonic() <= lead_seconds:
            return False
        grouped = _groups(plans)
        self._prepared = (plans, grouped, {})  # kept for `prepare` or `submit` of the same plans
        overdue = time.monotonic() - self._gather_seconds
        carried = 0
        for group, members in grouped.items():
            gathered = len(self._gathered.get(group, ()))
            if len(members) < MIN_ROWS:
                return False
            if group[0] == "create" and gathered + 2 * len(members) > NEW_IMPORT_ROWS:  # the next batch's too
                return False
            if group[0] == "rewrite" and self._rewrites_due(group, gathered + len(members), overdue):
                return False
            carried += len(members)
        return carried == sum(1 for p in plans if p.ops)

    def _rewrites_due(self, group: _GroupKey, rows: int, overdue: float) -> bool:
        """Whether a group's gathered profile rewrites, `rows` of them, go now: a full import, or gathered since
        before `overdue`."""
        since = self._gathered_since.get(group)
        return rows >= self._import_rows or (since is not None and since <= overdue)

    def prepare(self, plans: Sequence[Plan]) -> None:
        """Groups `plans` and makes the files of the imports of new subscribers that `submit(plans)` will start
        (with those gathered before), while the running import finishes: listmonk is idle from its end until the
        next one starts."""
        prepared_for, grouped, _ = self._prepared
        if plans is not prepared_for:  # not grouped by `gathers` already
            grouped = _groups(plans)
        files: dict[_GroupKey, _ImportFile] = {}
        for group, members in grouped.items():
            if group[0] == "create" and len(members) >= MIN_ROWS:
                rows = self._gathered.get(group, []) + members
                files[group] = _ImportFile(rows, *_import_file(rows, *group))
        self._prepared = (plans, grouped, files)

    def busy(self) -> bool:
        return self._pending is not None or bool(self._gathered)

    def first_in_flight(self) -> Optional[int]:
        """The lowest position of a row listmonk may not hold yet (gathered, or in the running import)."""
        firsts = [min(p.position for p in members) for members in self._gathered.values() if members]
        if self._pending is not None and self._pending.members:
            firsts.append(min(p.position for p in self._pending.members))
        return min(firsts, default=None)

    def in_flight(self) -> tuple[AbstractSet[str], AbstractSet[str]]:
        """Keys and emails of the rows listmonk may not hold yet: gathered, or in the running import. Live views,
        which change as rows are gathered and imports end."""
        return self._keys_in_flight.keys(), self._emails_in_flight.keys()

    def settle(self) -> list[tuple[Plan, str]]:
        """Sends every gathered row and waits until listmonk holds them; returns the rows listmonk skipped. An
        import listmonk lost by restarting is not an error: its plans wait in `take_interrupted` to be planned
        again."""
        rejected: list[tuple[Plan, str]] = []
        for group in list(self._gathered):
            rejected.extend(self._send(group))
        return rejected + self.wait()

    def wait(self) -> list[tuple[Plan, str]]:
        """Waits for the running import, if any; returns the rows listmonk skipped (a lost import: see `settle`)."""
        if self._pending is None:
            return []
        pending, self._pending = self._pending, None
        for plan in pending.members:
            _forget(self._keys_in_flight, plan.key)
            _forget(self._emails_in_flight, _row_op(plan).email)
        with self._timings.span("import_wait"):
            return self._finished(pending)

    def _send(self, group: _GroupKey, prepared: Optional[_ImportFile] = None) -> list[tuple[Plan, str]]:
        """Starts the import of a group's gathered rows once the running one has finished, its file made first
        (or by `prepare`, if of the same rows)."""
        kind, list_ids, preconfirm = group
        del self._gathered_since[group]
        members = self._gathered.pop(group)
        if prepared is not None and len(prepared.members) == len(members) and all(
            map(operator.is_, prepared.members, members)
        ):
            params, csv_text = prepared.params, prepared.csv_text
        else:
            params, csv_text = _import_file(members, kind, list_ids, preconfirm)
        rejected = self.wait()
        self._pending = self._start_import(members, kind, params, csv_text)
        return rejected

    def _finished(self, pending: _PendingImport) -> list[tuple[Plan, str]]:
        rows = len(pending.members)
        rate = self._rates.get(pending.kind)
        expected = pending.started + rows / rate - time.monotonic() if rate else 0.0
        status = self._client.wait_for_import(expected_seconds=max(expected, 0.0))
        if rows >= MIN_ROWS and status.name == pending.file_name:
            pace = rows / max(time.monotonic() - pending.started, 1e-3)
            self._rates[pending.kind] = max(pace, self._rates.get(pending.kind, 0.0))
        if status.name != pending.file_name:
            # listmonk keeps the import status in memory: after a restart it reports `none` (or an import someone
            # started since). Some of the rows may have landed before it went down.
            self._interrupted.extend(pending.members)
            return []
        if status.status != "finished":
            logs = self._own_logs(pending.file_name)
            if status.status == "failed" and _LOST_DATABASE.search(logs):
                self._interrupted.extend(pending.members)
                return []
            raise RequestRejected(
                method="POST", path="/api/import/subscribers", status=None,
                message=f"import {pending.file_name} ended '{status.status}': {logs[-500:]}",
            )
        skipped = self._skipped_rows(pending.members, pending.file_name)
        expected = len(pending.members) - len(skipped)
        # listmonk's importer stops at a row the database refuses (e.g. a list deleted meanwhile), rolls back
        # the uncommitted rows and still says `finished`; only `imported` tells.
        if status.imported < expected:
            logs = self._own_logs(pending.file_name)
            if _LOST_DATABASE.search(logs):
                self._interrupted.extend(pending.members)
                return []
            raise RequestRejected(
                method="POST", path="/api/import/subscribers", status=None,
                message=f"import {pending.file_name} stopped after {status.imported} of {expected} rows: {logs[-500:]}",
            )
        return skipped

    def take_interrupted(self) -> list[Plan]:
        """The plans of imports listmonk lost (it or its database restarted) since the last call."""
        interrupted, self._interrupted = self._interrupted, []
        return interrupted

    def _start_import(self, members: list[Plan], kind: str, params: dict[str, object], csv_text: str) -> _PendingImport:
        file_name = f"airbyte-{uuid.uuid4().hex[:12]}.csv"
        with self._timings.span("import_upload"):
            self._start(params, csv_text, file_name)
        return _PendingImport(members, file_name, kind, time.monotonic())

    def _start(self, params: dict[str, object], csv_text: str, file_name: str) -> None:
        # listmonk runs one import at a time: wait for someone else's to finish rather than fail.
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        while True:
            try:
                self._client.start_import(params, csv_text, file_name)
                return
            except RequestRejected as error:
                if _BUSY not in error.message or time.monotonic() > deadline:
                    raise
                self._client.wait_for_import()

    def _own_logs(self, file_name: str) -> str:
        """The import log's lines about `file_name` (listmonk keeps one log, of the last import)."""
        logs = self._client.import_logs()
        return logs[logs.rfind(f"processing '{file_name}'"):] if file_name in logs else logs

    def _skipped_rows(self, members: list[Plan], file_name: str) -> list[tuple[Plan, str]]:
        try:
            logs = self._own_logs(file_name)
        except ListmonkError:
            return []
        if file_name not in logs:
            return []
        skipped = []
        for line_number, reason in _SKIPPED_LINE.findall(logs):
            index = int(line_number) - 1
            if 0 <= index < len(members):
                skipped.append((members[index], f"listmonk's importer skipped the row: {reason.strip()}"))
        return skipped
