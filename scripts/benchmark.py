#!/usr/bin/env python3
"""Benchmark the listmonk destination against listmonk's own CSV import and a naive per-record connector.

For each size N it runs, per system, an initial load of N new contacts and three re-syncs of the same contacts
(no changes, 1% changed, 10% changed), each in a fresh child process, and prints a Markdown table of wall time,
records/s, HTTP requests and writes issued, and the peak RSS of the process doing the work.

    python scripts/benchmark.py                                   # N=10,000 against a local emulator
    python scripts/benchmark.py --sizes 10000,100000 --json out.json
    python scripts/benchmark.py --sizes 100000 --systems connector --cases initial,nochange
    python scripts/benchmark.py --sizes 100000 --systems connector --repeat 3   # medians of 3 fresh runs
    python scripts/benchmark.py --url https://lists.example.com --user api --token ...   # a real listmonk
    python scripts/benchmark.py --url http://localhost:9000 --user api --token ... --reset-cmd ./fresh-listmonk.sh
    python scripts/benchmark.py --emulator-lookup --systems none  # only the 1M-subscriber lookup timing

Systems: `connector` (this project's destination, in-process in the child), `csv_import` (POST
/api/import/subscribers with the same contacts; `overwrite_userinfo` on re-syncs, v5: `overwrite`), `naive`
(POST per record; on 409 a lookup and a PATCH/PUT of the whole profile, no diffing; capped at --naive-max
records and extrapolated to N), `connector-posts` (the connector with advanced.bulk_import off: one POST per
new subscriber, via --posts), `connector+snapshot` (advanced.snapshot_lookup `always`, via --snapshot) and
`connector-lookups` (advanced.snapshot_lookup `never`: every record looked up, via --lookups). The plain
`connector` runs the defaults (snapshot `auto`).

On the local server every scenario (one system, one N) starts from a fresh install holding only its own contacts
(plus --others seeded subscribers); a real listmonk keeps whatever it holds, unless --reset-cmd gives it a fresh
install before each scenario (the command must leave the same URL, user and token working).

For the connector, each case also reports where its wall time went (the destination's `timings` audit event):
planning, lookups, waiting for the export, import upload and completion, PATCH/PUT calls, other writes, the rest
(reading and mapping the input), and how long STATEs were held for a running import.

Request counts come from the local server's /api counter (delta around each case), or against a remote
listmonk from a counter wrapped around requests.Session.send in the child.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

# The child processes import bench_support by name; spawn hands them this sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402
    CASES, CASES_BY_NAME, CaseResult, CaseSpec, machine_info, run_isolated, timing_line,
)

SYSTEMS = ("connector", "csv_import", "naive")
SNAPSHOT_MODES = {"connector+snapshot": "always", "connector-lookups": "never"}
MIB = 1024
RESET_READY_SECONDS = 300


# -- command line -----------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def _name_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip() and part.strip() != "none"]
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(choices)}")
        return names
    return parse


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_int_list, default=[10_000], help="comma-separated N (default 10000)")
    parser.add_argument("--systems", type=_name_list(SYSTEMS), default=list(SYSTEMS),
                        help=f"comma-separated subset of {','.join(SYSTEMS)}, or 'none'")
    parser.add_argument("--cases", type=_name_list(tuple(CASES_BY_NAME)), default=list(CASES_BY_NAME),
                        help="comma-separated subset of initial,nochange,change1,change10 (initial always runs: "
                             "it loads the data the re-syncs compare against)")
    parser.add_argument("--posts", action="store_true",
                        help="also run the connector with advanced.bulk_import=false, as system 'connector-posts'")
    parser.add_argument("--naive-max", type=int, default=1000,
                        help="records the naive connector really sends per case; figures are extrapolated to N")
    parser.add_argument("--naive-concurrency", type=int, default=4, help="parallel calls of the naive connector")
    parser.add_argument("--batch-size", type=int, default=10000, help="connector advanced.batch_size (<=20000)")
    parser.add_argument("--concurrency", type=int, default=4, help="connector advanced.concurrency")
    parser.add_argument("--snapshot", action="store_true",
                        help="also run the connector with advanced.snapshot_lookup=always, as system 'connector+snapshot'")
    parser.add_argument("--lookups", action="store_true",
                        help="also run the connector with advanced.snapshot_lookup=never, as system 'connector-lookups'")
    parser.add_argument("--lookup-keys", type=int, default=150, help="connector advanced.lookup_keys_per_call")
    parser.add_argument("--others", type=int, default=0,
                        help="local server: subscribers listmonk holds besides the scenario's contacts")
    parser.add_argument("--state-every", type=int, default=10_000, help="records between STATE messages")
    parser.add_argument("--url", default=os.environ.get("LISTMONK_URL"), help="a listmonk to use instead of the local server")
    parser.add_argument("--user", default=os.environ.get("LISTMONK_USER"))
    parser.add_argument("--token", default=os.environ.get("LISTMONK_TOKEN"))
    parser.add_argument("--reset-cmd", help="with --url: a shell command run before each scenario that leaves a "
                                            "fresh listmonk at the same URL, user and token")
    parser.add_argument("--emulator-lookup", action="store_true",
                        help="seed 1,000,000 subscribers in the local server and time a 1,000-email lookup")
    parser.add_argument("--lookup-seed", type=int, default=1_000_000, help="subscribers seeded for --emulator-lookup")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every scenario this many times, each on a fresh install, and report each case's "
                             "median run (the range beside it); runs on this kind of machine vary by up to 30%%")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args(argv)
    if args.url and not (args.user and args.token):
        parser.error("--url needs --user and --token (or LISTMONK_USER / LISTMONK_TOKEN)")
    if args.reset_cmd and not args.url:
        parser.error("--reset-cmd needs --url (the local server resets itself)")
    if args.url and args.others:
        parser.error("--others needs the local server (a real listmonk holds what it holds)")
    if args.url and args.emulator_lookup:
        parser.error("--emulator-lookup needs the local server (drop --url / LISTMONK_URL)")
    if args.systems and "initial" not in args.cases:
        args.cases = ["initial", *args.cases]
    if args.posts:
        args.systems.append("connector-posts")
    if args.snapshot:
        args.systems.append("connector+snapshot")
    if args.lookups:
        args.systems.append("connector-lookups")
    return args


# -- the target: local server or a given listmonk ------------------------------------------------------


class Target:
    """Where the cases run, plus the server-side request counter when there is one (the local server)."""

    def __init__(self, url: str, user: str, token: str, emulator: Any = None, reset_cmd: Optional[str] = None) -> None:
        self.url, self.user, self.token, self.emulator = url, user, token, emulator
        self.reset_cmd = reset_cmd

    def client(self) -> Any:
        from listmonk_client.client import ListmonkClient

        return ListmonkClient(self.url, self.user, self.token)

    def reset_counter(self) -> None:
        if self.emulator is not None:
            self.emulator.reset_stats()

    def read_counter(self) -> Optional[dict[str, Any]]:
        return self.emulator.stats() if self.emulator is not None else None


@contextmanager
def open_target(args: argparse.Namespace) -> Iterator[Target]:
    if args.url:
        yield Target(args.url.rstrip("/"), args.user, args.token, reset_cmd=args.reset_cmd)
        return
    from listmonk_emulator import EmulatorServer

    with EmulatorServer() as server:
        yield Target(server.url, server.api_user, server.token, emulator=server)


# -- running one scenario (one system, one N) ----------------------------------------------------------


def fresh_list_and_domain(target: Target, system: str, n: int) -> tuple[int, str]:
    """A list and an email domain nobody else uses, so systems and runs never see each other's subscribers."""
    tag = uuid.uuid4().hex[:8]
    with target.client() as client:
        created = client.create_list(f"bench-{system}-{n}-{tag}")
    return created.id, f"b{tag}.bench.example.com"


def records_sent(system: str, n: int, naive_max: int) -> int:
    # The naive connector costs one or more calls per record; capped so a default run stays short.
    return min(n, naive_max) if system == "naive" else n


def row_for(system: str, case: str, n: int, result: CaseResult, server: Optional[dict[str, Any]]) -> dict[str, Any]:
    """One table row, extrapolated linearly to N when fewer records were really sent."""
    scale = n / result.records if result.records else 1.0
    requests = server["total"] if server else result.client_requests
    writes = server["writes"] if server else result.client_writes
    return {
        "n": n, "system": system, "case": case,
        "records_sent": result.records, "extrapolated": result.records < n,
        "wall_s": result.wall_s * scale,
        "cpu_s": result.cpu_s * scale,
        "machine_cpu_s": None if result.machine_cpu_s is None else result.machine_cpu_s * scale,
        "records_per_s": result.records / result.wall_s if result.wall_s else 0.0,
        "requests": round(requests * scale), "writes": round(writes * scale),
        "count_source": "server" if server else "client",
        "peak_rss_mib": result.peak_rss_kib / MIB,
        "child_peak_rss_mib": result.child_peak_rss_kib / MIB,
        "rss_growth_mib": (result.peak_rss_kib - result.rss_start_kib) / MIB,
        "outcome": result.outcome,
        "measured": asdict(result),
        "server_by_route": (server or {}).get("by_route", {}),
        "timings": result.details.get("timings", {}),
    }


def reset_listmonk(target: Target) -> None:
    """Runs --reset-cmd, then waits until the fresh listmonk answers with the same credentials."""
    assert target.reset_cmd is not None
    subprocess.run(target.reset_cmd, shell=True, check=True)
    deadline = time.monotonic() + RESET_READY_SECONDS
    while True:
        try:
            with target.client() as client:
                client.server_info()
            return
        except Exception:  # not up yet (connection refused, 5xx, auth not set up yet)
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def run_scenario(target: Target, args: argparse.Namespace, system: str, n: int) -> list[dict[str, Any]]:
    if target.reset_cmd:
        reset_listmonk(target)
    if target.emulator is not None:
        # Every scenario on a fresh install, so listmonk holds the scenario's contacts and --others only: the
        # export snapshot's cost depends on how many subscribers listmonk holds.
        target.emulator.reset()
        if args.others:
            target.emulator.seed(args.others, email_prefix="other", domain="others.bench.example.com")
    list_id, domain = fresh_list_and_domain(target, system, n)
    sent = records_sent(system, n, args.naive_max)
    rows = []
    for case in (c for c in CASES if c.name in args.cases):
        spec = CaseSpec(
            system=system, case=case.name, n=sent, url=target.url, user=target.user, token=target.token,
            list_id=list_id, domain=domain, batch_size=args.batch_size, concurrency=args.concurrency, lookup_keys=args.lookup_keys,
            bulk_import=system != "connector-posts", snapshot_lookup=SNAPSHOT_MODES.get(system, "auto"),
            state_every=args.state_every,
            naive_concurrency=args.naive_concurrency,
        )
        target.reset_counter()
        result = run_isolated(spec)
        row = row_for(system, case.name, n, result, target.read_counter())
        rows.append(row)
        child_rss = f", largest child process {row['child_peak_rss_mib']:.0f} MiB" if row["child_peak_rss_mib"] else ""
        machine = "" if row["machine_cpu_s"] is None or not row["wall_s"] else (
            f" (machine {row['machine_cpu_s']:.1f}s, {row['machine_cpu_s'] / row['wall_s']:.2f} cores busy)")
        print(f"  {system:<15} {case.name:<9} N={n:<8,} {row['wall_s']:8.1f}s  {row['requests']:>9,} req  "
              f"cpu {row['cpu_s']:.1f}s{machine}  rss {row['peak_rss_mib']:.0f} MiB{child_rss}  {row['outcome']}",
              file=sys.stderr, flush=True)
        if row["timings"]:
            print(f"  {'':<15} {'':<9} {timing_line(row['timings'])}", file=sys.stderr, flush=True)
    return rows


# -- the emulator lookup timing ------------------------------------------------------------------------


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def emulator_lookup(target: Target, seed_count: int, keys: int = 1000, repeat: int = 3) -> dict[str, Any]:
    """Seeds `seed_count` subscribers, then times one `email IN (...)` lookup of `keys` of them, three ways."""
    from listmonk_client.sql import SqlExpr, email_in, quote_literal

    domain = f"seed{uuid.uuid4().hex[:8]}.bench.example.com"
    started = time.perf_counter()
    target.emulator.seed(seed_count, email_prefix="s", domain=domain)
    seed_s = time.perf_counter() - started
    emails = [f"s{i}@{domain}" for i in random.Random(42).sample(range(1, seed_count + 1), keys)]
    plain = SqlExpr(f"subscribers.email IN ({', '.join(quote_literal(e) for e in emails)})")
    chunks = [emails[i:i + 250] for i in range(0, keys, 250)]
    variants: dict[str, Callable[[Any], int]] = {
        # The query the issue names: the column as stored, which listmonk's LOWER(email) index cannot serve.
        f"subscribers.email IN ({keys})": lambda c: len(c.find_subscribers(plain)),
        # What the connector sends: matches the unique index on LOWER(email).
        f"LOWER(subscribers.email) IN ({keys})": lambda c: len(c.find_subscribers(email_in(emails))),
        f"LOWER(...) IN (250) x {len(chunks)} (connector's chunking)":
            lambda c: sum(len(c.find_subscribers(email_in(chunk))) for chunk in chunks),
    }
    results = []
    with target.client() as client:
        for label, call in variants.items():
            call(client)  # warm-up: connection pool and PostgreSQL caches
            seconds, found = timed(lambda: call(client), repeat)
            results.append({"query": label, "median_s": seconds, "found": found})
    return {"seeded": seed_count, "seed_s": seed_s, "keys": keys, "repeat": repeat, "results": results}


# -- the report ---------------------------------------------------------------------------------------------


def machine_lines(machine: dict[str, Any], server_version: str, target: Target) -> list[str]:
    where = "local listmonk-compatible server (emulator)" if target.emulator is not None else target.url
    return [
        f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['ram_gib']} GiB RAM, "
        f"Python {machine['python']}, {machine['platform']}",
        f"- listmonk: {server_version} at {where}",
    ]


def _fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def median_rows(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per case, the run with the median wall time (the lower middle one of an even count), so that every figure in
    its row comes from one run; the walls of all runs beside it, and each re-sync's ratio to the initial load."""
    medians = []
    for same_case in zip(*runs):
        ordered = sorted(same_case, key=lambda row: row["wall_s"])
        row = dict(ordered[(len(ordered) - 1) // 2])
        row["runs_wall_s"] = [r["wall_s"] for r in same_case]
        medians.append(row)
    initial = {(row["n"], row["system"]): row["wall_s"] for row in medians if row["case"] == "initial"}
    for row in medians:
        base = initial.get((row["n"], row["system"]))
        row["x_initial"] = row["wall_s"] / base if base and row["case"] != "initial" else None
    return medians


def _wall_cell(row: dict[str, Any]) -> str:
    est = "~" if row["extrapolated"] else ""
    walls = row.get("runs_wall_s", [])
    spread = f" ({min(walls):.1f}-{max(walls):.1f})" if len(walls) > 1 else ""
    return f"{est}{row['wall_s']:.1f}{spread}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    labels = {c.name: c.label for c in CASES}
    lines = [
        "| N | system | case | wall s | x initial | records/s | HTTP requests | writes | req/record | client CPU s | "
        "peak RSS MiB | RSS growth MiB | result |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        est = "~" if row["extrapolated"] else ""
        per_record = row["requests"] / row["n"] if row["n"] else 0
        outcome = row["outcome"]
        if row["extrapolated"]:
            outcome += f" (extrapolated from {row['records_sent']:,} records)"
        lines.append(
            f"| {row['n']:,} | {row['system']} | {labels[row['case']]} | {_wall_cell(row)} | "
            f"{'' if row.get('x_initial') is None else format(row['x_initial'], '.3f')} | "
            f"{_fmt_int(row['records_per_s'])} | {est}{_fmt_int(row['requests'])} | {est}{_fmt_int(row['writes'])} | "
            f"{per_record:.2f} | {est}{row['cpu_s']:.1f} | {row['peak_rss_mib']:.0f} | {row['rss_growth_mib']:.1f} | {outcome} |"
        )
    return lines


def timing_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Where each connector case's wall time went, one line per case."""
    labels = {c.name: c.label for c in CASES}
    lines = [f"- {row['n']:,} {row['system']}, {labels[row['case']]} ({row['wall_s']:.1f}s): {timing_line(row['timings'])}"
             for row in rows if row["timings"]]
    return ["", "Where the connector's wall time went (the destination's `timings` event):", "", *lines] if lines else []


def lookup_lines(lookup: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Lookup on the local server with {lookup['seeded']:,} seeded subscribers (seeding took "
        f"{lookup['seed_s']:.1f}s), GET /api/subscribers?per_page=all&query=..., median of {lookup['repeat']}:",
        "",
        "| query | median s | found |",
        "|---|---:|---:|",
    ]
    for result in lookup["results"]:
        lines.append(f"| `{result['query']}` | {result['median_s']:.3f} | {result['found']:,} |")
    return lines


def legend(args: argparse.Namespace, source: str) -> list[str]:
    return [
        "",
        f"HTTP requests / writes: every /api call (writes = non-GET), counted by the {source}. "
        "Peak RSS: ru_maxrss of the child process that ran the case (growth: over its RSS after imports); the "
        "largest of the destination's child processes forked from it (the export's, the input reader's) is reported "
        "beside it in the per-case lines and the JSON (child_peak_rss_mib; pages they still share count in both). "
        "Wall time excludes the child's interpreter start and imports, and making the case's input (the "
        "connector's stdin lines, written to a file; the CSV): that is the upstream's work; client CPU s is the "
        "user+system CPU of the child and of its own children (export, input reader) over the same span (well "
        "under wall time: the client mostly waits on the server); the per-case lines and the JSON (machine_cpu_s) "
        "add the CPU time of the whole machine over the case, every process's, and the cores it kept busy on "
        "average: with a local listmonk, near the machine's core count means client and server were short of "
        "cores. x initial: a re-sync's wall time over the "
        "initial load's."
        + (f" wall s: the median of {args.repeat} runs, each on a fresh install, with the range of all of them; "
           "every other figure of the row comes from that median run." if args.repeat > 1 else ""),
        f"connector: batch_size={args.batch_size}, concurrency={args.concurrency}, "
        f"lookup_keys_per_call={args.lookup_keys}, STATE every {args.state_every:,} records, its input read from "
        "the file and parsed line by line as the console script reads stdin. "
        "csv_import: one POST /api/import/subscribers, then polling its status every 0.2s (the polls are counted). "
        f"naive: POST per record; on 409, GET by email then PATCH (PUT before v6.1), no diffing; "
        f"concurrency={args.naive_concurrency}; ~ marks figures extrapolated linearly from --naive-max={args.naive_max:,}.",
    ]


# -- main -----------------------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    lookup: Optional[dict[str, Any]] = None
    with open_target(args) as target:
        with target.client() as client:
            version = client.server_info().version
        print("\n".join(machine_lines(machine, version, target)), file=sys.stderr, flush=True)
        for n in args.sizes:
            for system in args.systems:
                runs = [run_scenario(target, args, system, n) for _ in range(max(1, args.repeat))]
                rows.extend(median_rows(runs))
        if args.emulator_lookup:
            print(f"  seeding {args.lookup_seed:,} subscribers for the lookup timing...", file=sys.stderr, flush=True)
            lookup = emulator_lookup(target, args.lookup_seed)
        total_s = time.perf_counter() - started
        source = "local server's /api counter" if target.emulator is not None else "child's requests.Session counter"
        report = ["", *machine_lines(machine, version, target), ""]
        if rows:
            report += table(rows) + timing_lines(rows) + legend(args, source)
        if lookup:
            report += lookup_lines(lookup)
        report += ["", f"Benchmark run took {total_s:.0f}s in total."]
        print("\n".join(report), flush=True)
        if args.json:
            payload = {"machine": machine, "listmonk_version": version, "target": target.url,
                       "local": target.emulator is not None, "args": {k: str(v) for k, v in vars(args).items() if k != "token"},
                       "rows": rows, "lookup": lookup, "total_s": total_s}
            args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
