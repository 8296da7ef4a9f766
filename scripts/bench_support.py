"""Building blocks of scripts/benchmark.py: synthetic contacts, the three systems under test (the connector,
listmonk's CSV import, a naive per-record connector), each run in a fresh child process, and the report.

Every case runs in its own spawned process so that its peak RSS (ru_maxrss) is its own, not the high-water
mark of everything the benchmark did before it. Records are generated lazily inside the child, so the
connector's memory is measured without a list of N dicts sitting next to it.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Optional

STREAM = "contacts"
PLANS = ("free", "pro", "team")
COUNTRIES = ("NZ", "DE", "BR", "JP", "US")


# -- the data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseDef:
    """One step of a scenario. Records with `i % change_every == 0` carry `tag` in their name and plan."""

    name: str
    label: str
    change_every: Optional[int] = None
    tag: str = ""
    resync: bool = True


# Run in this order on the same list and domain: each re-sync compares against the state the previous step
# left. The 10% step's changed set (i % 10 == 0) contains the 1% step's (i % 100 == 0) and gives it a new tag,
# so exactly 10% of the records differ from what listmonk holds, and the other 90% are back at the base values.
CASES: tuple[CaseDef, ...] = (
    CaseDef("initial", "initial load (all new)", resync=False),
    CaseDef("nochange", "re-sync, no changes"),
    CaseDef("change1", "re-sync, 1% changed", change_every=100, tag="r1"),
    CaseDef("change10", "re-sync, 10% changed", change_every=10, tag="r2"),
)
CASES_BY_NAME = {case.name: case for case in CASES}


def contact(i: int, domain: str, case: CaseDef) -> dict[str, Any]:
    """Contact number i as the upstream (a CRM) would send it in `case`."""
    changed = case.change_every is not None and i % case.change_every == 0
    suffix = f" {case.tag}" if changed else ""
    return {
        "email": f"c{i:07d}@{domain}",
        "name": f"Contact {i}{suffix}",
        "plan": f"{PLANS[i % len(PLANS)]}{suffix}",
        "country": COUNTRIES[i % len(COUNTRIES)],
        "score": i % 1000,
        "crm_id": f"crm-{i}",
    }


def contacts(n: int, domain: str, case: CaseDef) -> Iterator[dict[str, Any]]:
    # A generator on purpose: memory must not grow with N on the benchmark's side of the measurement.
    for i in range(n):
        yield contact(i, domain, case)


def attribs_of(record: dict[str, Any]) -> dict[str, Any]:
    """The attributes every system writes: what the connector's `attributes: remaining` mapping derives."""
    return {k: v for k, v in record.items() if k not in ("email", "name")}


# -- what a child process receives and returns -----------------------------------------------------


@dataclass
class CaseSpec:
    system: str
    case: str
    n: int
    url: str
    user: str
    token: str
    list_id: int
    domain: str
    batch_size: int = 10000
    concurrency: int = 4
    lookup_keys: int = 150
    bulk_import: bool = True
    snapshot_lookup: str = "auto"
    state_every: int = 10_000
    naive_concurrency: int = 4


@dataclass
class CaseResult:
    wall_s: float
    records: int
    client_requests: int
    client_writes: int
    client_by_method: dict[str, int]
    cpu_s: float
    rss_start_kib: int
    peak_rss_kib: int
    outcome: str
    # The largest child process's (the destination's export or input reader process, forked from this one: the
    # pages they still share count in both).
    child_peak_rss_kib: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # CPU seconds the whole machine spent over the case (every process: a local listmonk's and its database's too).
    machine_cpu_s: Optional[float] = None


# -- measurement helpers (in the child) ---------------------------------------------------------------


class RequestCounter:
    """Counts every HTTP request the process sends through `requests`, whatever client sends it."""

    def __init__(self) -> None:
        self.total = 0
        self.writes = 0
        self.by_method: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, method: str) -> None:
        with self._lock:
            self.total += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            if method != "GET":
                self.writes += 1


@contextmanager
def counting_requests() -> Iterator[RequestCounter]:
    # Patching Session.send sees every attempt (retries included) and works against a remote listmonk too,
    # where no server-side counter is available.
    import requests

    counter = RequestCounter()
    original = requests.Session.send

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        counter.add(str(request.method).upper())
        return original(self, request, **kwargs)

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def current_rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib(who: int = resource.RUSAGE_SELF) -> int:
    return int(resource.getrusage(who).ru_maxrss)  # KiB on Linux


def cpu_seconds() -> float:
    """Of this process and of the children it has waited for: the destination's export and input reader processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine_busy_seconds() -> Optional[float]:
    """CPU seconds all of the machine's cores have been busy since boot (/proc/stat), None where unknown."""
    try:
        with open("/proc/stat") as handle:
            ticks = [int(value) for value in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal; guest time is within user already.
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


Body = Callable[[CaseSpec, Any], tuple[int, str, dict[str, Any]]]


def measured(spec: CaseSpec, body: Body, given: Any = None) -> CaseResult:
    """Runs `body` on its input `given` (it returns records, outcome, details) under the request counter and the
    clock."""
    rss_start = current_rss_kib()
    with counting_requests() as counter:
        machine_start, cpu_start, started = machine_busy_seconds(), cpu_seconds(), time.perf_counter()
        records, outcome, details = body(spec, given)
        # CPU next to wall time tells whether the client itself or the server (waiting on HTTP) is the bottleneck;
        # the machine's, whether the two were short of cores (a local listmonk shares them).
        wall, cpu, machine_end = time.perf_counter() - started, cpu_seconds() - cpu_start, machine_busy_seconds()
    machine = None if machine_start is None or machine_end is None else machine_end - machine_start
    return CaseResult(
        wall_s=wall, records=records, client_requests=counter.total, client_writes=counter.writes, cpu_s=cpu,
        client_by_method=dict(counter.by_method), rss_start_kib=rss_start, peak_rss_kib=peak_rss_kib(),
        outcome=outcome, details=details, child_peak_rss_kib=peak_rss_kib(resource.RUSAGE_CHILDREN),
        machine_cpu_s=machine,
    )


# -- system 1: the connector ------------------------------------------------------------------------


def connector_config(spec: CaseSpec) -> dict[str, Any]:
    return {
        "url": spec.url,
        "username": spec.user,
        "token": spec.token,
        "target_lists": [str(spec.list_id)],
        "new_subscription_status": "confirmed",
        "mapping": {"name_field": "name"},
        "advanced": {"batch_size": spec.batch_size, "concurrency": spec.concurrency, "bulk_import": spec.bulk_import,
                     "lookup_keys_per_call": spec.lookup_keys, "snapshot_lookup": spec.snapshot_lookup},
    }


def connector_lines(spec: CaseSpec) -> Iterator[bytes]:
    """The destination's stdin as a source writes it: a RECORD line per contact, with a STATE every `state_every`
    records and one at the end."""
    import orjson

    def state(marker: int) -> bytes:
        return orjson.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": STREAM}, "stream_state": {"marker": marker}}}})

    count = 0
    for count, data in enumerate(contacts(spec.n, spec.domain, CASES_BY_NAME[spec.case]), start=1):
        yield orjson.dumps({"type": "RECORD", "record": {"stream": STREAM, "data": data, "emitted_at": 0}})
        if count % spec.state_every == 0:
            yield state(count)
    yield state(count)


def connector_catalog() -> Any:
    from airbyte_cdk.models import (
        AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode,
    )

    stream = AirbyteStream(name=STREAM, json_schema={"type": "object"}, supported_sync_modes=[SyncMode.full_refresh])
    configured = ConfiguredAirbyteStream(
        stream=stream, sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.append_dedup
    )
    return ConfiguredAirbyteCatalog(streams=[configured])


def connector_input(spec: CaseSpec) -> str:
    """Writes the case's stdin to a file, before the clock starts: producing it is the source's work, in another
    process."""
    handle, path = tempfile.mkstemp(prefix=f"bench-{spec.case}-", suffix=".jsonl")
    with os.fdopen(handle, "wb") as out:
        for line in connector_lines(spec):
            out.write(line)
            out.write(b"\n")
    return path


def _run_connector(spec: CaseSpec, input_path: str) -> tuple[int, str, dict[str, Any]]:
    from airbyte_cdk.models import Type

    from destination_listmonk.destination import DestinationListmonk
    from destination_listmonk.reader_process import InputFile

    summary: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    states = 0
    # Read the input file as the console script reads stdin, and consume the output as the platform would: one
    # message at a time, keeping only the summary and timings.
    with open(input_path, "rb") as stdin:
        for message in DestinationListmonk().write(connector_config(spec), connector_catalog(), InputFile(stdin)):
            if message.type == Type.STATE:
                states += 1
            elif message.type == Type.LOG and message.log is not None:
                try:
                    event = json.loads(message.log.message)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "summary":
                    summary = event
                elif isinstance(event, dict) and event.get("event") == "timings":
                    timings = event
    keys = ("created", "updated", "unchanged", "rejected", "skipped_changes")
    outcome = " ".join(f"{k}={summary[k]}" for k in keys if summary.get(k))
    return spec.n, outcome or "no summary", {"summary": summary, "timings": timings, "states": states}


# Short names of the destination's `timings` phases, in the order the per-case line gives them.
TIMING_LABELS = {
    "plan": "plan", "lookup": "lookups", "export_wait": "export wait", "import_upload": "import upload",
    "import_wait": "import wait", "profile_calls": "PATCH/PUT", "other_writes": "other writes",
}


def timing_line(timings: dict[str, Any]) -> str:
    """One line of where a connector case's wall time went, from the destination's `timings` event."""
    seconds, calls = timings.get("seconds", {}), timings.get("calls", {})
    parts = [f"read+map {timings.get('read_and_map_seconds', 0):.2f}s"]
    for phase, label in TIMING_LABELS.items():
        if seconds.get(phase):
            count = f" ({calls[phase]:,})" if calls.get(phase) else ""
            parts.append(f"{label} {seconds[phase]:.2f}s{count}")
    held = timings.get("states_held", 0)
    if held:
        parts.append(f"{held} STATEs held {timings.get('state_hold_seconds', 0):.2f}s "
                     f"(max {timings.get('state_hold_max_seconds', 0):.2f}s)")
    return ", ".join(parts)


# -- system 2: listmonk's own CSV import ---------------------------------------------------------------


def csv_text(spec: CaseSpec) -> str:
    # start_import takes the file as one string (a retried upload must resend it whole), so the CSV is built in
    # memory, before the clock starts: producing it (an export from the CRM) is not the importer's work, as the
    # connector's input is not its work either. Its memory counts in the peak RSS.
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "attributes"])
    for record in contacts(spec.n, spec.domain, CASES_BY_NAME[spec.case]):
        writer.writerow([record["email"], record["name"], json.dumps(attribs_of(record))])
    return out.getvalue()


def import_params(spec: CaseSpec, split_overwrite: bool) -> dict[str, Any]:
    resync = CASES_BY_NAME[spec.case].resync
    params: dict[str, Any] = {
        "mode": "subscribe", "delim": ",", "lists": [spec.list_id], "subscription_status": "confirmed",
    }
    if split_overwrite:
        # v6: update profiles on re-sync but leave subscription statuses (consent) alone.
        params.update(overwrite=False, overwrite_userinfo=resync, overwrite_subscription_status=False)
    else:
        # v5 has only the global switch, which also rewrites subscription statuses.
        params["overwrite"] = resync
    return params


def _run_csv_import(spec: CaseSpec, text: str) -> tuple[int, str, dict[str, Any]]:
    from listmonk_client.client import ListmonkClient

    with ListmonkClient(spec.url, spec.user, spec.token) as client:
        split = client.server_info().supports_split_overwrite
        params = import_params(spec, split)
        client.start_import(params, text, file_name=f"bench-{spec.case}.csv")
        status = client.wait_for_import(poll_interval=0.2)
    outcome = f"{status.status}: imported={status.imported}/{status.total}"
    return spec.n, outcome, {"import_params": params, "status": status.status}


# -- system 3: a naive per-record connector ------------------------------------------------------------


def _naive_upsert(client: Any, record: dict[str, Any], spec: CaseSpec, supports_patch: bool) -> str:
    """What existing integrations do: POST; if the email exists (409), find its id and PATCH (PUT before
    v6.1) the whole profile, whether or not anything changed."""
    from listmonk_client.errors import Conflict
    from listmonk_client.sql import email_in

    attribs = attribs_of(record)
    try:
        client.create_subscriber(
            email=record["email"], name=record["name"], lists=[spec.list_id], attribs=attribs, preconfirm=True
        )
        return "created"
    except Conflict:
        pass
    (existing,) = client.find_subscribers(email_in([record["email"]]))
    if supports_patch:
        client.patch_subscriber(existing.id, {"name": record["name"], "attribs": attribs})
    else:
        body = {"email": record["email"], "name": record["name"], "status": existing.status,
                "lists": [s.id for s in existing.lists], "attribs": attribs}
        client.put_subscriber(existing.id, body)
    return "updated"


def _chunked(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_naive(spec: CaseSpec, _: None) -> tuple[int, str, dict[str, Any]]:
    from listmonk_client.client import ListmonkClient

    counts = {"created": 0, "updated": 0}
    with ListmonkClient(spec.url, spec.user, spec.token, pool_size=max(16, spec.naive_concurrency * 2)) as client:
        supports_patch = client.server_info().supports_patch
        with ThreadPoolExecutor(max_workers=spec.naive_concurrency) as pool:
            # Chunks keep the executor's queue (and so memory) bounded, as a streaming connector would.
            for chunk in _chunked(contacts(spec.n, spec.domain, CASES_BY_NAME[spec.case]), 1000):
                for result in pool.map(lambda r: _naive_upsert(client, r, spec, supports_patch), chunk):
                    counts[result] += 1
    outcome = " ".join(f"{k}={v}" for k, v in counts.items() if v)
    return spec.n, outcome, {"counts": counts, "update_call": "PATCH" if supports_patch else "PUT"}


def _nothing(spec: CaseSpec) -> None:
    return None


# Per system: what makes a case's input (before the clock), and what runs it.
INPUTS: dict[str, Callable[[CaseSpec], Any]] = {
    "connector": connector_input,
    "connector-posts": connector_input,
    "connector+snapshot": connector_input,
    "connector-lookups": connector_input,
    "csv_import": csv_text,
    "naive": _nothing,
}
RUNNERS: dict[str, Body] = {
    "connector": _run_connector,
    "connector-posts": _run_connector,
    "connector+snapshot": _run_connector,
    "connector-lookups": _run_connector,
    "csv_import": _run_csv_import,
    "naive": _run_naive,
}


def preload() -> None:
    """Imports every system needs, done before the clock and the RSS baseline start: a case should measure
    the work, not the interpreter loading airbyte_cdk and pydantic models."""
    import airbyte_cdk.models  # noqa: F401
    import destination_listmonk.destination  # noqa: F401
    import listmonk_client.client  # noqa: F401
    from destination_listmonk.run import tune_gc

    tune_gc()  # as the console script does before a sync


def child_main(spec: CaseSpec, conn: Any) -> None:
    """Entry point of the spawned child: run one case, send back the result (or the traceback)."""
    try:
        preload()
        given = INPUTS[spec.system](spec)
        try:
            result = measured(spec, RUNNERS[spec.system], given)
        finally:
            if isinstance(given, str) and os.path.isfile(given):
                os.remove(given)
        conn.send(("ok", asdict(result)))
    except BaseException:  # the parent must hear about any failure rather than wait on a dead pipe
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_isolated(spec: CaseSpec) -> CaseResult:
    """Runs one case in a fresh spawned interpreter, so its peak RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child_main, args=(spec, child), name=f"bench-{spec.system}-{spec.case}")
    process.start()
    child.close()
    try:
        kind, payload = parent.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"{spec.system}/{spec.case} child died with exit code {process.exitcode}") from None
    process.join()
    if kind != "ok":
        raise RuntimeError(f"{spec.system}/{spec.case} failed in the child:\n{payload}")
    return CaseResult(**payload)


# -- the machine ----------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": usable,
        "cpu_model": cpu_model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
